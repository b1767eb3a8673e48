//! Schema introspection on both dialects, in one vocabulary: tables, columns, keys, indexes.
//! The parity test compares the two dialects with it, and operator checks list missing tables.

use std::collections::BTreeMap;

use crate::dialect::Dialect;
use crate::dialect::Pool;
use crate::engine::Db;

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
    fn from_postgres(data_type: &str) -> Self {
        match data_type {
            "bigint" => ColumnType::Integer,
            "text" => ColumnType::Text,
            "timestamp with time zone" => ColumnType::Timestamp,
            "jsonb" => ColumnType::Json,
            "numeric" => ColumnType::Decimal,
            "boolean" => ColumnType::Boolean,
            "double precision" => ColumnType::Float,
            "bytea" => ColumnType::Bytes,
            other => ColumnType::Other(other.to_owned()),
        }
    }

    fn from_sqlite(declared: &str) -> Self {
        match declared.to_ascii_uppercase().as_str() {
            "INTEGER" => ColumnType::Integer,
            "TEXT" => ColumnType::Text,
            "BOOLEAN" => ColumnType::Boolean,
            "REAL" => ColumnType::Float,
            "BLOB" => ColumnType::Bytes,
            other => ColumnType::Other(other.to_owned()),
        }
    }

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
pub async fn table_exists(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)"
        }
        Dialect::Postgres => {
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables \
             WHERE schemaname = current_schema() AND tablename = $1)"
        }
    };
    on_pool!(db, pool => sqlx::query_scalar(sql).bind(name).fetch_one(pool).await)
}

/// Names of the tables in the current schema, sorted (partitions are not listed).
pub async fn table_names(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Dialect::Postgres => {
            "SELECT c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             AND NOT c.relispartition ORDER BY 1"
        }
    };
    on_pool!(db, pool => sqlx::query_scalar(sql).fetch_all(pool).await)
}

/// Describes every table of the current schema.
pub async fn describe(db: &Db) -> Result<Schema, sqlx::Error> {
    let mut schema = Schema::new();
    for name in table_names(db).await? {
        let table = match &db.pool {
            Pool::Sqlite(pool) => describe_sqlite(pool, &name).await?,
            Pool::Postgres(pool) => describe_postgres(pool, &name).await?,
        };
        schema.insert(name, table);
    }
    Ok(schema)
}

