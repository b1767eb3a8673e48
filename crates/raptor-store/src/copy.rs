//! Copying every row between two Raptor databases of either dialect, with verification.
//!
//! Values travel in one dialect-neutral form chosen by the column's type (so booleans,
//! timestamps, JSON, exact decimals and 64-bit keys convert exactly), tables go in
//! foreign-key order inside one transaction on the target, and each table is verified by its
//! row count and an order-independent checksum of canonical row values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use sqlx::{Executor, Row};

use crate::decimal::DbDecimal;
use crate::engine::{Db, Pool};
use crate::error::StoreError;
use crate::migrate;
use crate::schema::{self, ColumnType, Table};
use crate::tx::{Tx, TxInner};

/// Rows read and written per batch: bounded memory whatever the table's size.
const BATCH: i64 = 5_000;

/// Tables the migrations fill (reference data): replaced, not refused, on the target.
const SEEDED: &[&str] = &["symbols"];

/// Why a copy was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The two databases are at different revisions.
    #[error("the source is at {source_rev} and the target at {target_rev}: bring both to the same revision (raptor db upgrade head) first")]
    Revisions {
        /// Source revision.
        source_rev: String,
        /// Target revision.
        target_rev: String,
    },
    /// The target holds rows and --truncate was not given.
    #[error("the target is not empty ({0}); copy into an empty database, or pass --truncate to replace its rows")]
    TargetNotEmpty(String),
    /// A store failure (the target transaction is rolled back).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(err: sqlx::Error) -> Self {
        CopyError::Store(err.into())
    }
}

impl From<migrate::MigrationError> for CopyError {
    fn from(err: migrate::MigrationError) -> Self {
        CopyError::Store(err.into())
    }
}

/// One value, independent of dialect.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
    Json(serde_json::Value),
    Decimal(Decimal),
    Bool(bool),
    Float(f64),
    Bytes(Vec<u8>),
}

