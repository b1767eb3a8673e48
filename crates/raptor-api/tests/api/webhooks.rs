//! Provider webhooks over real HTTP on both dialects: authentication, idempotent retries,
//! and what each event does.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use raptor_testkit::{accounts, dual_test, TestApp};
use serde_json::{json, Value};
use sha2::Sha256;

pub(crate) const USER: &str = "postmark";
pub(crate) const PASSWORD: &str = "s3cret-webhook-password";
const STATUS_SECRET: &str = "status-page-hmac-key";

async fn app(t: &raptor_testkit::TestDb) -> TestApp {
    TestApp::builder(t.db().clone())
        .postmark_webhook(USER, PASSWORD)
        .status_webhook_secret(STATUS_SECRET)
        .spawn()
        .await
}

pub(crate) async fn post(
    app: &TestApp,
    path: &str,
    auth: Option<(&str, &str)>,
    body: &str,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some((user, password)) = auth {
        request = request.header(
            "Authorization",
            format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
        );
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Postmark's JSON for a mail from `from` whose SPF passes for its own domain.
fn inbound(message_id: &str, from: &str) -> String {
    crate::inbound::Mail::new(message_id, from).json()
}

pub(crate) const AUTH: Option<(&str, &str)> = Some((USER, PASSWORD));

dual_test!(
    inbound_email_from_a_customer_becomes_a_ticket_message_once,
    Head,
    |t| {
        let app = app(t).await;
        let mut ada = accounts::customer(&app, "ada@example.com").await;
        let ada_id = accounts::user_id(&mut ada).await;
        // Until Ada proves the address, her account is not the sender's: anyone could have
        // signed up with it.
        let early = inbound("a8c1-0000", "ada@example.com");
        let (status, unproven) = post(&app, "/webhooks/postmark/inbound", AUTH, &early).await;
        assert_eq!(status, 200, "{unproven}");
        assert_eq!(unproven["linked"], false);
        accounts::verify_email(&app, &mut ada, "ada@example.com").await;
        let body = inbound("a8c1-0001", "Ada@Example.com");
        let (status, first) = post(&app, "/webhooks/postmark/inbound", AUTH, &body).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["linked"], true);
        let (_, retry) = post(&app, "/webhooks/postmark/inbound", AUTH, &body).await;
        assert_eq!(retry["status"], "duplicate");
        assert_eq!(
            t.scalar("SELECT count(*) FROM postmark_inbound_messages")
                .await,
            2
        );
        assert_eq!(t.scalar("SELECT count(*) FROM support_messages").await, 2);
        let tickets = ada.get("/api/support/tickets").await;
        assert_eq!(tickets.body["tickets"][0]["user_id"], ada_id);
        let raw = t
            .scalar("SELECT count(*) FROM postmark_inbound_messages WHERE CAST(raw AS TEXT) LIKE '%aGVsbG8=%'")
            .await;
        assert_eq!(raw, 0, "attachment content was stored");
        app.stop().await;
    }
);

dual_test!(
    unknown_senders_open_unlinked_tickets_that_staff_can_link,
    Head,
    |t| {
        let app = app(t).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut ada = accounts::customer(&app, "ada@example.com").await;
        let ada_id = accounts::user_id(&mut ada).await;
        let (_, first) = post(
            &app,
            "/webhooks/postmark/inbound",
            AUTH,
            &inbound("b1", "ada.personal@gmail.com"),
        )
        .await;
        assert_eq!(first["linked"], false);
        let ticket = first["ticket_id"].as_i64().expect("ticket");
        let unlinked = root.get("/api/admin/support/tickets?unlinked=true").await;
        assert_eq!(unlinked.body["tickets"][0]["id"], ticket);
        let linked = root
            .post(
                &format!("/api/admin/support/tickets/{ticket}/link"),
                json!({ "user_id": ada_id }),
            )
            .await;
        assert_eq!(linked.body["user_id"], ada_id, "{:?}", linked.body);
        let (_, later) = post(
            &app,
            "/webhooks/postmark/inbound",
            AUTH,
            &inbound("b2", "ada.personal@gmail.com"),
        )
        .await;
        assert_eq!(later["linked"], true, "the mapping is used for later mail");
        assert_eq!(
            ada.get("/api/support/tickets").await.body["tickets"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        app.stop().await;
    }
);

dual_test!(
    webhooks_refuse_bad_credentials_and_malformed_bodies_storing_nothing,
    Head,
    |t| {
        let app = app(t).await;
        let body = inbound("c1", "ada@example.com");
        let (status, problem) = post(
            &app,
            "/webhooks/postmark/inbound",
            Some((USER, "wrong")),
            &body,
        )
        .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (401, Some("bad_credentials"))
        );
        assert!(!problem.to_string().contains(PASSWORD));
        assert_eq!(
            post(&app, "/webhooks/postmark/inbound", None, &body)
                .await
                .0,
            401
        );
        assert_eq!(
            post(&app, "/webhooks/postmark/delivery", Some(("x", "y")), "{}")
                .await
                .0,
            401
        );
        assert_eq!(
            post(&app, "/webhooks/postmark/inbound", AUTH, "{not json")
                .await
                .0,
            400
        );
        let (status, problem) = post(
            &app,
            "/webhooks/postmark/inbound",
            AUTH,
            &json!({ "From": "a@b.co" }).to_string(),
        )
        .await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (400, Some("MessageID"))
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM postmark_inbound_messages")
                .await,
            0
        );
        assert_eq!(t.scalar("SELECT count(*) FROM support_tickets").await, 0);
        app.stop().await;
    }
);

dual_test!(
    unconfigured_webhooks_answer_503_and_store_nothing,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        for path in [
            "/webhooks/postmark/inbound",
            "/webhooks/postmark/delivery",
            "/webhooks/status",
        ] {
            let (status, problem) = post(&app, path, AUTH, "{}").await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (503, Some("webhook_not_configured")),
                "{path}"
            );
        }
        assert_eq!(
            t.scalar("SELECT count(*) FROM status_webhook_events").await,
            0
        );
        app.stop().await;
    }
);