async fn describe_sqlite(pool: &sqlx::SqlitePool, table: &str) -> Result<Table, sqlx::Error> {
    let columns: Vec<(String, String, bool, i64)> = sqlx::query_as(
        "SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    let mut primary_key: Vec<(i64, String)> = columns
        .iter()
        .filter(|c| c.3 > 0)
        .map(|c| (c.3, c.0.clone()))
        .collect();
    primary_key.sort();
    let columns = columns
        .into_iter()
        .map(|(name, declared, not_null, pk)| Column {
            name,
            column_type: ColumnType::from_sqlite(&declared),
            // An INTEGER PRIMARY KEY is the rowid, never NULL, though SQLite reports notnull=0.
            nullable: !not_null && pk == 0,
        })
        .collect();

    let fk_rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list($1) \
         ORDER BY id, seq",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    let mut foreign_keys: BTreeMap<i64, ForeignKey> = BTreeMap::new();
    for (id, references, from, to, on_delete) in fk_rows {
        let fk = foreign_keys.entry(id).or_insert_with(|| ForeignKey {
            columns: Vec::new(),
            references,
            referenced_columns: Vec::new(),
            on_delete,
        });
        fk.columns.push(from);
        fk.referenced_columns.push(to);
    }
    let mut foreign_keys: Vec<ForeignKey> = foreign_keys.into_values().collect();
    foreign_keys.sort();

    let index_rows: Vec<(String, bool, String, bool)> = sqlx::query_as(
        "SELECT name, \"unique\", origin, partial FROM pragma_index_list($1) ORDER BY name",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    let mut indexes = Vec::new();
    for (name, unique, origin, partial) in index_rows {
        if origin == "pk" {
            continue;
        }
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                .bind(&name)
                .fetch_all(pool)
                .await?;
        indexes.push(Index {
            name,
            columns,
            unique,
            partial,
        });
    }
    Ok(Table {
        columns,
        primary_key: primary_key.into_iter().map(|(_, c)| c).collect(),
        foreign_keys,
        indexes,
    })
}

async fn describe_postgres(pool: &sqlx::PgPool, table: &str) -> Result<Table, sqlx::Error> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, is_nullable::text \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    let columns = columns
        .into_iter()
        .map(|(name, data_type, nullable)| Column {
            name,
            column_type: ColumnType::from_postgres(&data_type),
            nullable: nullable == "YES",
        })
        .collect();

    let primary_key: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_catalog.pg_index i \
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass \
         AND i.indisprimary ORDER BY k.ord",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;

    let fk_rows: Vec<(String, Vec<String>, Vec<String>, String)> = sqlx::query_as(
        "SELECT rt.relname::text, \
           ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n \
                 ORDER BY k.o), \
           ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n \
                 ORDER BY k.o), \
           CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' \
             WHEN 'r' THEN 'RESTRICT' WHEN 'd' THEN 'SET DEFAULT' ELSE 'NO ACTION' END \
         FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class rt ON rt.oid = c.confrelid \
         WHERE c.contype = 'f' \
         AND c.conrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    let mut foreign_keys: Vec<ForeignKey> = fk_rows
        .into_iter()
        .map(
            |(references, columns, referenced_columns, on_delete)| ForeignKey {
                columns,
                references,
                referenced_columns,
                on_delete,
            },
        )
        .collect();
    foreign_keys.sort();

    let index_rows: Vec<(String, bool, bool, Vec<String>)> = sqlx::query_as(
        "SELECT ic.relname::text, i.indisunique, i.indpred IS NOT NULL, \
           ARRAY(SELECT COALESCE(a.attname::text, '<expression>') \
                 FROM unnest(i.indkey) WITH ORDINALITY k(n, o) \
                 LEFT JOIN pg_catalog.pg_attribute a \
                   ON a.attrelid = i.indrelid AND a.attnum = k.n \
                 ORDER BY k.o) \
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
         WHERE NOT i.indisprimary \
         AND i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass \
         ORDER BY 1",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    let indexes = index_rows
        .into_iter()
        .map(|(name, unique, partial, columns)| Index {
            name,
            columns,
            unique,
            partial,
        })
        .collect();
    Ok(Table {
        columns,
        primary_key,
        foreign_keys,
        indexes,
    })
}

/// Every application table at head. The parity test keeps this list equal to the schema the
/// migrations build, so operator checks can name a missing table.
pub const EXPECTED_TABLES: &[&str] = &[
    "admin_customer_notes",
    "audit_log",
    "backtest_trades",
    "backtests",
    "backup_codes",
    "billing_alert_configs",
    "bootstrap_tokens",
    "email_login_tokens",
    "historical_bars",
    "job_queue",
    "marketing_contacts",
    "onboarding_progress",
    "paper_accounts",
    "paper_fills",
    "paper_orders",
    "positions",
    "postmark_delivery_events",
    "postmark_inbound_messages",
    "rate_limits",
    "roles",
    "sessions",
    "status_webhook_events",
    "support_customer_map",
    "support_messages",
    "support_tickets",
    "symbols",
    "trace_events",
    "trace_workflows",
    "trading_runtime_state",
    "user_roles",
    "user_settings",
    "users",
    "vendor_billing_snapshots",
    "visual_feedback_settings",
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
}

/// Reads the server's version, TLS state and connection use.
pub async fn server_facts(db: &Db) -> Result<ServerFacts, sqlx::Error> {
    Ok(match &db.pool {
        Pool::Sqlite(pool) => ServerFacts {
            version: sqlx::query_scalar("SELECT sqlite_version()")
                .fetch_one(pool)
                .await?,
            tls: None,
            connections: None,
        },
        Pool::Postgres(pool) => {
            let version: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(pool)
                .await?;
            let tls: Option<bool> =
                sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                    .fetch_optional(pool)
                    .await?;
            let used: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()",
            )
            .fetch_one(pool)
            .await?;
            let limit: String = sqlx::query_scalar("SHOW max_connections")
                .fetch_one(pool)
                .await?;
            ServerFacts {
                version,
                tls: Some(tls.unwrap_or(false)),
                connections: Some((used, limit.parse().unwrap_or(0))),
            }
        }
    })
}

/// Rows in one of the [`EXPECTED_TABLES`] (None for any other name: never interpolated).
pub async fn row_count(db: &Db, table: &str) -> Result<Option<i64>, sqlx::Error> {
    let Some(known) = EXPECTED_TABLES.iter().find(|t| **t == table) else {
        return Ok(None);
    };
    let sql = format!("SELECT count(*) FROM {known}");
    Ok(Some(
        on_pool!(db, pool => sqlx::query_scalar(&sql).fetch_one(pool).await?),
    ))
}