impl Value {
    /// The canonical text a checksum is computed over.
    fn canonical(&self, out: &mut String) {
        let _ = match self {
            Value::Null => write!(out, "∅"),
            Value::Int(v) => write!(out, "i{v}"),
            Value::Text(v) => write!(out, "t{}:{v}", v.len()),
            Value::Time(v) => write!(out, "d{}", v.to_rfc3339_opts(SecondsFormat::Micros, true)),
            Value::Json(v) => write!(out, "j{v}"),
            Value::Decimal(v) => write!(out, "n{}", v.normalize()),
            Value::Bool(v) => write!(out, "b{v}"),
            Value::Float(v) => write!(out, "f{:x}", v.to_bits()),
            Value::Bytes(v) => write!(
                out,
                "x{}",
                v.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        };
        out.push('|');
    }
}

/// Binds one value; NULLs carry the column's type (PostgreSQL refuses an untyped text NULL
/// for, say, a BIGINT column).
macro_rules! bind_value {
    ($query:expr, $value:expr, $ty:expr) => {
        match $value {
            Value::Null => match $ty {
                ColumnType::Integer => $query.bind(None::<i64>),
                ColumnType::Boolean => $query.bind(None::<bool>),
                ColumnType::Float => $query.bind(None::<f64>),
                ColumnType::Bytes => $query.bind(None::<Vec<u8>>),
                ColumnType::Timestamp => $query.bind(None::<DateTime<Utc>>),
                ColumnType::Json => $query.bind(None::<Json<serde_json::Value>>),
                ColumnType::Decimal => $query.bind(None::<DbDecimal>),
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

/// `$1, $2, …` on PostgreSQL; `?` on SQLite, whose `$N` binding is quadratic in N.
fn placeholder(sql: &mut String, numbered: bool, n: usize) {
    if numbered {
        let _ = write!(sql, "${n}");
    } else {
        sql.push('?');
    }
}

/// What was copied and how it verified, per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// Table name.
    pub table: String,
    /// Rows in the source.
    pub source_rows: i64,
    /// Rows in the target.
    pub target_rows: i64,
    /// Order-independent checksum of the source rows.
    pub source_checksum: String,
    /// The same over the target rows.
    pub target_checksum: String,
}

impl TableReport {
    /// Whether the target holds exactly the source's rows.
    pub fn matches(&self) -> bool {
        self.source_rows == self.target_rows && self.source_checksum == self.target_checksum
    }
}

/// Tables in an order where every referenced table comes first.
fn fk_order(tables: &BTreeMap<String, Table>) -> Vec<String> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < tables.len() {
        let before = order.len();
        for (name, table) in tables {
            if done.contains(name) {
                continue;
            }
            let ready = table
                .foreign_keys
                .iter()
                .all(|fk| fk.references == *name || done.contains(&fk.references));
            if ready {
                done.insert(name.clone());
                order.push(name.clone());
            }
        }
        if order.len() == before {
            // A cycle: append the rest as they are (none exist in Raptor's schema).
            order.extend(tables.keys().filter(|t| !done.contains(*t)).cloned());
            break;
        }
    }
    order
}

/// The application tables of a database and their shapes, bookkeeping excluded.
async fn app_tables(db: &Db) -> Result<BTreeMap<String, Table>, CopyError> {
    let mut tables = schema::describe(db).await?;
    tables.retain(|name, _| !schema::BOOKKEEPING_TABLES.contains(&name.as_str()));
    Ok(tables)
}

fn decode_sqlite(
    row: &sqlx::sqlite::SqliteRow,
    i: usize,
    ty: &ColumnType,
) -> Result<Value, sqlx::Error> {
    Ok(match ty {
        ColumnType::Integer => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, Value::Int),
        ColumnType::Boolean => row
            .try_get::<Option<bool>, _>(i)?
            .map_or(Value::Null, Value::Bool),
        ColumnType::Float => row
            .try_get::<Option<f64>, _>(i)?
            .map_or(Value::Null, Value::Float),
        ColumnType::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map_or(Value::Null, Value::Bytes),
        _ => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Value::Null, Value::Text),
    })
}

fn decode_postgres(
    row: &sqlx::postgres::PgRow,
    i: usize,
    ty: &ColumnType,
) -> Result<Value, sqlx::Error> {
    Ok(match ty {
        ColumnType::Integer => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, Value::Int),
        ColumnType::Boolean => row
            .try_get::<Option<bool>, _>(i)?
            .map_or(Value::Null, Value::Bool),
        ColumnType::Float => row
            .try_get::<Option<f64>, _>(i)?
            .map_or(Value::Null, Value::Float),
        ColumnType::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map_or(Value::Null, Value::Bytes),
        ColumnType::Timestamp => row
            .try_get::<Option<DateTime<Utc>>, _>(i)?
            .map_or(Value::Null, Value::Time),
        ColumnType::Json => row
            .try_get::<Option<Json<serde_json::Value>>, _>(i)?
            .map_or(Value::Null, |j| Value::Json(j.0)),
        ColumnType::Decimal => row
            .try_get::<Option<DbDecimal>, _>(i)?
            .map_or(Value::Null, |d| Value::Decimal(d.0)),
        _ => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Value::Null, Value::Text),
    })
}

/// SQLite stores timestamps, JSON and decimals as text: give them their real types using the
/// target's (PostgreSQL's) column types, which name what the text holds.
fn typed(value: Value, ty: &ColumnType) -> Value {
    match (value, ty) {
        (Value::Text(t), ColumnType::Timestamp) => {
            parse_time(&t).map_or(Value::Text(t), Value::Time)
        }
        (Value::Text(t), ColumnType::Json) => {
            serde_json::from_str(&t).map_or(Value::Text(t), Value::Json)
        }
        (Value::Text(t), ColumnType::Decimal) => t.parse().map_or(Value::Text(t), Value::Decimal),
        (v, _) => v,
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The logical types of a table's columns: the PostgreSQL side's types when either side is
/// PostgreSQL (they say what SQLite's text holds), else SQLite's.
fn logical_types(source: &Table, target: &Table) -> Vec<ColumnType> {
    source
        .columns
        .iter()
        .zip(&target.columns)
        .map(|(s, t)| {
            if matches!(s.column_type, ColumnType::Text) {
                t.column_type.clone()
            } else {
                s.column_type.clone()
            }
        })
        .collect()
}

/// Where a batch starts: after the primary key of the last row read.
struct Keyset<'a> {
    columns: &'a [String],
    key: Vec<usize>,
}

impl Keyset<'_> {
    fn after(&self, row: &[Value]) -> Vec<Value> {
        self.key.iter().map(|&i| row[i].clone()).collect()
    }
}

