//! Reading a signed-in session ([`crate::sessions::signed_in`]), the read behind every
//! signed-in request: sqlx on PostgreSQL and in-memory SQLite, the row reader
//! ([`super::sqlite_rows`]) on a SQLite file, on the calling thread rather than through
//! sqlx's worker round trip.

use chrono::{DateTime, Utc};
use rusqlite::types::Type;

use super::sqlite_rows::{optional_time, time, Columns, SqliteTime};
use crate::engine::Db;
use crate::error::StoreError;
use crate::sessions::{Session, SignedInRow};

/// The columns a signed-in session is read from, by name.
static SESSION_COLUMNS: Columns<17> = Columns::new([
    "id",
    "user_id",
    "auth_method",
    "created_at",
    "authenticated_at",
    "last_seen_at",
    "expires_at",
    "ip",
    "user_agent",
    "email",
    "display_name",
    "user_handle",
    "status",
    "user_created_at",
    "email_verified_at",
    "role",
    "permission",
]);

/// Runs `sql`, binding the token hash as `$1`, now as `$2` and the idle cutoff as `$3`.
pub(crate) async fn signed_in_rows(
    db: &Db,
    sql: &'static str,
    token_hash: &[u8],
    now: DateTime<Utc>,
    idle_cutoff: DateTime<Utc>,
) -> Result<Vec<SignedInRow>, StoreError> {
    if let Some(reader) = &db.sqlite_rows {
        let token_hash = token_hash.to_vec();
        return reader
            .read_point(move |conn| {
                let (mut statement, columns) = SESSION_COLUMNS.prepare(conn, sql)?;
                // By name: the statement's text uses `$2` before `$1`.
                let binds: [(&str, &dyn rusqlite::ToSql); 3] = [
                    ("$1", &token_hash),
                    ("$2", &SqliteTime(now)),
                    ("$3", &SqliteTime(idle_cutoff)),
                ];
                let found = statement.query_map(&binds[..], |row| {
                    let at = |name: &str| columns.at(name);
                    let moment = |name: &str| optional_time(row.get_ref(at(name)?)?);
                    let required = |name: &str| -> rusqlite::Result<DateTime<Utc>> {
                        time(row.get_ref(at(name)?)?)
                    };
                    let status: String = row.get(at("status")?)?;
                    Ok(SignedInRow {
                        session: Session {
                            id: row.get(at("id")?)?,
                            user_id: row.get(at("user_id")?)?,
                            auth_method: row.get(at("auth_method")?)?,
                            created_at: required("created_at")?,
                            authenticated_at: moment("authenticated_at")?,
                            last_seen_at: required("last_seen_at")?,
                            expires_at: required("expires_at")?,
                            ip: row.get(at("ip")?)?,
                            user_agent: row.get(at("user_agent")?)?,
                        },
                        email: row.get(at("email")?)?,
                        display_name: row.get(at("display_name")?)?,
                        user_handle: row.get(at("user_handle")?)?,
                        status: status.try_into().map_err(|err| {
                            rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(err))
                        })?,
                        user_created_at: required("user_created_at")?,
                        email_verified_at: moment("email_verified_at")?,
                        role: row.get(at("role")?)?,
                        permission: row.get(at("permission")?)?,
                    })
                })?;
                found.collect()
            })
            .await;
    }
    Ok(on_point_read!(db, conn => {
        sqlx::query_as(sql)
            .bind(token_hash)
            .bind(now)
            .bind(idle_cutoff)
            .fetch_all(conn)
            .await
    })?)
}
