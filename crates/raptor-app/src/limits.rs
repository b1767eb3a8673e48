//! Abuse limits: fixed windows counted in the database, so they hold across processes.

use chrono::{DateTime, Duration, Utc};
use raptor_store::{rate_limits, StoreError, Tx};

use crate::App;

/// How many attempts a window allows.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// What is limited, used in the key (`login`, `options`, …).
    pub name: &'static str,
    /// Attempts allowed per window.
    pub max: i64,
    /// Window length.
    pub window: Duration,
}

/// WebAuthn options (ceremony starts) per client address.
pub const OPTIONS_PER_IP: Limit = Limit {
    name: "options:ip",
    max: 60,
    window: Duration::minutes(1),
};
/// Sign-in attempts per client address.
pub const LOGIN_PER_IP: Limit = Limit {
    name: "login:ip",
    max: 30,
    window: Duration::minutes(5),
};
/// Step-up assertions per signed-in account. Only the account's own sessions can make them, so
/// no stranger can spend this allowance. Sign-in has no per-account limit at all: passkey
/// signatures cannot be guessed, and a per-account counter would let anyone lock the owner out.
pub const LOGIN_PER_ACCOUNT: Limit = Limit {
    name: "login:account",
    max: 10,
    window: Duration::minutes(5),
};
/// Backup-code attempts per (address, client address) pair, in tiers that lengthen the wait:
/// 5 per 15 minutes, then 10 per 3 hours, then 20 per day. A stranger's misses from elsewhere
/// spend only the stranger's own allowance, so the owner's client is never refused for them.
pub const BACKUP_CODE_PER_ACCOUNT_AND_CLIENT: [Limit; 3] = [
    Limit {
        name: "backup_code:account_client:15m",
        max: 5,
        window: Duration::minutes(15),
    },
    Limit {
        name: "backup_code:account_client:3h",
        max: 10,
        window: Duration::hours(3),
    },
    Limit {
        name: "backup_code:account_client:1d",
        max: 20,
        window: Duration::days(1),
    },
];
/// New sets of backup codes per account: each costs ten Argon2 hashes.
pub const BACKUP_CODE_REGENERATIONS_PER_ACCOUNT: Limit = Limit {
    name: "backup_code:regenerate",
    max: 5,
    window: Duration::hours(1),
};
/// Email-link requests per client address (requests for one address are not limited: the
/// worker coalesces their mail, see [`EMAIL_LINK_MAILS_PER_ADDRESS`]).
pub const EMAIL_LINK_PER_IP: Limit = Limit {
    name: "email_link:ip",
    max: 20,
    window: Duration::hours(1),
};
/// Sign-in link mails per address: at most one per 5 minutes, whoever asks; later requests in
/// the window send nothing new (the link already sent still has at least 10 of its 15 minutes).
pub const EMAIL_LINK_MAILS_PER_ADDRESS: Limit = Limit {
    name: "email_link:mail",
    max: 1,
    window: Duration::minutes(5),
};

/// Sign-up starts per client address. Sign-up says when an address already has an account
/// (someone signing up needs to hear "sign in instead"), so this bounds how fast one client can
/// ask which addresses have one.
pub const SIGN_UP_PER_IP: Limit = Limit {
    name: "sign_up:ip",
    max: 10,
    window: Duration::hours(1),
};
/// Verification mails a signed-in user may ask for, beyond the one sent at sign-up.
pub const VERIFICATION_MAILS_PER_ACCOUNT: Limit = Limit {
    name: "verify_email:account",
    max: 3,
    window: Duration::hours(1),
};

/// Support tickets a customer may open: each lands in the staff's queue.
pub const TICKETS_PER_ACCOUNT: Limit = Limit {
    name: "support:ticket",
    max: 10,
    window: Duration::hours(1),
};
/// Messages a customer may write on their own tickets.
pub const TICKET_MESSAGES_PER_ACCOUNT: Limit = Limit {
    name: "support:message",
    max: 60,
    window: Duration::hours(1),
};