/// Reads one batch of rows after `after` (keyset on the primary key, so a 10M-row table
/// streams in bounded memory and linear time), typed by `types`.
async fn read_batch(
    db: &Db,
    table: &str,
    keyset: &Keyset<'_>,
    types: &[ColumnType],
    source_types: &[ColumnType],
    after: Option<&[Value]>,
) -> Result<Vec<Vec<Value>>, CopyError> {
    let numbered = db.dialect() == crate::url::Dialect::Postgres;
    let key_names: Vec<&str> = keyset
        .key
        .iter()
        .map(|&i| keyset.columns[i].as_str())
        .collect();
    let mut sql = format!("SELECT {} FROM {table}", keyset.columns.join(", "));
    if after.is_some() {
        let _ = write!(sql, " WHERE ({}) > (", key_names.join(", "));
        for n in 1..=key_names.len() {
            if n > 1 {
                sql.push_str(", ");
            }
            placeholder(&mut sql, numbered, n);
        }
        sql.push(')');
    }
    let _ = write!(sql, " ORDER BY {} LIMIT {BATCH}", key_names.join(", "));
    let key_types: Vec<&ColumnType> = keyset.key.iter().map(|&i| &source_types[i]).collect();
    macro_rules! fetch {
        ($pool:expr) => {{
            let mut query = sqlx::query(&sql);
            for (value, ty) in after.unwrap_or_default().iter().zip(&key_types) {
                query = bind_value!(query, value, ty);
            }
            query.fetch_all($pool).await?
        }};
    }
    let rows = match &db.pool {
        Pool::Sqlite(pool) => fetch!(pool)
            .iter()
            .map(|r| {
                source_types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| decode_sqlite(r, i, ty).map(|v| typed(v, &types[i])))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?,
        Pool::Postgres(pool) => fetch!(pool)
            .iter()
            .map(|r| {
                source_types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| decode_postgres(r, i, ty))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

fn keyset<'a>(
    table: &str,
    shape: &'a Table,
    columns: &'a [String],
) -> Result<Keyset<'a>, CopyError> {
    let key: Vec<usize> = shape
        .primary_key
        .iter()
        .filter_map(|k| columns.iter().position(|c| c == k))
        .collect();
    if key.is_empty() || key.len() != shape.primary_key.len() {
        return Err(CopyError::Store(StoreError::Unavailable(format!(
            "table {table} has no primary key to copy by"
        ))));
    }
    Ok(Keyset { columns, key })
}

/// Writes rows into the target's table inside the copy's transaction.
async fn write_batch(
    tx: &mut Tx,
    table: &str,
    columns: &[String],
    types: &[ColumnType],
    rows: &[Vec<Value>],
) -> Result<(), CopyError> {
    // At most ~30,000 parameters per statement, fewer rows on wide tables.
    let per_statement = (30_000 / columns.len().max(1)).clamp(1, 1000);
    let numbered = matches!(tx.inner, TxInner::Postgres(_));
    for chunk in rows.chunks(per_statement) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (r, row) in chunk.iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ",(" });
            for c in 0..row.len() {
                n += 1;
                if c > 0 {
                    sql.push(',');
                }
                placeholder(&mut sql, numbered, n);
            }
            sql.push(')');
        }
        macro_rules! insert {
            ($t:ident) => {{
                let mut query = sqlx::query(&sql);
                for row in chunk {
                    for (value, ty) in row.iter().zip(types) {
                        query = bind_value!(query, value, ty);
                    }
                }
                query.execute(&mut **$t).await?;
            }};
        }
        match &mut tx.inner {
            TxInner::Sqlite(t) => insert!(t),
            TxInner::Postgres(t) => insert!(t),
        }
    }
    Ok(())
}

/// An order-independent checksum and count of a table's rows, read in batches.
async fn digest(
    db: &Db,
    table: &str,
    shape: &Table,
    types: &[ColumnType],
) -> Result<(i64, String), CopyError> {
    let columns: Vec<String> = shape.columns.iter().map(|c| c.name.clone()).collect();
    let source_types: Vec<ColumnType> = shape
        .columns
        .iter()
        .map(|c| c.column_type.clone())
        .collect();
    let keys = keyset(table, shape, &columns)?;
    let (mut count, mut sum, mut xor) = (0i64, 0u128, 0u128);
    let mut after: Option<Vec<Value>> = None;
    loop {
        let rows = read_batch(db, table, &keys, types, &source_types, after.as_deref()).await?;
        for row in &rows {
            let mut text = String::new();
            for value in row {
                value.canonical(&mut text);
            }
            let hash = Sha256::digest(text.as_bytes());
            let mut first = [0u8; 16];
            first.copy_from_slice(&hash[..16]);
            let h = u128::from_be_bytes(first);
            sum = sum.wrapping_add(h);
            xor ^= h;
            count += 1;
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == BATCH => after = Some(keys.after(last)),
            _ => break,
        }
    }
    Ok((count, format!("{sum:032x}{xor:032x}")))
}

