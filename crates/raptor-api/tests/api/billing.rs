//! Operator billing over real HTTP on both dialects.

use raptor_testkit::{accounts, assert_problem, dual_app_test};
use serde_json::json;

dual_app_test!(
    the_snapshot_is_an_empty_well_formed_200_for_an_admin_on_a_fresh_database,
    |t, app| {
        let mut root = accounts::admin(app, t.db(), "root@example.com").await;
        let snapshot = root.get("/api/billing/snapshot").await;
        assert_eq!(snapshot.status, 200, "{:?}", snapshot.body);
        assert_eq!(snapshot.body["vendors"], json!([]));
        assert_eq!(snapshot.body["totals"], json!([]));
        let mut customer = accounts::customer(app, "ada@example.com").await;
        assert_eq!(customer.get("/api/billing/snapshot").await.status, 403);
        assert_eq!(app.browser().get("/api/billing/snapshot").await.status, 401);
    }
);

fn snapshot(vendor: &str, amount: &str) -> serde_json::Value {
    json!({
        "vendor": vendor, "amount": amount, "currency": "USD",
        "period_start": "2026-10-01T00:00:00Z", "period_end": "2026-11-01T00:00:00Z"
    })
}

dual_app_test!(
    the_snapshot_shows_each_vendors_latest_cost_and_an_exact_total,
    |t, app| {
        let mut root = accounts::admin(app, t.db(), "root@example.com").await;
        for (vendor, amount) in [
            ("heroku-postgres", "50.00"),
            ("alpaca", "99.10"),
            ("heroku-postgres", "50.20"),
            ("postmark", "0.10"),
        ] {
            let reply = root
                .post("/api/billing/snapshots", snapshot(vendor, amount))
                .await;
            assert_eq!(reply.status, 201, "{:?}", reply.body);
        }
        let body = root.get("/api/billing/snapshot").await.body;
        let vendors: Vec<(String, String)> = body["vendors"]
            .as_array()
            .expect("vendors")
            .iter()
            .map(|v| {
                (
                    v["vendor"].as_str().unwrap_or_default().into(),
                    v["amount"].as_str().unwrap_or_default().into(),
                )
            })
            .collect();
        assert_eq!(
            vendors,
            vec![
                ("alpaca".into(), "99.1".into()),
                ("heroku-postgres".into(), "50.2".into()),
                ("postmark".into(), "0.1".into())
            ]
        );
        assert_eq!(
            body["totals"],
            json!([{ "currency": "USD", "amount": "149.4" }]),
            "binary floats would drift here"
        );
    }
);

dual_app_test!(bad_snapshots_name_the_field_and_store_nothing, |t, app| {
    let mut root = accounts::admin(app, t.db(), "root@example.com").await;
    let mut backwards = snapshot("alpaca", "1");
    backwards["period_end"] = json!("2026-09-01T00:00:00Z");
    let mut currency = snapshot("alpaca", "1");
    currency["currency"] = json!("usd");
    let mut beyond = snapshot("alpaca", "1");
    beyond["period_end"] = json!("+262142-12-31T00:00:00Z");
    for (body, field) in [
        (snapshot("alpaca", "-5"), "amount"),
        (snapshot("alpaca", "0.000000001"), "amount"),
        (snapshot("", "1"), "vendor"),
        (backwards, "period_end"),
        (currency, "currency"),
        (beyond, "period_end"),
    ] {
        let reply = root.post("/api/billing/snapshots", body).await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (422, Some(field)),
            "{:?}",
            reply.body
        );
    }
    let reply = root
        .post(
            "/api/billing/snapshots",
            json!({ "vendor": "alpaca", "amount": 5 }),
        )
        .await;
    assert_eq!(reply.status, 422, "{:?}", reply.body);
    // Written as no decimal is: never read as 10.
    let reply = root
        .post("/api/billing/snapshots", snapshot("alpaca", "1_0"))
        .await;
    let problem = assert_problem(&reply, 422, "invalid_body");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("amount")),
        "{problem}"
    );
    assert_eq!(
        t.scalar("SELECT count(*) FROM vendor_billing_snapshots")
            .await,
        0
    );
});

dual_app_test!(
    crossing_a_threshold_raises_one_alert_with_an_audit_entry_and_an_email,
    |t, app| {
        let mut root = accounts::admin(app, t.db(), "root@example.com").await;
        let alerts = json!({ "alerts": [
            { "vendor": "alpaca", "threshold": "100", "notify_email": "Billing@Raxx.app" },
            { "threshold": "150" }
        ]});
        let put = root
            .send(reqwest::Method::PUT, "/api/billing/alerts", Some(alerts))
            .await;
        assert_eq!(put.status, 200, "{:?}", put.body);
        assert_eq!(put.body["alerts"].as_array().map(Vec::len), Some(2));

        let below = root
            .post("/api/billing/snapshots", snapshot("alpaca", "99.99"))
            .await;
        assert_eq!(below.body["alerts_triggered"], json!([]));
        let above = root
            .post("/api/billing/snapshots", snapshot("alpaca", "120"))
            .await;
        assert_eq!(
            above.body["alerts_triggered"].as_array().map(Vec::len),
            Some(1),
            "{:?}",
            above.body
        );
        let still_above = root
            .post("/api/billing/snapshots", snapshot("alpaca", "130"))
            .await;
        assert_eq!(
            still_above.body["alerts_triggered"],
            json!([]),
            "an alert fired again without a new crossing"
        );
        let total = root
            .post("/api/billing/snapshots", snapshot("heroku-postgres", "50"))
            .await;
        assert_eq!(
            total.body["alerts_triggered"][0]["scope"], "all vendors",
            "{:?}",
            total.body
        );

        let audited = raptor_store::audit::recent(t.db(), Some("billing.alert"), 10)
            .await
            .expect("audit");
        assert_eq!(audited.len(), 2);
        assert_eq!(app.run_jobs().await, 2, "one mail job per alert");
        let outbox = raptor_store::outbox::recent(t.db(), 10)
            .await
            .expect("outbox");
        let mut recipients: Vec<&str> = outbox
            .iter()
            .filter(|m| m["tag"] == "billing_alert")
            .filter_map(|m| m["to"].as_str())
            .collect();
        // A worker sends its jobs concurrently, so the outbox's order is not the alerts'.
        recipients.sort_unstable();
        assert_eq!(recipients, vec!["billing@raxx.app", "ops@raxx.app"]);
        let bad = root
            .send(
                reqwest::Method::PUT,
                "/api/billing/alerts",
                Some(json!({ "alerts": [{ "threshold": "-1" }] })),
            )
            .await;
        assert_eq!(
            (bad.status, bad.body["field"].as_str()),
            (422, Some("threshold"))
        );
        assert_eq!(
            root.get("/api/billing/alerts").await.body["alerts"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );

        // Replacements at once take turns: one set stays, not the union of all of them.
        futures_util::future::join_all((0..10).map(|i| {
            let mut racer = root.clone();
            let set = json!({ "alerts": [{ "threshold": format!("{}", 5 + i) }, { "threshold": "500" }] });
            async move {
                let put = racer
                    .send(reqwest::Method::PUT, "/api/billing/alerts", Some(set))
                    .await;
                assert_eq!(put.status, 200, "{:?}", put.body);
            }
        }))
        .await;
        assert_eq!(
            root.get("/api/billing/alerts").await.body["alerts"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }
);