dual_test!(
    a_hard_bounce_marks_the_address_undeliverable_once,
    Head,
    |t| {
        let app = app(t).await;
        accounts::customer(&app, "ada@example.com").await;
        let delivered = json!({ "RecordType": "Delivery", "MessageID": "m1", "Recipient": "ada@example.com", "DeliveredAt": "2026-11-21T12:00:00Z" });
        let (status, answer) = post(
            &app,
            "/webhooks/postmark/delivery",
            AUTH,
            &delivered.to_string(),
        )
        .await;
        assert_eq!(
            (status, answer["undeliverable"].as_bool()),
            (200, Some(false))
        );
        assert!(
            !raptor_store::webhooks::is_undeliverable(t.db(), "ada@example.com")
                .await
                .expect("flag")
        );
        let soft = json!({ "RecordType": "Bounce", "ID": 41, "Type": "SoftBounce", "MessageID": "m2", "Email": "ada@example.com", "BouncedAt": "2026-11-21T12:01:00Z" });
        post(&app, "/webhooks/postmark/delivery", AUTH, &soft.to_string()).await;
        assert!(
            !raptor_store::webhooks::is_undeliverable(t.db(), "ada@example.com")
                .await
                .expect("flag")
        );
        let hard = json!({ "RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "MessageID": "m3", "Email": "Ada@Example.com", "BouncedAt": "2026-11-21T12:02:00Z" });
        let (_, answer) = post(&app, "/webhooks/postmark/delivery", AUTH, &hard.to_string()).await;
        assert_eq!(answer["undeliverable"], true);
        let (_, retry) = post(&app, "/webhooks/postmark/delivery", AUTH, &hard.to_string()).await;
        assert_eq!(retry["status"], "duplicate");
        assert!(
            raptor_store::webhooks::is_undeliverable(t.db(), "ada@example.com")
                .await
                .expect("flag")
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM postmark_delivery_events")
                .await,
            3
        );
        app.stop().await;
    }
);

fn sign(body: &str, key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

async fn status_post(app: &TestApp, body: &str, signature: Option<String>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/webhooks/status"))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("X-Signature-256", signature);
    }
    let response = request.send().await.expect("request");
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

dual_test!(
    status_events_need_a_valid_signature_and_store_once,
    Head,
    |t| {
        let app = app(t).await;
        let body = json!({ "id": "evt_1", "type": "incident.update", "incident": { "status": "investigating" } }).to_string();
        let (status, answer) = status_post(&app, &body, Some(sign(&body, STATUS_SECRET))).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("stored")));
        let (_, retry) = status_post(&app, &body, Some(sign(&body, STATUS_SECRET))).await;
        assert_eq!(retry["status"], "duplicate");
        let tampered = body.replace("investigating", "resolved");
        assert_eq!(
            status_post(&app, &tampered, Some(sign(&body, STATUS_SECRET)))
                .await
                .0,
            401
        );
        assert_eq!(
            status_post(&app, &body, Some(sign(&body, "wrong key")))
                .await
                .0,
            401
        );
        assert_eq!(status_post(&app, &body, None).await.0, 401);
        let no_id = json!({ "type": "component.update" }).to_string();
        let (status, problem) = status_post(&app, &no_id, Some(sign(&no_id, STATUS_SECRET))).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some("id")));
        assert_eq!(
            t.scalar("SELECT count(*) FROM status_webhook_events").await,
            1
        );
        app.stop().await;
    }
);

