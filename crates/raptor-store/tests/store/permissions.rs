//! RBAC v2 storage: the permission catalogue the migrations seed agrees with the code's, the
//! seeded roles keep what they could do before, and grants that ended count for nothing.

use chrono::Duration;
use raptor_domain::{Permission, Role};
use raptor_store::sessions::{self, NewSession};
use raptor_store::users::{self, NewGrant};
use raptor_testdb::dual_test;

dual_test!(
    the_seeded_catalogue_matches_the_code_and_the_old_roles,
    Head,
    |t| {
        let mut code: Vec<(String, String)> = Permission::ALL
            .iter()
            .map(|p| (p.as_str().to_owned(), p.description().to_owned()))
            .collect();
        code.sort();
        assert_eq!(
        users::permission_catalogue(t.db()).await.expect("catalogue"),
        code,
        "a new Permission needs a migration inserting it into permissions (and granting it to admin)"
    );
        let names: Vec<String> = code.into_iter().map(|(name, _)| name).collect();
        let admin = users::role_permissions(t.db(), Role::Admin)
            .await
            .expect("admin");
        assert_eq!(admin, names, "admins hold every permission");
        let support = users::role_permissions(t.db(), Role::Support)
            .await
            .expect("support");
        assert_eq!(
            support,
            [
                "customers.read",
                "support.read",
                "support.reply",
                "traces.read"
            ]
        );
        let customer = users::role_permissions(t.db(), Role::Customer)
            .await
            .expect("customer");
        assert!(customer.is_empty(), "{customer:?}");
    }
);

dual_test!(
    an_ended_grant_gives_neither_role_nor_permission,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let mut tx = t.db().begin().await.expect("begin");
        let user = users::create(&mut tx, "ada@example.com", "Ada", b"ada-handle", now)
            .await
            .expect("user");
        let grant = NewGrant {
            user_id: user.id,
            role: Role::Support,
            granted_by: None,
            expires_at: Some(now + Duration::hours(1)),
            reason: Some("holiday cover"),
        };
        users::grant_role(&mut tx, &grant, now)
            .await
            .expect("grant");
        tx.commit().await.expect("commit");

        let during = now + Duration::minutes(59);
        assert_eq!(
            users::roles(t.db(), user.id, during).await.expect("roles"),
            [Role::Support]
        );
        assert!(users::permissions(t.db(), user.id, during)
            .await
            .expect("permissions")
            .contains(&"customers.read".to_owned()));
        let after = now + Duration::hours(1);
        assert!(users::roles(t.db(), user.id, after)
            .await
            .expect("roles")
            .is_empty());
        assert!(users::permissions(t.db(), user.id, after)
            .await
            .expect("permissions")
            .is_empty());

        // Granting again renews the same row with the new end and reason.
        let mut tx = t.db().begin().await.expect("begin");
        let renewed = NewGrant {
            expires_at: None,
            reason: Some("permanent now"),
            ..grant
        };
        users::grant_role(&mut tx, &renewed, after)
            .await
            .expect("renew");
        let stored = users::grant_of(&mut tx, user.id, Role::Support)
            .await
            .expect("grant")
            .expect("held");
        tx.commit().await.expect("commit");
        assert_eq!(
            (stored.expires_at, stored.reason.as_deref()),
            (None, Some("permanent now"))
        );
        assert_eq!(t.scalar("SELECT count(*) FROM user_roles").await, 1);
    }
);

dual_test!(
    a_signed_in_read_carries_only_the_live_grants_and_only_for_a_live_session,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let mut tx = t.db().begin().await.expect("begin");
        let user = users::create(&mut tx, "ada@example.com", "Ada", b"ada-handle", now)
            .await
            .expect("user");
        for (role, expires_at) in [
            (Role::Support, Some(now + Duration::hours(1))),
            (Role::Customer, None),
        ] {
            let grant = NewGrant {
                user_id: user.id,
                role,
                granted_by: None,
                expires_at,
                reason: None,
            };
            users::grant_role(&mut tx, &grant, now)
                .await
                .expect("grant");
        }
        let session = NewSession {
            token_hash: b"hash-of-the-token",
            user_id: user.id,
            auth_method: "passkey",
            authenticated_at: Some(now),
            ip: None,
            user_agent: None,
            expires_at: now + Duration::days(1),
        };
        sessions::create(&mut tx, &session, now)
            .await
            .expect("session");
        tx.commit().await.expect("commit");
        let read =
            |at| sessions::signed_in(t.db(), b"hash-of-the-token", at, at - Duration::days(1));

        let during = read(now + Duration::minutes(59))
            .await
            .expect("read")
            .expect("live");
        assert_eq!(during.user, user);
        assert_eq!(during.roles, ["customer", "support"]);
        assert!(during.permissions.contains(&"customers.read".to_owned()));

        let after = read(now + Duration::hours(2))
            .await
            .expect("read")
            .expect("live");
        assert_eq!(after.roles, ["customer"], "the ended grant is gone");
        assert!(after.permissions.is_empty(), "{:?}", after.permissions);

        let unknown = sessions::signed_in(t.db(), b"another", now, now - Duration::days(1));
        assert!(unknown.await.expect("read").is_none());
        let expired = read(now + Duration::days(2)).await.expect("read");
        assert!(expired.is_none(), "past its end");
    }
);
