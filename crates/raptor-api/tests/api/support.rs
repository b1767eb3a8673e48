//! Support tickets over real HTTP on both dialects.

use std::sync::Arc;

use chrono::Utc;
use raptor_app::FixedClock;
use raptor_testkit::{accounts, dual_app_test, dual_test, Reply, TestApp};
use serde_json::json;

dual_app_test!(
    a_customer_ticket_is_answered_assigned_and_closed_by_support,
    |t, app| {
        let mut root = accounts::admin(app, t.db(), "root@example.com").await;
        let mut staff = accounts::support_staff(app, &mut root, "help@example.com").await;
        let staff_id = accounts::user_id(&mut staff).await;
        let mut ada = accounts::verified_customer(app, "ada@example.com").await;

        let opened = ada
            .post(
                "/api/support/tickets",
                json!({ "subject": "Order stuck", "body": "My limit order never filled." }),
            )
            .await;
        assert_eq!(opened.status, 201, "{:?}", opened.body);
        let id = opened.body["id"].as_i64().expect("ticket id");
        let queue = staff.get("/api/admin/support/tickets?status=open").await;
        assert_eq!(queue.body["tickets"][0]["id"], id);

        let note = staff
            .post(
                &format!("/api/admin/support/tickets/{id}/messages"),
                json!({ "body": "Check the fills table.", "internal": true }),
            )
            .await;
        assert_eq!(note.status, 201, "{:?}", note.body);
        let reply = staff
            .post(
                &format!("/api/admin/support/tickets/{id}/messages"),
                json!({ "body": "It filled at 10:31." }),
            )
            .await;
        assert_eq!(reply.body["status"], "pending");
        let seen = ada.get(&format!("/api/support/tickets/{id}")).await;
        let bodies: Vec<&str> = seen.body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["body"].as_str())
            .collect();
        assert_eq!(
            bodies,
            vec!["My limit order never filled.", "It filled at 10:31."],
            "the internal note leaked"
        );
        assert_eq!(app.run_jobs().await, 1, "one mail job, for the reply only");
        let mail: Vec<_> = raptor_store::outbox::recent(t.db(), 5)
            .await
            .expect("outbox")
            .into_iter()
            .filter(|mail| mail["tag"] == "support_reply")
            .collect();
        assert_eq!(mail.len(), 1, "{mail:?}");
        assert_eq!(mail[0]["to"], "ada@example.com");
        assert_eq!(mail[0]["text_body"], "It filled at 10:31.");

        let assigned = staff
            .post(
                &format!("/api/admin/support/tickets/{id}/assign"),
                json!({ "assignee_user_id": staff_id }),
            )
            .await;
        assert_eq!(assigned.body["assignee_user_id"], staff_id);
        let not_staff = accounts::user_id(&mut ada).await;
        let bad = staff
            .post(
                &format!("/api/admin/support/tickets/{id}/assign"),
                json!({ "assignee_user_id": not_staff }),
            )
            .await;
        assert_eq!(
            (bad.status, bad.body["field"].as_str()),
            (422, Some("assignee_user_id"))
        );
        let closed = staff
            .post(&format!("/api/admin/support/tickets/{id}/close"), json!({}))
            .await;
        assert_eq!(closed.body["status"], "closed");
        // The customer writing again reopens it.
        let again = ada
            .post(
                &format!("/api/support/tickets/{id}/messages"),
                json!({ "body": "One more thing." }),
            )
            .await;
        assert_eq!(again.body["status"], "open");
    }
);

dual_app_test!(
    customers_see_only_their_own_tickets_and_need_support_for_the_queue,
    |t, app| {
        let mut ada = accounts::customer(app, "ada@example.com").await;
        let mut eve = accounts::customer(app, "eve@example.com").await;
        let opened = ada
            .post(
                "/api/support/tickets",
                json!({ "subject": "Private", "body": "My account number is 123." }),
            )
            .await;
        let id = opened.body["id"].as_i64().expect("id");
        assert_eq!(
            eve.get(&format!("/api/support/tickets/{id}")).await.status,
            404
        );
        assert_eq!(
            eve.post(
                &format!("/api/support/tickets/{id}/messages"),
                json!({ "body": "hi" })
            )
            .await
            .status,
            404
        );
        assert_eq!(
            eve.get("/api/support/tickets").await.body["tickets"],
            json!([])
        );
        assert_eq!(eve.get("/api/admin/support/tickets").await.status, 403);
        assert_eq!(app.browser().get("/api/support/tickets").await.status, 401);
        let bad = ada
            .post(
                "/api/support/tickets",
                json!({ "subject": "", "body": "x" }),
            )
            .await;
        assert_eq!(
            (bad.status, bad.body["field"].as_str()),
            (422, Some("subject"))
        );
        assert_eq!(t.scalar("SELECT count(*) FROM support_tickets").await, 1);
    }
);

/// A 429 naming the limit, with a wait inside the hour's window.
fn assert_limited(reply: &Reply) {
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (429, Some("rate_limited")),
        "{:?}",
        reply.body
    );
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
}

dual_test!(
    a_customer_opens_ten_tickets_and_writes_sixty_messages_an_hour,
    Head,
    |t| {
        // A clock that stands still, so the attempts cannot straddle the hour's window.
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let app = TestApp::builder(t.db().clone()).clock(clock).spawn().await;
        let mut ada = accounts::customer(&app, "ada@example.com").await;
        let mut eve = accounts::customer(&app, "eve@example.com").await;
        let ticket = |n: usize| json!({ "subject": format!("Question {n}"), "body": "Help." });

        let ada_id = accounts::user_id(&mut ada).await;
        let counted = |limit: &str| {
            format!("SELECT count FROM rate_limits WHERE key = 'support:{limit}:{ada_id}'")
        };
        let blank = json!({ "subject": " ", "body": "Help." });
        let refused = ada.post("/api/support/tickets", blank).await;
        assert_eq!(refused.status, 422, "a refused ticket spends no allowance");

        let mut first = None;
        for n in 0..10 {
            let opened = ada.post("/api/support/tickets", ticket(n)).await;
            assert_eq!(opened.status, 201, "ticket {n}: {:?}", opened.body);
            first.get_or_insert(opened.body["id"].as_i64().expect("id"));
        }
        assert_limited(&ada.post("/api/support/tickets", ticket(10)).await);
        assert_eq!(t.scalar("SELECT count(*) FROM support_tickets").await, 10);
        assert_eq!(
            t.scalar(&counted("ticket")).await,
            10,
            "the 429 left no count"
        );
        let other = eve.post("/api/support/tickets", ticket(0)).await;
        assert_eq!(
            other.status, 201,
            "another customer's allowance is their own"
        );

        let id = first.expect("a ticket");
        let messages = format!("/api/support/tickets/{id}/messages");
        let refused = ada.post(&messages, json!({ "body": "" })).await;
        assert_eq!(refused.status, 422, "a refused message spends no allowance");
        for n in 0..60 {
            let wrote = ada
                .post(&messages, json!({ "body": format!("More {n}") }))
                .await;
            assert_eq!(wrote.status, 201, "message {n}: {:?}", wrote.body);
        }
        assert_limited(&ada.post(&messages, json!({ "body": "Once more" })).await);
        assert_eq!(t.scalar(&counted("message")).await, 60);
        let count = format!("SELECT count(*) FROM support_messages WHERE ticket_id = {id}");
        assert_eq!(
            t.scalar(&count).await,
            61,
            "the first message and sixty more"
        );
        app.stop().await;
    }
);
