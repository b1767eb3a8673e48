//! Reading every row of a table from either dialect, digesting it and handing it on.
//!
//! PostgreSQL rows stream through sqlx, or as binary `COPY` when they are only digested
//! ([`digest`]). SQLite rows are read with rusqlite on a blocking
//! thread and handed over in batches: sqlx's SQLite driver passes each row across a thread
//! channel on its own, which cost more than half of a large copy in futex waits.

use std::path::PathBuf;

use futures_util::TryStreamExt;
use rusqlite::OpenFlags;
use tokio::sync::mpsc;

use super::sink::Sink;
use super::value::{copied_cast, decode_copied, decode_postgres, from_sqlite, RowDigest, Value};
use super::Plan;
use crate::dialect::pg_copy_out::copy_out;
use crate::dialect::Pool;
use crate::engine::Db;
use crate::error::{CopyError, StoreError};
use crate::schema::ColumnType;
use crate::url::Target;

/// How often (in rows) progress is reported.
const PROGRESS_EVERY: i64 = 10_000;

/// Rows per batch handed over from the SQLite reader thread.
const SQLITE_BATCH: usize = 2_000;

/// Which side of a copy a database is.
#[derive(Clone, Copy)]
pub(crate) enum Side {
    Source,
    Target,
}

/// Streams every row of the plan's table on one side (one query; rows are handed over as they
/// arrive, so memory stays bounded whatever the table's size), digesting each and handing it
/// to `sink`. `scope` (a `WHERE` clause, or empty) narrows the rows read. `progress` hears the
/// running row count.
pub(crate) async fn pump(
    db: &Db,
    side: Side,
    plan: &Plan,
    scope: &str,
    sink: &mut Sink<'_>,
    progress: &mut (dyn FnMut(i64) + Send),
) -> Result<RowDigest, StoreError> {
    let mut digest = RowDigest::default();
    let mut take = async |values: Vec<Value>| -> Result<(), StoreError> {
        digest.add(&values);
        sink.push(values).await?;
        if digest.count % PROGRESS_EVERY == 0 {
            progress(digest.count);
        }
        Ok(())
    };
    match &db.pool {
        Pool::Postgres(pool) => {
            let stored = match side {
                Side::Source => &plan.source_types,
                Side::Target => &plan.target_types,
            };
            let select = format!("{}{scope}", plan.select());
            let mut rows = sqlx::query(&select).fetch(pool);
            while let Some(row) = rows.try_next().await? {
                let mut values = Vec::with_capacity(stored.len());
                for (i, ty) in stored.iter().enumerate() {
                    values.push(decode_postgres(&row, i, ty)?);
                }
                take(values).await?;
            }
        }
        Pool::Sqlite(_) => {
            let Target::SqliteFile(path) = &db.url().target else {
                return Err(CopyError::Read(
                    "an in-memory SQLite database cannot be copied".into(),
                )
                .into());
            };
            let (batches, mut arrivals) = mpsc::channel(4);
            let reader = tokio::task::spawn_blocking({
                let (path, types) = (path.clone(), plan.types.clone());
                let select = format!("{}{scope}", plan.select());
                move || read_sqlite(path, &select, &types, &batches)
            });
            while let Some(batch) = arrivals.recv().await {
                for values in batch {
                    take(values).await?;
                }
            }
            reader
                .await
                .map_err(|e| CopyError::Read(format!("the SQLite reader stopped: {e}")))??;
        }
    }
    progress(digest.count);
    Ok(digest)
}

