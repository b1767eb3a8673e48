//! Keys that belong to the instance rather than to a user, shared by every process through the
//! database and made on first use.

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;

/// The key named `name`: `candidate` is stored when there is none yet, and whichever key was
/// stored first is returned, so concurrent first uses agree. Once the key exists this is one
/// read.
pub async fn get_or_create(
    db: &Db,
    name: &str,
    candidate: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<u8>, StoreError> {
    Ok(on_write!(db, pool => {
        let stored: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT key_bytes FROM instance_keys WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?;
        match stored {
            Some(key) => key,
            None => {
                sqlx::query(
                    "INSERT INTO instance_keys (name, key_bytes, created_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(candidate)
                .bind(now)
                .execute(pool)
                .await?;
                sqlx::query_scalar("SELECT key_bytes FROM instance_keys WHERE name = $1")
                    .bind(name)
                    .fetch_one(pool)
                    .await?
            }
        }
    }))
}
