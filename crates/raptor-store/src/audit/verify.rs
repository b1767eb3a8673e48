//! Checking the audit log's hash chain from its first row to its last.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::Row;

use super::chain::{ChainRow, GENESIS};
use crate::engine::Db;
use crate::error::StoreError;

/// What a walk along the chain found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// Rows read, the bad one included.
    pub rows: i64,
    /// Rows written before the chain began (revision `0006_audit_chain`), which no hash covers.
    pub unchained: i64,
    /// Rows whose links and hashes checked out.
    pub chained: i64,
    /// The id of the chain's first row, once one exists.
    pub first_chained_id: Option<i64>,
    /// The last row that checked out and its hash: note them elsewhere to detect later
    /// rewrites of everything after an older head.
    pub head: Option<(i64, String)>,
    /// The first row that does not fit, when one does not.
    pub broken: Option<Break>,
}

impl Verification {
    /// Whether every row fits the chain.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// The first row that does not fit the chain, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The row's id.
    pub id: i64,
    /// What is wrong with it, in words an operator can act on.
    pub reason: String,
}

const SELECT: &str = "SELECT id, created_at, actor_user_id, actor_email, actor_type, action, \
    target_type, target_id, target, outcome, ip, user_agent, request_id, session_id, \
    CAST(details AS TEXT) AS details, prev_hash, row_hash FROM audit_log ORDER BY id";

/// One stored row as read back, or why it could not be read.
struct Stored {
    id: i64,
    row: Result<ChainRow, String>,
    prev_hash: Option<String>,
    row_hash: Option<String>,
}

/// Decodes one row; a value no writer could have stored (bad JSON, a bad timestamp) is a
/// reason, not an error, since the row itself is then the evidence.
fn decode<R>(raw: &R) -> Result<Stored, sqlx::Error>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: i64 = raw.try_get("id")?;
    let row = (|| -> Result<ChainRow, sqlx::Error> {
        let details: Option<String> = raw.try_get("details")?;
        let details = details
            .map(|text| serde_json::from_str::<Value>(&text))
            .transpose()
            .map_err(|err| sqlx::Error::Decode(Box::new(err)))?;
        Ok(ChainRow {
            id,
            created_at: raw.try_get("created_at")?,
            actor_user_id: raw.try_get("actor_user_id")?,
            actor_email: raw.try_get("actor_email")?,
            actor_type: raw.try_get("actor_type")?,
            action: raw.try_get("action")?,
            target_type: raw.try_get("target_type")?,
            target_id: raw.try_get("target_id")?,
            target: raw.try_get("target")?,
            outcome: raw.try_get("outcome")?,
            ip: raw.try_get("ip")?,
            user_agent: raw.try_get("user_agent")?,
            request_id: raw.try_get("request_id")?,
            session_id: raw.try_get("session_id")?,
            details,
        })
    })()
    .map_err(|err| format!("its values cannot be read ({err}): it was not written by Raptor"));
    Ok(Stored {
        id,
        row,
        prev_hash: raw.try_get("prev_hash")?,
        row_hash: raw.try_get("row_hash")?,
    })
}

/// Walks the chain in id order. Before the first chained row, rows without hashes are the
/// unchained prefix. From it on, each row must link to the hash of the row before it and its
/// own hash must match its contents; the first that does not is reported and the walk stops.
pub async fn verify(db: &Db) -> Result<Verification, StoreError> {
    let mut walk = Walk::default();
    on_pool!(db, pool => {
        let mut rows = sqlx::query(SELECT).fetch(pool);
        while let Some(raw) = rows.try_next().await? {
            if !walk.step(decode(&raw)?) {
                break;
            }
        }
    });
    Ok(walk.result)
}

#[derive(Default)]
struct Walk {
    result: Verification,
    /// The id of the previous chained row and its hash, once the chain has begun.
    last: Option<(i64, String)>,
}

impl Walk {
    /// Takes the next row; false when it broke the chain.
    fn step(&mut self, stored: Stored) -> bool {
        self.result.rows += 1;
        match self.check(stored) {
            Ok(()) => true,
            Err(broken) => {
                self.result.broken = Some(broken);
                false
            }
        }
    }

    fn check(&mut self, stored: Stored) -> Result<(), Break> {
        let id = stored.id;
        let fail = |reason: String| Break { id, reason };
        let Some(row_hash) = stored.row_hash else {
            return match &self.last {
                None if stored.prev_hash.is_none() => {
                    self.result.unchained += 1;
                    Ok(())
                }
                None => Err(fail("it has a prev_hash but no row_hash".into())),
                Some((last_id, _)) => Err(fail(format!(
                    "it has no hash but follows chained row {last_id}: it was inserted \
                     outside Raptor's audit writer"
                ))),
            };
        };
        let expected_prev = self
            .last
            .as_ref()
            .map_or(GENESIS, |(_, hash)| hash.as_str());
        match (&stored.prev_hash, &self.last) {
            (Some(prev), _) if prev == expected_prev => {}
            (_, None) => {
                return Err(fail(
                    "it starts the chain but its prev_hash is not the genesis value: rows \
                     before it were deleted, or it was forged"
                        .into(),
                ))
            }
            (_, Some((last_id, _))) => {
                let gap = if id - last_id > 1 {
                    format!(" (ids {} to {} are missing)", last_id + 1, id - 1)
                } else {
                    String::new()
                };
                return Err(fail(format!(
                    "its prev_hash does not match the hash of row {last_id}, the row before it{gap}: \
                     a row between them was deleted, or this row or row {last_id} was forged or \
                     rewritten"
                )));
            }
        }
        let row = stored.row.map_err(&fail)?;
        if row.hash(expected_prev) != row_hash {
            return Err(fail(
                "its row_hash does not match its contents: the row was edited after it was \
                 written, or forged"
                    .into(),
            ));
        }
        if self.last.is_none() {
            self.result.first_chained_id = Some(id);
        }
        self.result.chained += 1;
        self.result.head = Some((id, row_hash.clone()));
        self.last = Some((id, row_hash));
        Ok(())
    }
}
