//! Schema introspection per dialect: `sqlite_master` and the `pragma_*` functions on SQLite,
//! `pg_catalog` and `information_schema` on PostgreSQL, both answered in the vocabulary of
//! [`crate::schema`] so the two can be compared.

use std::collections::BTreeMap;

use super::Pool;
use crate::schema::{Column, ColumnType, ForeignKey, Index, ServerFacts, Table};

/// Whether a table exists in the current schema.
pub(crate) async fn table_exists(pool: &Pool, name: &str) -> Result<bool, sqlx::Error> {
    match pool {
        Pool::Sqlite(pool) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)",
            )
            .bind(name)
            .fetch_one(pool)
            .await
        }
        Pool::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables \
                 WHERE schemaname = current_schema() AND tablename = $1)",
            )
            .bind(name)
            .fetch_one(pool)
            .await
        }
    }
}

/// Names of the tables in the current schema, sorted (partitions are not listed).
pub(crate) async fn table_names(pool: &Pool) -> Result<Vec<String>, sqlx::Error> {
    match pool {
        Pool::Sqlite(pool) => {
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .fetch_all(pool)
            .await
        }
        Pool::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
                 AND NOT c.relispartition ORDER BY 1",
            )
            .fetch_all(pool)
            .await
        }
    }
}

/// Describes one table: columns, primary key, foreign keys and indexes.
pub(crate) async fn describe_table(pool: &Pool, table: &str) -> Result<Table, sqlx::Error> {
    match pool {
        Pool::Sqlite(pool) => describe_sqlite(pool, table).await,
        Pool::Postgres(pool) => describe_postgres(pool, table).await,
    }
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
            column_type: sqlite_type(&declared),
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
            column_type: postgres_type(&data_type),
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

/// Reads the server's version, TLS state and connection use.
pub(crate) async fn server_facts(pool: &Pool) -> Result<ServerFacts, sqlx::Error> {
    Ok(match pool {
        Pool::Sqlite(pool) => ServerFacts {
            version: sqlx::query_scalar("SELECT sqlite_version()")
                .fetch_one(pool)
                .await?,
            tls: None,
            connections: None,
            shared_page_cache: Some(
                sqlx::query_scalar::<_, bool>(
                    "SELECT sqlite_compileoption_used('ENABLE_MEMORY_MANAGEMENT')",
                )
                .fetch_one(pool)
                .await?,
            ),
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
                shared_page_cache: None,
            }
        }
    })
}

/// A PostgreSQL `data_type` in the shared vocabulary.
fn postgres_type(data_type: &str) -> ColumnType {
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

/// A SQLite declared type in the shared vocabulary.
fn sqlite_type(declared: &str) -> ColumnType {
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" => ColumnType::Integer,
        "TEXT" => ColumnType::Text,
        "BOOLEAN" => ColumnType::Boolean,
        "REAL" => ColumnType::Float,
        "BLOB" => ColumnType::Bytes,
        other => ColumnType::Other(other.to_owned()),
    }
}