/// Why an attempt was not allowed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Over the limit; try again after this many seconds.
    #[error("too many attempts; retry after {retry_after} s")]
    Exceeded {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let length = window.num_seconds().max(1);
    let start = now.timestamp().div_euclid(length) * length;
    DateTime::from_timestamp(start, 0).unwrap_or(now)
}

/// Whole seconds from `now` until `end`, rounded up (at least 1): a client that waits exactly
/// `Retry-After` arrives after the window has ended, never just before.
fn seconds_until(end: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = (end - now).num_milliseconds().max(1);
    millis.unsigned_abs().div_ceil(1000)
}

/// Counts one attempt against `limit` for `subject`; refused past the limit until the window
/// ends.
pub async fn check(app: &App, limit: Limit, subject: &str) -> Result<(), LimitError> {
    Attempt::new(app, limit, subject).count(app).await
}

/// One attempt against a limit, to be counted once: in the write transaction of what it
/// attempts ([`Attempt::count_in`]), so that a success costs no write of its own, or on its own
/// ([`Attempt::count`]) when that transaction did not commit.
#[derive(Debug)]
pub struct Attempt {
    limit: Limit,
    key: String,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
}

impl Attempt {
    /// An attempt by `subject`, now.
    pub fn new(app: &App, limit: Limit, subject: &str) -> Self {
        let now = app.now();
        Self {
            limit,
            key: format!("{}:{subject}", limit.name),
            now,
            window_start: window_start(now, limit.window),
        }
    }

    /// Counts it on its own; refused past the limit.
    pub async fn count(&self, app: &App) -> Result<(), LimitError> {
        self.judge(rate_limits::hit(&app.db, &self.key, self.window_start).await?)
    }

    /// Counts it in `tx`; refused past the limit. The count stands only if `tx` commits.
    pub async fn count_in(&self, tx: &mut Tx) -> Result<(), LimitError> {
        self.judge(rate_limits::hit_in(tx, &self.key, self.window_start).await?)
    }

    fn judge(&self, count: i64) -> Result<(), LimitError> {
        if count > self.limit.max {
            return Err(LimitError::Exceeded {
                retry_after: seconds_until(self.window_start + self.limit.window, self.now),
            });
        }
        Ok(())
    }
}

/// Counts one attempt against each of `limits` for `subject`, in order; refused by the first
/// one that is over.
pub async fn check_all(app: &App, limits: &[Limit], subject: &str) -> Result<(), LimitError> {
    for limit in limits {
        check(app, *limit, subject).await?;
    }
    Ok(())
}

/// One use of a limit's allowance, taken by [`claim`].
#[derive(Debug)]
pub struct Claim {
    key: String,
    window_start: DateTime<Utc>,
}

/// Takes one use of `limit` for `subject` if the window has one left (atomically, so
/// concurrent callers cannot both take the last); None when it is used up.
pub async fn claim(app: &App, limit: Limit, subject: &str) -> Result<Option<Claim>, StoreError> {
    let window_start = window_start(app.now(), limit.window);
    let key = format!("{}:{subject}", limit.name);
    let count = rate_limits::hit(&app.db, &key, window_start).await?;
    if count > limit.max {
        // Refused claims leave the count where they found it.
        rate_limits::unhit(&app.db, &key, window_start).await?;
        return Ok(None);
    }
    Ok(Some(Claim { key, window_start }))
}

/// Gives a claimed use back, when what it was taken for did not happen.
pub async fn release(app: &App, claim: Claim) -> Result<(), StoreError> {
    rate_limits::unhit(&app.db, &claim.key, claim.window_start).await
}

#[cfg(test)]
mod retry_after_tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_a_whole_second() {
        let end = DateTime::from_timestamp(1_000, 0).expect("time");
        let at = |millis| end - Duration::milliseconds(millis);
        assert_eq!(seconds_until(end, at(59_500)), 60);
        assert_eq!(seconds_until(end, at(1)), 1);
        assert_eq!(seconds_until(end, at(0)), 1);
        assert_eq!(seconds_until(end, at(2_000)), 2);
    }
}
