//! Each branch of the dialect module on its own dialect: the row lock (and what is read once it
//! is held), the catalogue's server facts and table lookups, where trace partitions exist, and
//! what role separation needs.

use raptor_domain::orders::{OrderClass, OrderStatus, OrderType, Side, TimeInForce};
use raptor_store::privileges::{self, RoleError};
use raptor_store::{rate_limits, schema, traces, trading, users, DbDecimal, Dialect, StoreError};
use raptor_testdb::{dual_test, TestDb};
use rust_decimal::Decimal;

async fn account(t: &TestDb) -> i64 {
    let mut tx = t.db().begin().await.expect("begin");
    let user = users::create(
        &mut tx,
        "lock@example.com",
        "Lock",
        b"lock-handle",
        raptor_testdb::now(),
    )
    .await
    .expect("user");
    let account = users::open_paper_account(
        &mut tx,
        user.id,
        Decimal::new(1000, 0),
        "USD",
        raptor_testdb::now(),
    )
    .await
    .expect("account");
    tx.commit().await.expect("commit");
    account
}

dual_test!(lock_account_holds_the_account_until_commit, Head, |t| {
    let id = account(t).await;
    let mut tx = t.db().begin().await.expect("begin");
    let locked = trading::lock_account(&mut tx, id).await.expect("lock");
    assert_eq!(locked.id, id);
    match t.dialect() {
        // The row lock: another session cannot take the row meanwhile.
        Dialect::Postgres => {
            let other = sqlx::PgPool::connect(t.url())
                .await
                .expect("second session");
            let err = sqlx::query("SELECT id FROM paper_accounts WHERE id = $1 FOR UPDATE NOWAIT")
                .bind(id)
                .execute(&other)
                .await
                .expect_err("the account row is locked");
            let code = err
                .as_database_error()
                .and_then(|e| e.code())
                .map(|c| c.into_owned());
            assert_eq!(code.as_deref(), Some("55P03"), "{err}");
            other.close().await;
        }
        // No row lock on SQLite: BEGIN IMMEDIATE holds the database's write lock instead.
        Dialect::Sqlite => {
            let path = t
                .url()
                .strip_prefix("sqlite:///")
                .expect("a SQLite file URL");
            let other = rusqlite::Connection::open(path).expect("second connection");
            let err = other
                .execute_batch("BEGIN IMMEDIATE")
                .expect_err("another writer holds the write lock");
            assert!(err.to_string().contains("locked"), "{err}");
        }
    }
    tx.commit().await.expect("commit");
});

dual_test!(server_facts_describe_each_dialect, Head, |t| {
    let facts = schema::server_facts(t.db()).await.expect("facts");
    assert!(!facts.version.is_empty());
    match t.dialect() {
        // Built as the workspace builds it: a page cache per connection.
        Dialect::Sqlite => assert_eq!(
            (facts.tls, facts.connections, facts.shared_page_cache),
            (None, None, Some(false))
        ),
        Dialect::Postgres => {
            assert_eq!(facts.shared_page_cache, None);
            assert!(facts.tls.is_some());
            let (used, limit) = facts.connections.expect("connection use");
            assert!(used >= 1 && limit >= used, "{used}/{limit}");
        }
    }
});

dual_test!(table_lookups_see_the_schema, Head, |t| {
    assert!(schema::table_exists(t.db(), "users").await.expect("exists"));
    assert!(!schema::table_exists(t.db(), "no_such_table")
        .await
        .expect("exists"));
    let names = schema::table_names(t.db()).await.expect("names");
    assert!(names.iter().any(|n| n == "alembic_version"), "{names:?}");
});

dual_test!(trace_partitions_exist_where_the_dialect_says, Head, |t| {
    traces::ensure_partitions(t.db(), 1).await.expect("ensure");
    let partitions = traces::partitions(t.db()).await.expect("partitions");
    assert_eq!(
        !partitions.is_empty(),
        t.dialect().partitions_traces(),
        "{partitions:?}"
    );
    let timescale = traces::timescale(t.db()).await.expect("timescale");
    assert_eq!(timescale.is_some(), t.dialect() == Dialect::Postgres);
});

dual_test!(role_separation_needs_postgres, Head, |t| {
    let name = privileges::database_name(t.db()).await;
    match t.dialect() {
        Dialect::Sqlite => assert!(
            matches!(name, Err(StoreError::Role(RoleError::NotPostgres))),
            "{name:?}"
        ),
        Dialect::Postgres => assert!(!name.expect("database name").is_empty()),
    }
});

