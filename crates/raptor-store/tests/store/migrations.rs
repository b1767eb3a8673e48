//! Migration behaviour on both dialects: upgrade, downgrade, stamp, current, failures, drift.

use raptor_store::migrate::{MigrationError, Migrator, Revision, Scripts};
use raptor_store::schema;
use raptor_store::StoreError;
use raptor_testdb::{dual_test, TestDb};

/// The tables the seeds name and the runbook's pre-check lists.
const SEED_TABLES: &[&str] = &[
    "users",
    "sessions",
    "webauthn_credentials",
    "paper_orders",
    "historical_bars",
    "vendor_billing_snapshots",
    "audit_log",
    "trace_events",
    "trace_workflows",
];

/// A revision whose SQL is the same on both dialects.
const fn portable(id: &'static str, up: &'static str, down: &'static str) -> Revision {
    Revision {
        id,
        message: id,
        sqlite: Scripts { up, down },
        postgres: Scripts { up, down },
        transactional: true,
        foreign_keys_off: false,
    }
}

const CREATE_ONE: Revision = portable(
    "0001_one",
    "CREATE TABLE one (id BIGINT);",
    "DROP TABLE one;",
);
const CREATE_TWO: Revision = portable(
    "0002_two",
    "CREATE TABLE two (id BIGINT);",
    "DROP TABLE two;",
);

async fn tables(t: &TestDb) -> Vec<String> {
    schema::table_names(t.db()).await.expect("list tables")
}

async fn app_tables(t: &TestDb) -> Vec<String> {
    tables(t)
        .await
        .into_iter()
        .filter(|name| !schema::BOOKKEEPING_TABLES.contains(&name.as_str()))
        .collect()
}

/// The schema without the migrator's bookkeeping tables (created by the first upgrade).
async fn app_schema(t: &TestDb) -> schema::Schema {
    let mut described = schema::describe(t.db()).await.expect("describe");
    described.retain(|name, _| !schema::BOOKKEEPING_TABLES.contains(&name.as_str()));
    described
}

async fn current(t: &TestDb) -> Option<String> {
    raptor_store::migrate::current_revision(t.db())
        .await
        .expect("current")
}

dual_test!(upgrade_head_creates_the_whole_schema, Empty, |t| {
    let migrator = Migrator::embedded();
    let steps = migrator.upgrade(t.db(), "head").await.expect("upgrade");
    assert_eq!(steps.len(), migrator.revisions().len());
    assert_eq!(
        steps[0].to_string(),
        "Running upgrade  -> 0001_raptor_baseline, raptor baseline"
    );
    let names = app_tables(t).await;
    assert!(names.len() >= 35, "only {} tables: {names:?}", names.len());
    for table in SEED_TABLES {
        assert!(
            names.iter().any(|n| n == table),
            "{table} missing from {names:?}"
        );
    }
    let status = migrator.status(t.db()).await.expect("status");
    assert!(status.is_head() && status.drift.is_empty(), "{status:?}");
    assert_eq!(
        status.to_string(),
        format!("{} (head)", migrator.head().expect("head"))
    );
});

dual_test!(
    upgrading_through_every_revision_one_step_at_a_time_reaches_head,
    Empty,
    |t| {
        let migrator = Migrator::embedded();
        for (i, revision) in migrator.revisions().iter().enumerate() {
            let steps = migrator.upgrade(t.db(), "+1").await.expect("+1");
            assert_eq!(steps.len(), 1, "step {i}");
            assert_eq!(steps[0].to.as_deref(), Some(revision.id));
        }
        assert!(migrator.status(t.db()).await.expect("status").is_head());
        for _ in migrator.revisions() {
            migrator.downgrade(t.db(), "-1").await.expect("-1");
        }
        assert_eq!(current(t).await, None);
        assert_eq!(app_tables(t).await, Vec::<String>::new());
    }
);

dual_test!(
    each_down_script_restores_the_schema_its_up_script_found,
    Empty,
    |t| {
        let migrator = Migrator::embedded();
        for revision in migrator.revisions() {
            let before = app_schema(t).await;
            migrator.upgrade(t.db(), "+1").await.expect("+1");
            migrator.downgrade(t.db(), "-1").await.expect("-1");
            let after = app_schema(t).await;
            assert_eq!(
                after, before,
                "down of {} left a different schema",
                revision.id
            );
            migrator.upgrade(t.db(), "+1").await.expect("+1 again");
        }
    }
);

dual_test!(upgrade_at_head_changes_nothing, Head, |t| {
    let steps = Migrator::embedded()
        .upgrade(t.db(), "head")
        .await
        .expect("upgrade");
    assert!(steps.is_empty(), "{steps:?}");
    assert_eq!(
        t.scalar("SELECT count(*) FROM alembic_version").await,
        1,
        "alembic_version keeps exactly one row"
    );
});

