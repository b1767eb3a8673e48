//! Text PostgreSQL cannot store (a NUL byte) and text that has no place in a one-line field is
//! refused with a 4xx naming the field, on both databases — never a 500 on PostgreSQL and a
//! success on SQLite.

use raptor_testkit::{accounts, assert_problem, dual_app_test};
use serde_json::json;

dual_app_test!(
    nul_bytes_are_refused_wherever_they_would_reach_the_database,
    |t, app| {
        let mut customer = accounts::customer(app, "nul@example.com").await;
        let mut admin = accounts::admin(app, t.db(), "nul-admin@example.com").await;

        let reply = customer
            .send(
                reqwest::Method::PUT,
                "/api/account/kill-switch",
                Some(json!({ "enabled": true, "reason": "a\u{0}b" })),
            )
            .await;
        assert_eq!(
            assert_problem(&reply, 422, "invalid_field")["field"],
            "reason"
        );
        assert_eq!(
            customer.get("/api/account").await.body["trading_blocked"],
            false
        );

        let reply = customer
            .get("/api/orders?status=all&symbols=AAPL,%00")
            .await;
        assert_eq!(
            assert_problem(&reply, 422, "invalid_field")["field"],
            "symbols"
        );

        let reply = admin.get("/api/admin/traces/wf%00x").await;
        assert_problem(&reply, 404, "not_found");

        let snapshot = json!({
            "vendor": "alpaca", "amount": "5", "currency": "USD",
            "period_start": "2026-10-01T00:00:00Z", "period_end": "2026-11-01T00:00:00Z",
            "details": { "invoice": { "lines": ["ok", "x\u{0}y"] } }
        });
        let reply = admin.post("/api/billing/snapshots", snapshot).await;
        assert_eq!(
            assert_problem(&reply, 422, "invalid_field")["field"],
            "details"
        );
        let key = json!({
            "vendor": "alpaca", "amount": "5", "currency": "USD",
            "period_start": "2026-10-01T00:00:00Z", "period_end": "2026-11-01T00:00:00Z",
            "details": { "k\u{0}": 1 }
        });
        let reply = admin.post("/api/billing/snapshots", key).await;
        assert_eq!(
            assert_problem(&reply, 422, "invalid_field")["field"],
            "details"
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM vendor_billing_snapshots")
                .await,
            0
        );
    }
);

dual_app_test!(
    one_line_fields_refuse_line_breaks_and_bidi_controls,
    |t, app| {
        let mut customer = accounts::customer(app, "lines@example.com").await;
        let reply = customer
            .post(
                "/api/support/tickets",
                json!({ "subject": "Refund\nBcc: everyone", "body": "Line one\nline two" }),
            )
            .await;
        assert_eq!(
            assert_problem(&reply, 422, "invalid_field")["field"],
            "subject"
        );
        let reply = customer
            .post(
                "/api/support/tickets",
                json!({ "subject": "Refund \u{202E}gpj.exe", "body": "x" }),
            )
            .await;
        assert_eq!(
            assert_problem(&reply, 422, "invalid_field")["field"],
            "subject"
        );
        assert_eq!(t.scalar("SELECT count(*) FROM support_tickets").await, 0);

        let reply = customer
            .post(
                "/api/support/tickets",
                json!({ "subject": "Refund", "body": "Line one\nline two\ttabbed" }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
);
