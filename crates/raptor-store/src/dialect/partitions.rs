//! Trace partition upkeep: PostgreSQL keeps the trace tables in monthly partitions (revision
//! `0004_partition_traces`) created, pruned and listed here; SQLite keeps plain tables, where
//! retention is a row delete and there is nothing else to do.

use chrono::{DateTime, Utc};

use super::Pool;
use crate::traces::{Partition, Timescale};

/// Creates the monthly partitions from this month to `months_ahead` months on and moves rows
/// waiting in a DEFAULT partition into theirs. Returns the partitions created (none on SQLite).
pub(crate) async fn ensure(pool: &Pool, months_ahead: i32) -> Result<i32, sqlx::Error> {
    match pool {
        Pool::Sqlite(_) => Ok(0),
        Pool::Postgres(pool) => {
            sqlx::query_scalar("SELECT raptor_ensure_trace_partitions($1)")
                .bind(months_ahead)
                .fetch_one(pool)
                .await
        }
    }
}

/// Removes every trace row older than `cutoff`. PostgreSQL drops whole monthly partitions (no
/// row-by-row delete) and trims the month straddling the cutoff; SQLite deletes the rows.
/// Returns the partitions dropped.
pub(crate) async fn prune(pool: &Pool, cutoff: DateTime<Utc>) -> Result<Vec<String>, sqlx::Error> {
    match pool {
        Pool::Postgres(pool) => {
            sqlx::query_scalar("SELECT raptor_prune_traces($1)")
                .bind(cutoff)
                .fetch_all(pool)
                .await
        }
        Pool::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM trace_events WHERE created_at < $1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM trace_workflows WHERE started_at < $1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Vec::new())
        }
    }
}

/// The partitions of both trace tables (none on SQLite).
pub(crate) async fn list(pool: &Pool) -> Result<Vec<Partition>, sqlx::Error> {
    let Pool::Postgres(pool) = pool else {
        return Ok(Vec::new());
    };
    let names: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT p.relname::text, c.relname::text, pg_get_expr(c.relpartbound, c.oid) \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
         WHERE p.relname IN ('trace_events', 'trace_workflows') \
         AND p.relnamespace = current_schema()::regnamespace ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(names.len());
    for (parent, name, bounds) in names {
        // The names come from the catalogue; quoting keeps them identifiers all the same.
        let rows: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{}\"",
            name.replace('"', "\"\"")
        ))
        .fetch_one(pool)
        .await?;
        out.push(Partition {
            parent,
            name,
            bounds,
            rows,
        });
    }
    Ok(out)
}

/// Whether TimescaleDB is available and installed (`None` on SQLite).
pub(crate) async fn timescale(pool: &Pool) -> Result<Option<Timescale>, sqlx::Error> {
    let Pool::Postgres(pool) = pool else {
        return Ok(None);
    };
    let found: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT default_version::text, installed_version::text FROM pg_available_extensions \
         WHERE name = 'timescaledb'",
    )
    .fetch_optional(pool)
    .await?;
    let (available, installed) = found.unwrap_or((None, None));
    Ok(Some(Timescale {
        available,
        installed,
    }))
}
