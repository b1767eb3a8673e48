//! Where copied rows are written: PostgreSQL `COPY`, SQLite multi-row `INSERT`s, or nowhere.

use sqlx::sqlite::SqliteConnection;
use sqlx::types::Json;
use sqlx::Executor;

use super::binary_copy::BinaryCopy;
use super::value::Value;
use super::Plan;
use crate::decimal::DbDecimal;
use crate::dialect::TxInner;
use crate::error::{CopyError, StoreError};
use crate::schema::ColumnType;
use crate::tx::Tx;

/// Binds one value to a multi-row INSERT; NULLs carry the column's type.
macro_rules! bind_value {
    ($query:expr, $value:expr, $ty:expr) => {
        match $value {
            Value::Null => match $ty {
                ColumnType::Integer => $query.bind(None::<i64>),
                ColumnType::Boolean => $query.bind(None::<bool>),
                ColumnType::Float => $query.bind(None::<f64>),
                ColumnType::Bytes => $query.bind(None::<Vec<u8>>),
                _ => $query.bind(None::<String>),
            },
            Value::Int(v) => $query.bind(*v),
            Value::Text(v) => $query.bind(v.as_str()),
            Value::Time(v) => $query.bind(*v),
            Value::Json(v) => $query.bind(Json(v)),
            Value::Decimal(v) => $query.bind(DbDecimal(*v)),
            Value::Bool(v) => $query.bind(*v),
            Value::Float(v) => $query.bind(*v),
            Value::Bytes(v) => $query.bind(v.as_slice()),
        }
    };
}

/// Where streamed rows go.
pub(crate) enum Sink<'c> {
    /// Nowhere: the rows are only digested (verification).
    Discard,
    /// PostgreSQL binary `COPY … FROM STDIN`, in chunks.
    Copy {
        copy: BinaryCopy<'c>,
        plan: &'c Plan,
        rows: i64,
    },
    /// Multi-row `INSERT`s on SQLite, `?` placeholders (its `$N` binding is quadratic in N).
    Insert {
        conn: &'c mut SqliteConnection,
        plan: &'c Plan,
        rows: Vec<Vec<Value>>,
        per_statement: usize,
    },
}

impl<'c> Sink<'c> {
    /// A sink writing `plan`'s table inside the target transaction.
    pub(crate) async fn open(tx: &'c mut Tx, plan: &'c Plan) -> Result<Sink<'c>, StoreError> {
        Ok(match &mut tx.inner {
            TxInner::Postgres(t) => Sink::Copy {
                copy: BinaryCopy::start(t, &plan.table, &plan.columns.join(", ")).await?,
                plan,
                rows: 0,
            },
            TxInner::Sqlite(t) => Sink::Insert {
                conn: t,
                plan,
                rows: Vec::new(),
                // At most ~30,000 parameters per statement, fewer rows on wide tables.
                per_statement: (30_000 / plan.columns.len().max(1)).clamp(1, 1000),
            },
        })
    }

    pub(crate) async fn push(&mut self, row: Vec<Value>) -> Result<(), StoreError> {
        match self {
            Sink::Discard => {}
            Sink::Copy { copy, plan, rows } => {
                *rows += 1;
                // Binary COPY takes bytes on trust: a value of another type (SQLite stores
                // whatever it is given) would be read as the column's type, not refused.
                for ((value, ty), column) in row.iter().zip(&plan.target_types).zip(&plan.columns) {
                    if !value.fits(ty) {
                        return Err(CopyError::Mismatch(format!(
                            "row {rows} of {}: {column} holds {}, not {ty:?}",
                            plan.table,
                            value.kind()
                        ))
                        .into());
                    }
                }
                copy.row(row.len())?;
                for value in &row {
                    value.copy_binary(copy)?;
                }
                copy.flush_if_full().await?;
            }
            Sink::Insert {
                conn,
                plan,
                rows,
                per_statement,
            } => {
                rows.push(row);
                if rows.len() >= *per_statement {
                    insert_rows(conn, plan, rows).await?;
                    rows.clear();
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn finish(self) -> Result<(), StoreError> {
        match self {
            Sink::Discard => {}
            Sink::Copy { copy, .. } => {
                copy.finish().await?;
            }
            Sink::Insert {
                conn, plan, rows, ..
            } => {
                if !rows.is_empty() {
                    insert_rows(conn, plan, &rows).await?;
                }
            }
        }
        Ok(())
    }
}

/// One multi-row INSERT of `rows` into a SQLite table.
async fn insert_rows(
    conn: &mut SqliteConnection,
    plan: &Plan,
    rows: &[Vec<Value>],
) -> Result<(), StoreError> {
    let one = format!("({})", vec!["?"; plan.columns.len()].join(","));
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        plan.table,
        plan.columns.join(", "),
        vec![one; rows.len()].join(",")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        for (value, ty) in row.iter().zip(&plan.types) {
            query = bind_value!(query, value, ty);
        }
    }
    query.execute(conn).await?;
    Ok(())
}

/// After a table is loaded, makes its identity sequence continue after the copied ids
/// (PostgreSQL; SQLite's rowid needs nothing).
pub(crate) async fn continue_ids(tx: &mut TxInner, plan: &Plan) -> Result<(), StoreError> {
    if let (TxInner::Postgres(pg), true) = (tx, plan.has_id) {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {0}",
            plan.table
        );
        (&mut **pg).execute(sql.as_str()).await?;
    }
    Ok(())
}

/// Rows of months without a partition landed in the trace tables' DEFAULT partitions: gives
/// those months partitions of their own, as the running server would (PostgreSQL only).
pub(crate) async fn settle_trace_partitions(tx: &mut TxInner) -> Result<(), StoreError> {
    if let TxInner::Postgres(pg) = tx {
        let sql = "SELECT raptor_ensure_trace_partitions(3) \
                   WHERE to_regprocedure('raptor_ensure_trace_partitions(integer)') IS NOT NULL";
        (&mut **pg).execute(sql).await?;
    }
    Ok(())
}