/// Reads a SQLite table in batches on the calling (blocking) thread. Stops quietly when the
/// receiver has gone (the copy failed elsewhere).
fn read_sqlite(
    path: PathBuf,
    select: &str,
    types: &[ColumnType],
    batches: &mpsc::Sender<Vec<Vec<Value>>>,
) -> Result<(), StoreError> {
    let failed = |e: rusqlite::Error| CopyError::Read(e.to_string());
    let conn = rusqlite::Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    let mut statement = conn.prepare(select).map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    let mut batch = Vec::with_capacity(SQLITE_BATCH);
    while let Some(row) = rows.next().map_err(failed)? {
        let mut values = Vec::with_capacity(types.len());
        for (i, ty) in types.iter().enumerate() {
            let raw = row.get_ref(i).map_err(failed)?;
            values.push(from_sqlite(raw, ty).map_err(CopyError::Read)?);
        }
        batch.push(values);
        if batch.len() == SQLITE_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(SQLITE_BATCH));
            if batches.blocking_send(full).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = batches.blocking_send(batch);
    }
    Ok(())
}

/// Reads rows only to digest them. On PostgreSQL they come as binary `COPY`, read straight
/// from the bytes (the driver's row per row cost more than the server's work), unless a
/// column's type is one the copy would read otherwise than the driver ([`copied_cast`]).
pub(crate) async fn digest(
    db: &Db,
    side: Side,
    plan: &Plan,
    scope: &str,
) -> Result<RowDigest, StoreError> {
    let stored = match side {
        Side::Source => &plan.source_types,
        Side::Target => &plan.target_types,
    };
    let casts: Option<Vec<&str>> = stored.iter().map(copied_cast).collect();
    let (Pool::Postgres(pool), Some(casts)) = (&db.pool, casts) else {
        return pump(db, side, plan, scope, &mut Sink::Discard, &mut |_| {}).await;
    };
    let columns: Vec<String> = plan
        .columns
        .iter()
        .zip(casts)
        .map(|(column, cast)| format!("{column}{cast}"))
        .collect();
    let select = format!("SELECT {} FROM {}{scope}", columns.join(", "), plan.table);
    let mut digest = RowDigest::default();
    let mut values = Vec::with_capacity(stored.len());
    copy_out(pool, &select, Vec::new(), |row| {
        if row.len() != stored.len() {
            return Err(sqlx::Error::Protocol("a copied row of other width".into()));
        }
        values.clear();
        for (field, ty) in row.fields().zip(stored) {
            values.push(decode_copied(field, ty)?);
        }
        digest.add(&values);
        Ok(true)
    })
    .await?;
    Ok(digest)
}

/// PostgreSQL tables of at least this many 8 KiB pages are verified in two halves at once.
const PARALLEL_PAGES: i64 = 128;

/// Reads a whole table on the target side for verification. A large PostgreSQL table is read
/// as two halves of its heap (TID ranges) over two connections at once, so one half is
/// decoded while the server sends the other. Like any verification it expects no writes to
/// the target meanwhile (the runbook stops them): the halves are two snapshots.
pub(crate) async fn digest_target(db: &Db, plan: &Plan) -> Result<RowDigest, StoreError> {
    let halves = match &db.pool {
        Pool::Postgres(pool) => {
            let blocks: Option<i64> = sqlx::query_scalar(
                "SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint \
                 FROM pg_class c WHERE c.relname = $1 AND c.relkind = 'r' \
                 AND c.relnamespace = current_schema()::regnamespace",
            )
            .bind(&plan.table)
            .fetch_optional(pool)
            .await?;
            blocks.filter(|b| *b >= PARALLEL_PAGES).map(|b| b / 2)
        }
        _ => None,
    };
    let Some(middle) = halves else {
        return digest(db, Side::Target, plan, "").await;
    };
    let (db_other, plan_other) = (db.clone(), plan.clone());
    let upper = tokio::spawn(async move {
        let scope = format!(" WHERE ctid >= '({middle},0)'::tid");
        digest(&db_other, Side::Target, &plan_other, &scope).await
    });
    let scope = format!(" WHERE ctid < '({middle},0)'::tid");
    let lower = match digest(db, Side::Target, plan, &scope).await {
        Ok(lower) => lower,
        Err(err) => {
            upper.abort();
            return Err(err);
        }
    };
    let upper = upper
        .await
        .map_err(|e| CopyError::Read(format!("verification stopped: {e}")))??;
    Ok(lower.merged(upper))
}