dual_test!(
    downgrade_base_then_upgrade_head_restores_schema,
    Head,
    |t| {
        let migrator = Migrator::embedded();
        let before = schema::describe(t.db()).await.expect("describe");
        migrator.downgrade(t.db(), "base").await.expect("downgrade");
        assert_eq!(app_tables(t).await, Vec::<String>::new());
        assert_eq!(current(t).await, None);
        assert_eq!(
            t.scalar("SELECT count(*) FROM raptor_migration_checksums")
                .await,
            0
        );
        migrator
            .upgrade(t.db(), "head")
            .await
            .expect("upgrade again");
        assert_eq!(schema::describe(t.db()).await.expect("describe"), before);
    }
);

dual_test!(stamp_records_a_revision_without_running_sql, Empty, |t| {
    let migrator = Migrator::embedded();
    let stamped = migrator.stamp(t.db(), "head").await.expect("stamp");
    assert_eq!(stamped.as_deref(), migrator.head());
    assert_eq!(current(t).await.as_deref(), migrator.head());
    assert_eq!(app_tables(t).await, Vec::<String>::new(), "stamp ran SQL");
    assert!(migrator
        .status(t.db())
        .await
        .expect("status")
        .drift
        .is_empty());
    migrator.stamp(t.db(), "base").await.expect("stamp base");
    assert_eq!(current(t).await, None);
});

dual_test!(stamp_repairs_a_revision_that_cannot_be_located, Head, |t| {
    t.execute("UPDATE alembic_version SET version_num = 'f00dcafe'")
        .await;
    let migrator = Migrator::embedded();
    let err = migrator.upgrade(t.db(), "head").await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "Can't locate revision identified by 'f00dcafe'"
    );
    let err = migrator.status(t.db()).await.expect_err("refused");
    assert!(
        matches!(err, StoreError::Migration(MigrationError::UnknownRevision(ref r)) if r == "f00dcafe"),
        "{err}"
    );
    migrator.stamp(t.db(), "head").await.expect("stamp");
    assert!(migrator
        .upgrade(t.db(), "head")
        .await
        .expect("upgrade")
        .is_empty());
});

dual_test!(
    unknown_target_is_refused_and_nothing_is_applied,
    Empty,
    |t| {
        let err = Migrator::embedded()
            .upgrade(t.db(), "0002_does_not_exist")
            .await
            .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "Can't locate revision identified by '0002_does_not_exist'"
        );
        assert_eq!(app_tables(t).await, Vec::<String>::new());
    }
);