dual_test!(
    nul_bytes_in_provider_text_are_dropped_and_the_event_accepted,
    Head,
    |t| {
        // PostgreSQL stores no NUL in text or JSON; a provider retries a refused event for
        // ever, so control characters are dropped and the event is accepted.
        let app = app(t).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let email = json!({
            "FromName": "Ada\u{0} Lovelace", "From": "ada@example.com",
            "FromFull": { "Email": "ada@example.com", "Name": "Ada\u{0} Lovelace" },
            "To": "support@raxx.app", "MailboxHash": "", "Subject": "Help\u{0} with\u{1} my order",
            "MessageID": "nul-0001", "TextBody": "Hello\u{0} there\n\n> quoted",
            "HtmlBody": "<p>Hello\u{0}</p>", "StrippedTextReply": "Hello\u{0} there",
            "Headers": [{ "Name": "X-Odd\u{0}-Header", "Value": "on\u{0}e" }],
            "Attachments": [{ "Name": "scan\u{0}.pdf", "Content": "aGVsbG8=", "ContentType": "application/pdf", "ContentLength": 5 }]
        });
        let (status, answer) =
            post(&app, "/webhooks/postmark/inbound", AUTH, &email.to_string()).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("stored")),
            "{answer}"
        );
        let stored = t
            .scalar(
                "SELECT count(*) FROM postmark_inbound_messages WHERE subject = 'Help with my order' \
                 AND from_name = 'Ada Lovelace' AND text_body = 'Hello there\n\n> quoted' \
                 AND html_body = '<p>Hello</p>' AND stripped_text_reply = 'Hello there'",
            )
            .await;
        assert_eq!(stored, 1, "the stored email keeps a NUL or lost its text");
        let raw = |pattern: &str| {
            format!("SELECT count(*) FROM postmark_inbound_messages WHERE CAST(raw AS TEXT) LIKE '{pattern}'")
        };
        assert_eq!(t.scalar(&raw("%u0000%")).await, 0, "a NUL in the payload");
        assert_eq!(t.scalar(&raw("%X-Odd-Header%")).await, 1);
        assert_eq!(t.scalar(&raw("%scan.pdf%")).await, 1);
        let ticket = answer["ticket_id"].as_i64().expect("ticket");
        let thread = root
            .get(&format!("/api/admin/support/tickets/{ticket}"))
            .await;
        assert_eq!(thread.body["subject"], "Help with my order");
        assert_eq!(thread.body["messages"][0]["body"], "Hello there");

        // An id of nothing but control characters is a missing id, not an empty one that
        // would make every later such message a duplicate.
        let mut blank = email.clone();
        blank["MessageID"] = json!("\u{1}\u{0}");
        let (status, problem) =
            post(&app, "/webhooks/postmark/inbound", AUTH, &blank.to_string()).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (400, Some("MessageID")),
            "{problem}"
        );

        let delivery = json!({
            "RecordType": "Delivery", "MessageID": "m\u{0}-1", "Recipient": "ada@example.com",
            "DeliveredAt": "2026-11-21T12:00:00Z", "Details": "smtp;250\u{0} ok", "Metadata": { "k\u{0}": "v\u{0}" }
        });
        let (status, answer) = post(
            &app,
            "/webhooks/postmark/delivery",
            AUTH,
            &delivery.to_string(),
        )
        .await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("stored")));
        assert_eq!(
            t.scalar("SELECT count(*) FROM postmark_delivery_events WHERE message_id = 'm-1' AND CAST(details AS TEXT) NOT LIKE '%u0000%'")
                .await,
            1
        );

        let event = json!({ "id": "evt\u{0}_9", "type": "incident.update", "incident": { "name": "Outage\u{0}" } }).to_string();
        let (status, answer) = status_post(&app, &event, Some(sign(&event, STATUS_SECRET))).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("stored")));
        assert_eq!(
            t.scalar("SELECT count(*) FROM status_webhook_events WHERE event_id = 'evt_9' AND CAST(payload AS TEXT) NOT LIKE '%u0000%'")
                .await,
            1
        );
        app.stop().await;
    }
);
