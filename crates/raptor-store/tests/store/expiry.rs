//! Rows that can no longer be used are swept, and only those.

use chrono::Duration;
use raptor_store::sessions::{self, NewSession};
use raptor_store::tokens::LinkPurpose;
use raptor_store::{passkeys, rate_limits, tokens, users};
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
        assert!(passkeys::ceremony(t.db(), b"new", "registration")
            .await
            .expect("read")
            .is_some());
        let finish = || async {
            let mut tx = t.db().begin().await.expect("begin");
            let finished = passkeys::finish_ceremony(&mut tx, b"new")
                .await
                .expect("finish");
            tx.commit().await.expect("commit");
            finished
        };
        assert!(finish().await, "the first finish takes it");
        assert!(!finish().await, "finished twice");
        assert!(passkeys::ceremony(t.db(), b"new", "registration")
            .await
            .expect("read")
            .is_none());
    }
);

dual_test!(
    rate_limit_windows_count_per_key_hits_can_be_taken_back_and_old_windows_are_purged,
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
        rate_limits::unhit(t.db(), "k", now).await.expect("unhit");
        assert_eq!(
            rate_limits::hit(t.db(), "k", now).await.expect("hit"),
            2,
            "a hit taken back is not counted"
        );
        rate_limits::unhit(t.db(), "never", now)
            .await
            .expect("unhit");
        assert_eq!(
            rate_limits::purge(t.db(), now - Duration::days(1))
                .await
                .expect("purge"),
            1
        );
        assert_eq!(t.scalar("SELECT count(*) FROM rate_limits").await, 2);
    }
);

dual_test!(
    long_ended_sessions_and_expired_links_are_purged_and_live_ones_kept,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let mut tx = t.db().begin().await.expect("begin");
        let user = users::create(&mut tx, "ada@example.com", "Ada", b"handle-ada", now)
            .await
            .expect("user");
        for (hash, expires_at) in [
            (&b"expired-long-ago"[..], now - Duration::days(31)),
            (&b"expired-lately"[..], now - Duration::days(1)),
            (&b"live"[..], now + Duration::days(1)),
        ] {
            let new = NewSession {
                token_hash: hash,
                user_id: user.id,
                auth_method: "passkey",
                authenticated_at: Some(now - Duration::days(40)),
                ip: None,
                user_agent: None,
                expires_at,
            };
            sessions::create(&mut tx, &new, now - Duration::days(40))
                .await
                .expect("session");
        }
        tx.commit().await.expect("commit");
        for (hash, expires_at) in [
            (&b"link-old"[..], now - Duration::days(2)),
            (&b"link-live"[..], now + Duration::minutes(15)),
        ] {
            let link = tokens::NewLink {
                purpose: LinkPurpose::Login,
                token_hash: hash,
                email: &user.email,
                user_id: user.id,
                ip: None,
                expires_at,
            };
            tokens::issue_link(t.db(), &link, now).await.expect("link");
        }

        let cutoff = now - Duration::days(30);
        assert_eq!(
            sessions::purge_ended(t.db(), cutoff).await.expect("purge"),
            1
        );
        assert_eq!(t.scalar("SELECT count(*) FROM sessions").await, 2);
        assert_eq!(
            tokens::purge_expired(t.db(), now - Duration::days(1))
                .await
                .expect("purge"),
            1
        );
        let mut tx = t.db().begin().await.expect("begin");
        let used = tokens::use_link(&mut tx, LinkPurpose::Login, b"link-live", now)
            .await
            .expect("use");
        assert_eq!(used, Some(user.id), "a live link still signs in");
    }
);