dual_test!(failed_revision_leaves_the_previous_revision, Empty, |t| {
    let broken = portable(
        "0002_broken",
        "CREATE TABLE two (id BIGINT);\nINSERT INTO no_such_table VALUES (1);",
        "DROP TABLE two;",
    );
    let migrator = Migrator::new(vec![CREATE_ONE, broken]);
    let err = migrator.upgrade(t.db(), "head").await.expect_err("fails");
    assert!(
        matches!(
            err,
            StoreError::Migration(MigrationError::StepFailed { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("the database stays at 0001_one"),
        "{err}"
    );
    assert_eq!(current(t).await.as_deref(), Some("0001_one"));
    assert_eq!(
        app_tables(t).await,
        vec!["one".to_owned()],
        "half a revision was left behind"
    );
});

dual_test!(relative_steps_move_one_revision_at_a_time, Empty, |t| {
    let migrator = Migrator::new(vec![CREATE_ONE, CREATE_TWO]);
    migrator.upgrade(t.db(), "+1").await.expect("+1");
    assert_eq!(current(t).await.as_deref(), Some("0001_one"));
    migrator.upgrade(t.db(), "head").await.expect("head");
    migrator.downgrade(t.db(), "-1").await.expect("-1");
    assert_eq!(current(t).await.as_deref(), Some("0001_one"));
    assert_eq!(app_tables(t).await, vec!["one".to_owned()]);
    let err = migrator
        .upgrade(t.db(), "base")
        .await
        .expect_err("wrong way");
    assert!(
        matches!(
            err,
            StoreError::Migration(MigrationError::WrongDirection { .. })
        ),
        "{err}"
    );
});

dual_test!(
    edited_applied_revision_is_reported_until_accepted,
    Empty,
    |t| {
        Migrator::new(vec![CREATE_ONE])
            .upgrade(t.db(), "head")
            .await
            .expect("upgrade");
        let edited = portable(
            "0001_one",
            "CREATE TABLE one (id BIGINT, note TEXT);",
            "DROP TABLE one;",
        );
        let migrator = Migrator::new(vec![edited, CREATE_TWO]);

        let status = migrator.status(t.db()).await.expect("status");
        assert_eq!(status.drift.len(), 1, "{status:?}");
        assert!(status
            .to_string()
            .contains("WARNING: revision 0001_one was applied with checksum"));

        let err = migrator.upgrade(t.db(), "head").await.expect_err("refused");
        assert!(
            matches!(err, StoreError::Migration(MigrationError::Drift(_))),
            "{err}"
        );
        assert!(
            err.to_string().contains("raptor db accept-checksum"),
            "{err}"
        );
        assert_eq!(
            current(t).await.as_deref(),
            Some("0001_one"),
            "moved despite drift"
        );

        migrator
            .accept_checksum(t.db(), "0001_one")
            .await
            .expect("accept");
        assert!(migrator
            .status(t.db())
            .await
            .expect("status")
            .drift
            .is_empty());
        migrator
            .upgrade(t.db(), "head")
            .await
            .expect("upgrade after review");
        assert_eq!(current(t).await.as_deref(), Some("0002_two"));
    }
);

dual_test!(
    accepting_a_revision_that_is_not_applied_is_refused,
    Empty,
    |t| {
        let migrator = Migrator::new(vec![CREATE_ONE, CREATE_TWO]);
        migrator.upgrade(t.db(), "0001_one").await.expect("upgrade");
        let err = migrator
            .accept_checksum(t.db(), "0002_two")
            .await
            .expect_err("refused");
        assert!(
            matches!(
                err,
                StoreError::Migration(MigrationError::WrongDirection { .. })
            ),
            "{err}"
        );
    }
);

dual_test!(
    two_pools_upgrading_at_once_apply_each_revision_once,
    Empty,
    |t| {
        let other = t.connect_again().await;
        let migrator = Migrator::embedded();
        let (a, b) = tokio::join!(
            migrator.upgrade(t.db(), "head"),
            migrator.upgrade(&other, "head")
        );
        other.close().await;
        let applied = a.expect("first").len() + b.expect("second").len();
        let revisions = migrator.revisions().len();
        assert_eq!(
            applied, revisions,
            "{revisions} revisions ran {applied} times"
        );
        assert_eq!(current(t).await.as_deref(), migrator.head());
    }
);

dual_test!(
    the_order_classes_revision_keeps_orders_and_refuses_to_go_back_past_a_working_group,
    Empty,
    |t| {
        let migrator = Migrator::embedded();
        migrator
            .upgrade(t.db(), "0015_trade_updates")
            .await
            .expect("to 0015");
        let handle = match t.dialect().name() {
            "sqlite" => "X'01'",
            _ => "'\\x01'::bytea",
        };
        let at = "'2026-01-02T00:00:00Z'";
        t.execute(&format!(
            "INSERT INTO users (id, email, display_name, user_handle, created_at, updated_at) \
             VALUES (1, 'a@example.com', 'A', {handle}, {at}, {at})"
        ))
        .await;
        t.execute(&format!(
            "INSERT INTO paper_accounts (id, user_id, cash, starting_cash, created_at, updated_at) \
             VALUES (1, 1, 100000, 100000, {at}, {at})"
        ))
        .await;
        let order =
            |id: i64, class: &str, status: &str| {
                format!(
                "INSERT INTO paper_orders (id, account_id, client_order_id, symbol, side, type, \
                 time_in_force, qty, status, filled_qty, created_at, submitted_at, updated_at{}) \
                 VALUES ({id}, 1, 'order-{id}', 'AAPL', 'buy', 'limit', 'gtc', 2, '{status}', 0, \
                 {at}, {at}, {at}{})",
                if class.is_empty() { "" } else { ", order_class" },
                if class.is_empty() { String::new() } else { format!(", '{class}'") },
            )
            };
        t.execute(&order(1, "", "new")).await;
        migrator.upgrade(t.db(), "head").await.expect("to head");
        assert_eq!(
            t.scalar(
                "SELECT count(*) FROM paper_orders WHERE id = 1 AND order_class = 'simple' \
                      AND client_order_id = 'order-1' AND parent_id IS NULL"
            )
            .await,
            1,
            "the rebuild kept the order"
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM paper_orders WHERE type = 'trailing_stop'")
                .await,
            0
        );
        t.execute(&order(2, "bracket", "held")).await;
        let refused = migrator.downgrade(t.db(), "0015_trade_updates").await;
        assert!(refused.is_err(), "went back past a held leg");
        assert_eq!(current(t).await.as_deref(), Some("0016_order_classes"));
        assert_eq!(
            t.scalar("SELECT count(*) FROM paper_orders").await,
            2,
            "nothing lost"
        );
        t.execute("UPDATE paper_orders SET status = 'canceled' WHERE id = 2")
            .await;
        migrator
            .downgrade(t.db(), "0015_trade_updates")
            .await
            .expect("back to 0015 once no group works");
        assert_eq!(t.scalar("SELECT count(*) FROM paper_orders").await, 2);
    }
);
