//! Schema introspection on both dialects, in one vocabulary: tables, columns, keys, indexes.
//! The parity test compares the two dialects with it, and operator checks list missing tables.

use std::collections::BTreeMap;

use crate::dialect::catalogue;
use crate::engine::Db;
use crate::error::StoreError;

/// Tables the migrator owns rather than the application schema.
pub const BOOKKEEPING_TABLES: &[&str] = &["alembic_version", "raptor_migration_checksums"];

/// What a column holds, independent of dialect spelling.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnType {
    /// 64-bit integer (`BIGINT` / `INTEGER`).
    Integer,
    /// Text.
    Text,
    /// `TIMESTAMPTZ` (stored as ISO-8601 text on SQLite).
    Timestamp,
    /// `JSONB` (text on SQLite).
    Json,
    /// Exact decimal `NUMERIC` (text on SQLite, never a float).
    Decimal,
    /// Boolean.
    Boolean,
    /// Double-precision float.
    Float,
    /// Bytes.
    Bytes,
    /// Anything else, by its declared name.
    Other(String),
}

impl ColumnType {
    /// How SQLite stores this type: timestamps, JSON and decimals become text there.
    pub fn on_sqlite(&self) -> ColumnType {
        match self {
            ColumnType::Timestamp | ColumnType::Json | ColumnType::Decimal => ColumnType::Text,
            other => other.clone(),
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// What it holds.
    pub column_type: ColumnType,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

/// One foreign key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced table.
    pub references: String,
    /// Referenced columns.
    pub referenced_columns: Vec<String>,
    /// `CASCADE`, `SET NULL`, `RESTRICT` or `NO ACTION`.
    pub on_delete: String,
}

/// One index other than the primary key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    /// Its name.
    pub name: String,
    /// Indexed columns in order.
    pub columns: Vec<String>,
    /// Whether it enforces uniqueness.
    pub unique: bool,
    /// Whether it has a `WHERE` clause.
    pub partial: bool,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Primary-key columns in key order.
    pub primary_key: Vec<String>,
    /// Foreign keys, sorted.
    pub foreign_keys: Vec<ForeignKey>,
    /// Indexes, sorted by name.
    pub indexes: Vec<Index>,
}

/// Every table of the current schema, by name.
pub type Schema = BTreeMap<String, Table>;

/// Whether a table exists in the current schema.
pub async fn table_exists(db: &Db, name: &str) -> Result<bool, StoreError> {
    Ok(catalogue::table_exists(&db.pool, name).await?)
}

/// Names of the tables in the current schema, sorted (partitions are not listed).
pub async fn table_names(db: &Db) -> Result<Vec<String>, StoreError> {
    Ok(catalogue::table_names(&db.pool).await?)
}

/// Describes every table of the current schema.
pub async fn describe(db: &Db) -> Result<Schema, StoreError> {
    let mut schema = Schema::new();
    for name in catalogue::table_names(&db.pool).await? {
        let table = catalogue::describe_table(&db.pool, &name).await?;
        schema.insert(name, table);
    }
    Ok(schema)
}

/// Every application table at head. The parity test keeps this list equal to the schema the
/// migrations build, so operator checks can name a missing table.
pub const EXPECTED_TABLES: &[&str] = &[
    "admin_customer_notes",
    "api_keys",
    "audit_log",
    "backtest_sweeps",
    "backtest_trades",
    "backtests",
    "backup_codes",
    "billing_alert_configs",
    "bootstrap_tokens",
    "email_login_tokens",
    "empty_bar_ranges",
    "historical_bars",
    "instance_keys",
    "job_queue",
    "marketing_contacts",
    "onboarding_progress",
    "paper_accounts",
    "paper_fills",
    "paper_orders",
    "permissions",
    "positions",
    "postmark_delivery_events",
    "postmark_inbound_messages",
    "rate_limits",
    "role_permissions",
    "roles",
    "sessions",
    "status_webhook_events",
    "support_customer_map",
    "support_messages",
    "support_reply_tokens",
    "support_tickets",
    "symbols",
    "trace_events",
    "trace_workflows",
    "trade_updates",
    "trading_runtime_state",
    "user_roles",
    "user_settings",
    "users",
    "vendor_billing_snapshots",
    "visual_feedback_settings",
    "watchlist_symbols",
    "watchlists",
    "webauthn_challenges",
    "webauthn_credentials",
];

/// Tables whose rows are customers' data: empty before launch, as the runbook checks.
pub const CUSTOMER_TABLES: &[&str] = &[
    "users",
    "webauthn_credentials",
    "sessions",
    "paper_accounts",
    "paper_orders",
    "support_tickets",
    "marketing_contacts",
];

/// Facts about the server behind a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    /// e.g. `15.20` or `3.46.0`.
    pub version: String,
    /// Whether this connection is encrypted (PostgreSQL only).
    pub tls: Option<bool>,
    /// Connections to this database and the server's limit (PostgreSQL only).
    pub connections: Option<(i64, i64)>,
    /// Whether this process's SQLite was built with `SQLITE_ENABLE_MEMORY_MANAGEMENT`, under
    /// which every connection's page cache shares one LRU behind one process-wide mutex
    /// (SQLite only; the workspace's `.cargo/config.toml` builds it without).
    pub shared_page_cache: Option<bool>,
}

/// Reads the server's version, TLS state and connection use.
pub async fn server_facts(db: &Db) -> Result<ServerFacts, StoreError> {
    Ok(catalogue::server_facts(&db.pool).await?)
}

/// Rows in one of the [`EXPECTED_TABLES`] (None for any other name: never interpolated).
pub async fn row_count(db: &Db, table: &str) -> Result<Option<i64>, StoreError> {
    let Some(known) = EXPECTED_TABLES.iter().find(|t| **t == table) else {
        return Ok(None);
    };
    let sql = format!("SELECT count(*) FROM {known}");
    Ok(Some(
        on_pool!(db, pool => sqlx::query_scalar(&sql).fetch_one(pool).await?),
    ))
}
