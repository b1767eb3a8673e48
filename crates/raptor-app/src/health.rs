//! Whether this process can serve: the database answers, and at which schema revision.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use raptor_store::{migrate, StoreError};
use tokio::sync::watch;

use crate::App;

/// A check that cannot finish in this time reports the database as unreachable, so a
/// database that stops answering shows within a second.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// What a check found: the schema revision (None on an empty database), or why the database
/// cannot serve.
pub type Outcome = Result<Option<String>, Unhealthy>;

/// Why a check failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unhealthy {
    /// The database answered with an error.
    #[error("database query failed: {0}")]
    Failed(String),
    /// The database did not answer within [`CHECK_TIMEOUT`].
    #[error("database did not answer within {CHECK_TIMEOUT:?}")]
    TimedOut,
}

/// How long a finished check's answer stands for the requests that follow it: a load
/// balancer probing many times a second costs the database a few checks a second. With
/// [`CHECK_TIMEOUT`], a database that goes away still shows within a second.
pub const REUSE_FOR: Duration = Duration::from_millis(100);

const _: () = assert!(REUSE_FOR.as_millis() + CHECK_TIMEOUT.as_millis() < 1000);

/// Health checks shared by requests: those that arrive while a check runs wait for it, and
/// those that arrive within [`REUSE_FOR`] of its start (by the [`App`]'s clock) take its
/// answer, instead of each querying the database.
#[derive(Debug, Default)]
pub struct Checks {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The check under way, if any.
    running: Option<watch::Receiver<Option<Outcome>>>,
    /// The last check's answer, and when that check started.
    last: Option<(DateTime<Utc>, Outcome)>,
}

impl Checks {
    /// The outcome of a recent check, of the running one, or of a new one started now.
    pub async fn check(self: &Arc<Self>, app: &App, fixed_revision: Option<&str>) -> Outcome {
        let now = app.now();
        let mut receiver = {
            let mut state = self.lock();
            if let Some((started, outcome)) = &state.last {
                // A clock that went back (a negative age) does not stretch the answer's life.
                if (now - *started).to_std().is_ok_and(|age| age < REUSE_FOR) {
                    return outcome.clone();
                }
            }
            match &state.running {
                Some(receiver) => receiver.clone(),
                None => {
                    let (sender, receiver) = watch::channel(None);
                    state.running = Some(receiver.clone());
                    let (checks, app) = (Arc::clone(self), app.clone());
                    let fixed = fixed_revision.map(str::to_owned);
                    // Its own task: a client that hangs up does not abandon the others' check.
                    tokio::spawn(async move {
                        // However the task ends (a panic too), the next request checks anew.
                        let finished = Finished(&checks);
                        let outcome =
                            tokio::time::timeout(CHECK_TIMEOUT, probe(&app, fixed.as_deref()))
                                .await
                                .unwrap_or(Err(Unhealthy::TimedOut));
                        checks.lock().last = Some((now, outcome.clone()));
                        drop(finished);
                        sender.send_replace(Some(outcome));
                    });
                    receiver
                }
            }
        };
        let done = receiver
            .wait_for(Option::is_some)
            .await
            .map(|done| done.clone());
        match done {
            Ok(Some(outcome)) => outcome,
            _ => Err(Unhealthy::Failed(
                "the check stopped before answering".into(),
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Clears the running check when its task ends.
struct Finished<'a>(&'a Checks);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.lock().running = None;
    }
}

/// Reads the database's schema revision, one statement that proves it answers; pings it when
/// the revision is `fixed_revision` (the serving role may not read the history: role
/// separation checks it once at start).
async fn probe(app: &App, fixed_revision: Option<&str>) -> Outcome {
    let read = async {
        match fixed_revision {
            Some(revision) => {
                app.db.ping().await?;
                Ok(Some(revision.to_owned()))
            }
            None => {
                app.db.file_present().await?;
                migrate::current_revision(&app.db).await
            }
        }
    };
    read.await
        .map_err(|err: StoreError| Unhealthy::Failed(err.to_string()))
}
