//! Both dialects end with the same tables, columns, nullability, keys and indexes.

use raptor_store::schema::{self, ColumnType, Schema};
use raptor_testdb::{Dialect, Start, TestDb};

async fn schema_at_head(dialect: Dialect) -> Schema {
    let t = TestDb::create(dialect, Start::Head).await;
    let mut described = schema::describe(t.db()).await.expect("describe");
    t.finish().await;
    // alembic_version is alembic's own definition (VARCHAR(32)) on both sides.
    described.retain(|name, _| !schema::BOOKKEEPING_TABLES.contains(&name.as_str()));
    described
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_match() {
    let sqlite = schema_at_head(Dialect::Sqlite).await;
    let postgres = schema_at_head(Dialect::Postgres).await;
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "table sets differ"
    );
    for (name, pg) in &postgres {
        let lite = &sqlite[name];
        let pg_columns: Vec<_> = pg
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.column_type.on_sqlite(), c.nullable))
            .collect();
        let lite_columns: Vec<_> = lite
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.column_type.clone(), c.nullable))
            .collect();
        assert_eq!(lite_columns, pg_columns, "columns of {name}");
        // PostgreSQL partitions the trace tables by time (SC-11) and requires the partition
        // column in every unique key; SQLite keeps the plain key.
        let mut lite_key = lite.primary_key.clone();
        match name.as_str() {
            "trace_events" => lite_key.push("created_at".into()),
            "trace_workflows" => lite_key.push("started_at".into()),
            _ => {}
        }
        assert_eq!(lite_key, pg.primary_key, "primary key of {name}");
        assert_eq!(lite.foreign_keys, pg.foreign_keys, "foreign keys of {name}");
        assert_eq!(lite.indexes, pg.indexes, "indexes of {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_uses_64_bit_integers_and_real_types() {
    let postgres = schema_at_head(Dialect::Postgres).await;
    for (table, description) in &postgres {
        for column in &description.columns {
            assert!(
                !matches!(column.column_type, ColumnType::Other(_)),
                "{table}.{} has type {:?}: integers must be BIGINT, text TEXT, times TIMESTAMPTZ",
                column.name,
                column.column_type
            );
        }
    }
    let bars = &postgres["historical_bars"];
    let ts = bars
        .columns
        .iter()
        .find(|c| c.name == "ts")
        .expect("ts column");
    assert_eq!(ts.column_type, ColumnType::Timestamp);
    let cash = postgres["paper_accounts"]
        .columns
        .iter()
        .find(|c| c.name == "cash")
        .expect("cash");
    assert_eq!(cash.column_type, ColumnType::Decimal, "money must be exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn historical_bars_are_unique_per_symbol_timeframe_and_time() {
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let schema = schema_at_head(dialect).await;
        let bars = &schema["historical_bars"];
        let key = ["symbol", "timeframe", "ts"].map(String::from).to_vec();
        let unique = bars.primary_key == key
            || bars
                .indexes
                .iter()
                .any(|i| i.unique && !i.partial && i.columns == key);
        assert!(unique, "{dialect}: {bars:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expected_table_list_matches_the_migrated_schema() {
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let names: Vec<String> = schema_at_head(dialect).await.into_keys().collect();
        let expected: Vec<String> = schema::EXPECTED_TABLES
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            names, expected,
            "{dialect}: update schema::EXPECTED_TABLES with the migration"
        );
    }
}