dual_test!(
    a_write_whose_caller_gives_up_while_it_waits_leaves_no_transaction_behind,
    Head,
    |t| {
        // Another process holds SQLite's write lock, so Raptor's next writes wait for it.
        // (PostgreSQL's BEGIN waits for nothing: there the callers below give up at once.)
        let holder = t.url().strip_prefix("sqlite:///").map(|path| {
            let other = rusqlite::Connection::open(path).expect("second connection");
            other.execute_batch("BEGIN IMMEDIATE").expect("write lock");
            other
        });
        // Callers that stop waiting for their transaction (a client hung up) ...
        for _ in 0..3 {
            let gave_up =
                tokio::time::timeout(std::time::Duration::from_millis(50), t.db().begin()).await;
            if let Ok(tx) = gave_up {
                drop(tx.expect("begin"));
            }
        }
        drop(holder);
        // ... leave every pooled connection free to write and commit again.
        for n in 0..20 {
            let mut tx = t
                .db()
                .begin()
                .await
                .expect("begin after the others gave up");
            users::create(
                &mut tx,
                &format!("writer{n}@example.com"),
                "Writer",
                format!("handle-{n}").as_bytes(),
                raptor_testdb::now(),
            )
            .await
            .expect("write");
            tx.commit().await.expect("commit");
        }
        assert_eq!(
            t.scalar("SELECT count(*) FROM users WHERE email LIKE 'writer%'")
                .await,
            20
        );
    }
);

dual_test!(
    reads_answer_while_writers_queue_behind_an_open_write,
    Head,
    |t| {
        // Two pooled connections: on PostgreSQL the open write holds one and the read needs the
        // other; on a SQLite file the write has a connection of its own.
        let settings = raptor_store::EngineSettings {
            max_connections: 2,
            ..Default::default()
        };
        let db = raptor_store::Db::connect_with(&t.database_url(), &settings)
            .await
            .expect("pool");
        let window = raptor_testdb::now();
        let open = db.begin().await.expect("begin");
        // On SQLite these wait for the open write; waiting, they must not sit on a connection.
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { rate_limits::hit(&db, "queued", window).await })
            })
            .collect();
        if t.dialect() == Dialect::Sqlite {
            // Not a sleep: each yield lets the writers run until all three wait for their turn.
            let queued = async {
                while db.writers_waiting() < 3 {
                    tokio::task::yield_now().await;
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(20), queued)
                .await
                .expect("three writers wait for their turn");
        }
        db.ping()
            .await
            .expect("a read answers while writers wait for their turn");
        open.commit().await.expect("commit");
        let mut counts = Vec::new();
        for writer in writers {
            counts.push(writer.await.expect("writer").expect("hit"));
        }
        counts.sort_unstable();
        assert_eq!(counts, [1, 2, 3], "every queued write happened once");
        db.close().await;
    }
);

dual_test!(
    an_account_locked_for_an_order_reads_what_the_writer_it_waited_for_committed,
    Head,
    |t| {
        let id = account(t).await;
        let user_id = t
            .scalar(&format!(
                "SELECT user_id FROM paper_accounts WHERE id = {id}"
            ))
            .await;
        let at = raptor_testdb::now();
        let mut first = t.db().begin().await.expect("begin");
        trading::lock_account(&mut first, id).await.expect("lock");
        let db = t.db().clone();
        let second = tokio::spawn(async move {
            let mut tx = db.begin().await.expect("begin");
            let locked = trading::lock_trading_account(&mut tx, id, "AAPL")
                .await
                .expect("lock for an order");
            tx.commit().await.expect("commit");
            locked
        });
        // Not a sleep: the second transaction is waiting for the first's lock (on SQLite, for its
        // turn to write) before the first writes anything.
        let waiting = async {
            loop {
                let waits = match t.dialect() {
                    Dialect::Sqlite => t.db().writers_waiting() as i64,
                    Dialect::Postgres => {
                        t.scalar(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                             AND datname = current_database()",
                        )
                        .await
                    }
                };
                if waits > 0 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), waiting)
            .await
            .expect("the second transaction waits for the first");
        let position = trading::Position {
            symbol: "AAPL".into(),
            qty: DbDecimal(Decimal::new(5, 0)),
            avg_entry_price: DbDecimal(Decimal::new(100, 0)),
            cost_basis: DbDecimal(Decimal::new(500, 0)),
        };
        trading::save_position(&mut first, id, &position, at)
            .await
            .expect("position");
        let working = trading::NewOrder {
            account_id: id,
            client_order_id: "working",
            symbol: "AAPL",
            side: Side::Sell,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            qty: Some(Decimal::ONE),
            notional: None,
            limit_price: Some(Decimal::new(200, 0)),
            stop_price: None,
            status: OrderStatus::New,
            reject_reason: None,
            replaces: None,
            order_class: OrderClass::Simple,
            parent_id: None,
            trail: None,
            hwm: None,
            extended_hours: false,
            fill: None,
        };
        trading::insert_order(&mut first, &working, at)
            .await
            .expect("working order");
        trading::set_kill_switch(&mut first, id, true, Some("test"), user_id, at)
            .await
            .expect("kill switch");
        first.commit().await.expect("commit");
        let locked = second.await.expect("second transaction");
        assert_eq!(
            locked.position,
            Some(position),
            "the position written before"
        );
        assert_eq!(locked.pending_orders, 1, "the order placed before");
        assert!(locked.kill_switch, "the kill switch set before");
    }
);
