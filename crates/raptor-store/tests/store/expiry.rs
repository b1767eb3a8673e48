//! Rows that can no longer be used are swept, and only those.

use chrono::Duration;
use raptor_store::{passkeys, rate_limits};
use raptor_testdb::dual_test;
use serde_json::json;

dual_test!(
    expired_ceremonies_are_purged_and_live_ones_kept,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let state = json!({ "s": 1 });
        passkeys::begin_ceremony(
            t.db(),
            b"old",
            "registration",
            None,
            &state,
            None,
            now,
            now - Duration::minutes(1),
        )
        .await
        .expect("old");
        passkeys::begin_ceremony(
            t.db(),
            b"new",
            "registration",
            None,
            &state,
            None,
            now,
            now + Duration::minutes(5),
        )
        .await
        .expect("new");
        assert_eq!(
            passkeys::purge_ceremonies(t.db(), now)
                .await
                .expect("purge"),
            1
        );
        assert!(passkeys::take_ceremony(t.db(), b"new", "registration")
            .await
            .expect("take")
            .is_some());
        assert!(
            passkeys::take_ceremony(t.db(), b"new", "registration")
                .await
                .expect("take")
                .is_none(),
            "taken twice"
        );
    }
);

dual_test!(
    rate_limit_windows_count_per_key_and_old_windows_are_purged,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let old = now - Duration::days(2);
        assert_eq!(rate_limits::hit(t.db(), "k", old).await.expect("hit"), 1);
        assert_eq!(rate_limits::hit(t.db(), "k", now).await.expect("hit"), 1);
        assert_eq!(rate_limits::hit(t.db(), "k", now).await.expect("hit"), 2);
        assert_eq!(
            rate_limits::hit(t.db(), "other", now).await.expect("hit"),
            1
        );
        assert_eq!(
            rate_limits::purge(t.db(), now - Duration::days(1))
                .await
                .expect("purge"),
            1
        );
        assert_eq!(t.scalar("SELECT count(*) FROM rate_limits").await, 2);
    }
);