/// Checks that both databases are at the same revision and returns their table shapes.
async fn prepare(
    from: &Db,
    to: &Db,
) -> Result<(BTreeMap<String, Table>, BTreeMap<String, Table>), CopyError> {
    let (source_rev, target_rev) = (
        migrate::current_revision(from).await?,
        migrate::current_revision(to).await?,
    );
    if source_rev != target_rev {
        return Err(CopyError::Revisions {
            source_rev: source_rev.unwrap_or_else(|| "<base>".into()),
            target_rev: target_rev.unwrap_or_else(|| "<base>".into()),
        });
    }
    Ok((app_tables(from).await?, app_tables(to).await?))
}

fn shared_types(source: &Table, target: &Table) -> Vec<ColumnType> {
    logical_types(source, target)
}

/// Verifies every table: counts and checksums on both sides.
pub async fn verify(from: &Db, to: &Db) -> Result<Vec<TableReport>, CopyError> {
    let (source, target) = prepare(from, to).await?;
    let mut reports = Vec::new();
    for table in fk_order(&source) {
        let (Some(s), Some(t)) = (source.get(&table), target.get(&table)) else {
            continue;
        };
        let types = shared_types(s, t);
        let (source_rows, source_checksum) = digest(from, &table, s, &types).await?;
        let (target_rows, target_checksum) = digest(to, &table, t, &types).await?;
        reports.push(TableReport {
            table,
            source_rows,
            target_rows,
            source_checksum,
            target_checksum,
        });
    }
    Ok(reports)
}

/// Copies every row from `from` to `to` (same revision) in one transaction on the target, then
/// verifies. `truncate` empties the target's tables first; otherwise the target must hold no
/// rows beyond the migrations' reference data. `progress` hears `(table, rows copied so far)`.
pub async fn copy(
    from: &Db,
    to: &Db,
    truncate: bool,
    progress: &mut (dyn FnMut(&str, i64) + Send),
) -> Result<Vec<TableReport>, CopyError> {
    let (source, target) = prepare(from, to).await?;
    let order = fk_order(&target);
    if !truncate {
        let mut occupied = Vec::new();
        for table in order.iter().filter(|t| !SEEDED.contains(&t.as_str())) {
            let rows = schema::row_count(to, table).await?.unwrap_or(0);
            if rows > 0 {
                occupied.push(format!("{table}={rows}"));
            }
        }
        if !occupied.is_empty() {
            return Err(CopyError::TargetNotEmpty(occupied.join(", ")));
        }
    }
    let mut tx = to.begin().await?;
    for table in order.iter().rev() {
        on_tx!(tx, t => { (&mut **t).execute(format!("DELETE FROM {table}").as_str()).await?; });
    }
    for table in &order {
        let (Some(s), Some(t)) = (source.get(table), target.get(table)) else {
            continue;
        };
        let columns: Vec<String> = s.columns.iter().map(|c| c.name.clone()).collect();
        let source_types: Vec<ColumnType> =
            s.columns.iter().map(|c| c.column_type.clone()).collect();
        let types = shared_types(s, t);
        let keys = keyset(table, s, &columns)?;
        let (mut copied, mut after): (i64, Option<Vec<Value>>) = (0, None);
        loop {
            let rows =
                read_batch(from, table, &keys, &types, &source_types, after.as_deref()).await?;
            write_batch(&mut tx, table, &columns, &types, &rows).await?;
            copied += rows.len() as i64;
            progress(table, copied);
            match rows.last() {
                Some(last) if rows.len() as i64 == BATCH => after = Some(keys.after(last)),
                _ => break,
            }
        }
        // Identity sequences must continue after the copied ids.
        if let TxInner::Postgres(pg) = &mut tx.inner {
            if t.primary_key == ["id"] {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                );
                (&mut **pg).execute(sql.as_str()).await?;
            }
        }
    }
    tx.commit().await?;
    verify(from, to).await
}
