//! Staff customer management over real HTTP on both dialects.

use raptor_testkit::{accounts, assert_problem, dual_test, SoftAuthenticator, TestApp};
use serde_json::json;

dual_test!(staff_search_customers_with_paging, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
    for name in ["ada", "grace", "alan", "barbara_x"] {
        accounts::customer(&app, &format!("{name}@example.com")).await;
    }
    let page = root.get("/api/admin/customers?limit=2").await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(page.body["customers"].as_array().map(Vec::len), Some(2));
    let after = page.body["next_after"].as_i64().expect("a next page");
    let next = root
        .get(&format!("/api/admin/customers?limit=2&after={after}"))
        .await;
    let rest = root
        .get(&format!("/api/admin/customers?limit=10&after={after}"))
        .await;
    assert_eq!(next.body["customers"].as_array().map(Vec::len), Some(2));
    assert_eq!(rest.body["next_after"], json!(null));
    let emails = |body: &serde_json::Value| -> Vec<String> {
        body["customers"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["email"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        emails(&root.get("/api/admin/customers?query=GRACE").await.body),
        vec!["grace@example.com"]
    );
    // LIKE wildcards in the query are matched literally.
    assert_eq!(
        emails(&root.get("/api/admin/customers?query=_x").await.body),
        vec!["barbara_x@example.com"]
    );
    assert_eq!(root.get("/api/admin/customers?limit=0").await.status, 422);
    app.stop().await;
});

dual_test!(
    suspending_revokes_sessions_at_once_and_refuses_sign_in_until_reinstated,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut ada = app.browser();
        let mut key = SoftAuthenticator::new(app.origin());
        assert_eq!(
            key.sign_up(&mut ada, "ada@example.com", None).await.status,
            200
        );
        let id = accounts::user_id(&mut ada).await;

        let note = root
            .post(
                &format!("/api/admin/customers/{id}/notes"),
                json!({ "body": "Asked about margin." }),
            )
            .await;
        assert_eq!(note.status, 201, "{:?}", note.body);
        let suspended = root
            .post(
                &format!("/api/admin/customers/{id}/suspend"),
                json!({ "reason": "chargeback" }),
            )
            .await;
        assert_eq!(suspended.status, 200, "{:?}", suspended.body);
        assert_eq!(suspended.body["sessions_revoked"], 1);
        assert_eq!(
            ada.get("/api/auth/session").await.status,
            401,
            "a suspended user's session still works"
        );
        let refused = key.sign_in(&mut ada, "ada@example.com").await;
        assert_problem(&refused, 403, "account_suspended");

        let detail = root.get(&format!("/api/admin/customers/{id}")).await;
        assert_eq!(detail.body["customer"]["status"], "suspended");
        assert_eq!(detail.body["notes"][0]["body"], "Asked about margin.");
        assert_eq!(
            detail.body["sign_in_methods"]["passkeys"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(detail.body["paper_account"]["cash"], "100000");

        assert_eq!(
            root.post(&format!("/api/admin/customers/{id}/reinstate"), json!({}))
                .await
                .status,
            200
        );
        assert_eq!(key.sign_in(&mut ada, "ada@example.com").await.status, 200);
        let revoked = root
            .post(
                &format!("/api/admin/customers/{id}/sessions/revoke"),
                json!({}),
            )
            .await;
        assert_eq!(revoked.body["sessions_revoked"], 1);
        assert_eq!(ada.get("/api/auth/session").await.status, 401);

        let actions: Vec<String> = raptor_store::audit::recent(t.db(), None, 50)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .filter(|a| a.starts_with("customer."))
            .collect();
        assert_eq!(
            actions,
            vec![
                "customer.sessions.revoke",
                "customer.reinstate",
                "customer.suspend",
                "customer.note"
            ]
        );
        app.stop().await;
    }
);

dual_test!(
    support_reads_customers_but_only_admins_change_them,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut staff = accounts::support_staff(&app, &mut root, "help@example.com").await;
        let mut ada = accounts::customer(&app, "ada@example.com").await;
        let id = accounts::user_id(&mut ada).await;
        assert_eq!(
            staff
                .get(&format!("/api/admin/customers/{id}"))
                .await
                .status,
            200
        );
        assert_eq!(staff.get("/api/admin/customers").await.status, 200);
        let refused = staff
            .post(
                &format!("/api/admin/customers/{id}/suspend"),
                json!({ "reason": "x" }),
            )
            .await;
        assert_eq!(refused.status, 403);
        assert_eq!(
            staff
                .post(
                    &format!("/api/admin/customers/{id}/notes"),
                    json!({ "body": "x" })
                )
                .await
                .status,
            403
        );
        assert_eq!(ada.get("/api/admin/customers").await.status, 403);
        assert_eq!(
            ada.get("/api/auth/session").await.status,
            200,
            "a refused suspension took effect"
        );
        let own = accounts::user_id(&mut root).await;
        let myself = root
            .post(
                &format!("/api/admin/customers/{own}/suspend"),
                json!({ "reason": "x" }),
            )
            .await;
        assert_eq!(myself.status, 409);
        let empty = root
            .post(
                &format!("/api/admin/customers/{id}/notes"),
                json!({ "body": "  " }),
            )
            .await;
        assert_eq!(
            (empty.status, empty.body["field"].as_str()),
            (422, Some("body"))
        );
        assert_eq!(root.get("/api/admin/customers/999999").await.status, 404);
        app.stop().await;
    }
);
