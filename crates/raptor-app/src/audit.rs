//! Reading the audit log (writing happens inside each use case's own transaction): a listing
//! filtered by actor, action, subject and time, and an export in chain order.

use chrono::{DateTime, Utc};
use raptor_domain::InvalidInput;
use raptor_store::audit::{self, AuditEntry, AuditFilter, Order};
use raptor_store::StoreError;

use crate::{times, App};

/// Most entries one listing returns.
const MAX_ENTRIES: i64 = 1000;
/// Entries a listing returns unless told.
const DEFAULT_ENTRIES: i64 = 100;
/// Entries one export page reads; an export is read page by page, never all at once.
pub const EXPORT_PAGE: i64 = 500;

/// Why the audit log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    /// The request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which entries to read, as a client wrote it; every part given must match.
#[derive(Debug, Clone, Default)]
pub struct AuditSearch {
    /// Who acted: a user id, or the email they had then.
    pub actor: Option<String>,
    /// What was done, exactly (`role.grant`).
    pub action: Option<String>,
    /// What it was done to: `TYPE` or `TYPE:ID` (`user:42`).
    pub subject: Option<String>,
    /// At or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only entries with an id below this one (the next page of a listing).
    pub before: Option<i64>,
    /// At most this many (1–1000; a listing's default is 100, an export's is all).
    pub limit: Option<i64>,
}

/// A name like `role.grant` or `user`: lowercase letters, digits, `_`, `.` and `-`.
fn is_name(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

impl AuditSearch {
    /// The store's filter, or the first part that is not acceptable.
    pub fn filter(&self) -> Result<AuditFilter, InvalidInput> {
        let mut filter = AuditFilter::default();
        if let Some(actor) = self.actor.as_deref().map(str::trim) {
            if !actor.is_empty() && actor.bytes().all(|b| b.is_ascii_digit()) {
                filter.actor_user_id =
                    Some(actor.parse().map_err(|_| {
                        InvalidInput::new("actor", "is not a user id that can exist")
                    })?);
            } else if actor.contains('@') && actor.len() <= 320 {
                filter.actor_email = Some(actor.to_owned());
            } else {
                return Err(InvalidInput::new(
                    "actor",
                    "must be a user id or an email address",
                ));
            }
        }
        if let Some(action) = &self.action {
            if !is_name(action) {
                return Err(InvalidInput::new(
                    "action",
                    "must be an action name like role.grant",
                ));
            }
            filter.action = Some(action.clone());
        }
        if let Some(subject) = &self.subject {
            let (kind, id) = match subject.split_once(':') {
                Some((kind, id)) => (kind, Some(id)),
                None => (subject.as_str(), None),
            };
            let id_ok = id.is_none_or(|id| !id.is_empty() && id.len() <= 200);
            if !is_name(kind) || !id_ok {
                return Err(InvalidInput::new(
                    "subject",
                    "must be a type or type:id, like user or user:42",
                ));
            }
            filter.target_type = Some(kind.to_owned());
            filter.target_id = id.map(str::to_owned);
        }
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if to <= from {
                return Err(InvalidInput::new("to", "must be after from"));
            }
        }
        filter.from = self.from.map(|t| times::storable("from", t)).transpose()?;
        filter.to = self.to.map(|t| times::storable("to", t)).transpose()?;
        if let Some(before) = self.before {
            if before < 1 {
                return Err(InvalidInput::new(
                    "before",
                    "must be an entry id (1 or more)",
                ));
            }
            filter.before_id = Some(before);
        }
        if let Some(limit) = self.limit {
            if !(1..=MAX_ENTRIES).contains(&limit) {
                return Err(InvalidInput::new("limit", "must be between 1 and 1000"));
            }
        }
        Ok(filter)
    }
}

/// The newest matching entries first, `search.limit` of them (100 unless told).
pub async fn list(app: &App, search: &AuditSearch) -> Result<Vec<AuditEntry>, AuditLogError> {
    let filter = search.filter()?;
    let limit = search.limit.unwrap_or(DEFAULT_ENTRIES);
    Ok(audit::search(&app.db, &filter, Order::NewestFirst, limit).await?)
}

/// One page of an export: up to `limit` (at most [`EXPORT_PAGE`]) matching entries after
/// entry `after_id`, oldest first, so that the pages read in turn give the chain in order.
pub async fn export_page(
    app: &App,
    filter: &AuditFilter,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let page = AuditFilter {
        after_id,
        ..filter.clone()
    };
    audit::search(
        &app.db,
        &page,
        Order::OldestFirst,
        limit.clamp(1, EXPORT_PAGE),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search() -> AuditSearch {
        AuditSearch::default()
    }

    #[test]
    fn actors_are_ids_or_emails_and_subjects_a_type_with_an_optional_id() {
        let filter = AuditSearch {
            actor: Some(" 42 ".into()),
            subject: Some("user:7".into()),
            ..search()
        }
        .filter()
        .expect("ok");
        assert_eq!(filter.actor_user_id, Some(42));
        assert_eq!(
            (filter.target_type.as_deref(), filter.target_id.as_deref()),
            (Some("user"), Some("7"))
        );
        let filter = AuditSearch {
            actor: Some("Ada@Example.com".into()),
            subject: Some("billing_alert".into()),
            ..search()
        }
        .filter()
        .expect("ok");
        assert_eq!(filter.actor_email.as_deref(), Some("Ada@Example.com"));
        assert_eq!(filter.target_id, None);
    }

    #[test]
    fn each_bad_part_is_named() {
        let now = Utc::now();
        for (bad, field) in [
            (
                AuditSearch {
                    actor: Some("ada".into()),
                    ..search()
                },
                "actor",
            ),
            (
                AuditSearch {
                    actor: Some("99999999999999999999".into()),
                    ..search()
                },
                "actor",
            ),
            (
                AuditSearch {
                    action: Some("DROP TABLE".into()),
                    ..search()
                },
                "action",
            ),
            (
                AuditSearch {
                    subject: Some("user:".into()),
                    ..search()
                },
                "subject",
            ),
            (
                AuditSearch {
                    subject: Some(":7".into()),
                    ..search()
                },
                "subject",
            ),
            (
                AuditSearch {
                    from: Some(now),
                    to: Some(now),
                    ..search()
                },
                "to",
            ),
            (
                AuditSearch {
                    before: Some(0),
                    ..search()
                },
                "before",
            ),
            (
                AuditSearch {
                    limit: Some(1001),
                    ..search()
                },
                "limit",
            ),
        ] {
            assert_eq!(bad.filter().expect_err(field).field, field);
        }
    }
}
