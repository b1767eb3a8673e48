//! Inbound support mail nobody can forge their way into, over real HTTP on both dialects: the
//! sender is believed only as far as the receiving servers' verdicts authenticate it, and only
//! the reply token a staff reply carried continues a ticket.

use std::sync::Arc;

use raptor_app::mail::PostmarkMailer;
use raptor_testkit::{accounts, dual_test, Browser, FakePostmark, TestApp};
use serde_json::{json, Value};

use crate::webhooks::{post, AUTH, PASSWORD, USER};

/// The mail server upstream of Postmark whose `Authentication-Results` the server believes.
const TRUSTED: &str = "mx.google.com";
const INBOUND: &str = "/webhooks/postmark/inbound";

/// A Postmark inbound payload as Postmark posts it: its own stamps (SpamAssassin's tests and
/// its SPF check) on top of the headers the message arrived with.
pub(crate) struct Mail {
    message_id: String,
    from: String,
    from_full: String,
    hash: String,
    spf: Option<String>,
    spam_tests: String,
    carried: Vec<(String, String)>,
}

impl Mail {
    /// A mail from `from` whose SPF passes for its own domain, as one sent straight from the
    /// sender's provider would.
    pub(crate) fn new(message_id: &str, from: &str) -> Self {
        Self {
            message_id: message_id.to_owned(),
            from: from.to_owned(),
            from_full: from.to_owned(),
            hash: String::new(),
            spf: Some(spf("pass", from, "209.85.208.45")),
            spam_tests: "DKIM_SIGNED,DKIM_VALID,RCVD_IN_DNSWL_NONE,SPF_HELO_NONE,SPF_PASS".into(),
            carried: Vec::new(),
        }
    }

    /// Sent to `support+<hash>@raxx.app`.
    pub(crate) fn addressed_to(mut self, hash: &str) -> Self {
        hash.clone_into(&mut self.hash);
        self
    }

    /// Postmark's SPF check says `result` for envelope sender `envelope`.
    fn spf(mut self, result: &str, envelope: &str) -> Self {
        self.spf = Some(spf(result, envelope, "203.0.113.9"));
        self
    }

    /// Postmark's SpamAssassin reports these tests.
    fn spam_tests(mut self, tests: &str) -> Self {
        tests.clone_into(&mut self.spam_tests);
        self
    }

    /// A header the message arrived with (written by its sender or an earlier server).
    fn carried(mut self, name: &str, value: &str) -> Self {
        self.carried.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `FromFull.Email` says this instead of `From`.
    fn full_from(mut self, email: &str) -> Self {
        email.clone_into(&mut self.from_full);
        self
    }

    /// No verdict headers at all.
    fn unstamped(mut self) -> Self {
        self.spf = None;
        self.spam_tests = String::new();
        self
    }

    pub(crate) fn json(&self) -> String {
        let to = if self.hash.is_empty() {
            "support@raxx.app".to_owned()
        } else {
            format!("support+{}@raxx.app", self.hash)
        };
        let mut headers = vec![
            header("Return-Path", &format!("<{}>", self.from)),
            header(
                "Received",
                "by p-pm-inboundg02a-aws-useast1a.inbound.postmarkapp.com (Postfix, from userid \
                 996) id 4F1C2A0B3C; Sat, 21 Nov 2026 12:00:01 +0000 (UTC)",
            ),
        ];
        if !self.spam_tests.is_empty() {
            headers.push(header(
                "X-Spam-Checker-Version",
                "SpamAssassin 3.4.6 (2021-04-09) on p-pm-inboundg02a-aws-useast1a",
            ));
            headers.push(header("X-Spam-Status", "No"));
            headers.push(header("X-Spam-Score", "-0.1"));
            headers.push(header("X-Spam-Tests", &self.spam_tests));
        }
        if let Some(spf) = &self.spf {
            headers.push(header("Received-SPF", spf));
        }
        headers.push(header(
            "Received",
            "from mail-ed1-f45.google.com (mail-ed1-f45.google.com [209.85.208.45]) by \
             p-pm-inboundg02a-aws-useast1a.inbound.postmarkapp.com (Postfix) with ESMTPS id \
             4F1C2A0B3C for <support@raxx.app>; Sat, 21 Nov 2026 12:00:01 +0000 (UTC)",
        ));
        for (name, value) in &self.carried {
            headers.push(header(name, value));
        }
        headers.push(header(
            "Message-ID",
            &format!("<{}@mail.example.com>", self.message_id),
        ));
        headers.push(header("MIME-Version", "1.0"));
        json!({
            "FromName": "Ada Lovelace", "MessageStream": "inbound", "From": self.from,
            "FromFull": { "Email": self.from_full, "Name": "Ada Lovelace", "MailboxHash": "" },
            "To": format!("\"Raxx Support\" <{to}>"),
            "ToFull": [{ "Email": to, "Name": "Raxx Support", "MailboxHash": self.hash }],
            "Cc": "", "CcFull": [], "Bcc": "", "BccFull": [], "OriginalRecipient": to,
            "Subject": "Help with my order", "MessageID": self.message_id, "ReplyTo": "",
            "MailboxHash": self.hash, "Date": "Sat, 21 Nov 2026 12:00:00 +0000",
            "TextBody": "Hello\n\n> old quoted text", "HtmlBody": "<p>Hello</p>",
            "StrippedTextReply": "Hello", "Tag": "", "Headers": headers,
            "Attachments": [{ "Name": "screenshot.png", "Content": "aGVsbG8=", "ContentType": "image/png", "ContentLength": 5 }]
        })
        .to_string()
    }
}

fn header(name: &str, value: &str) -> Value {
    json!({ "Name": name, "Value": value })
}

/// Postmark's `Received-SPF` stamp (Mail::SPF's wording).
fn spf(result: &str, envelope: &str, ip: &str) -> String {
    format!(
        "{result} (SPF check of '{envelope}' from {ip}: {result}) \
         receiver=p-pm-inboundg02a-aws-useast1a; identity=mailfrom; envelope-from=\"{envelope}\"; \
         helo=mail.example.net; client-ip={ip}"
    )
}

/// A server taking Postmark webhooks, believing `mx.google.com`'s verdicts and mailing through
/// `fake` (when given).
async fn app(t: &raptor_testkit::TestDb, fake: Option<&FakePostmark>) -> TestApp {
    let mut builder = TestApp::builder(t.db().clone())
        .postmark_webhook(USER, PASSWORD)
        .trusted_authserv_id(TRUSTED);
    if let Some(fake) = fake {
        let mailer = PostmarkMailer::new(fake.url(), "server-token").expect("client");
        builder = builder.mailer(Arc::new(mailer));
    }
    builder.spawn().await
}

async fn deliver(app: &TestApp, mail: &Mail) -> Value {
    let (status, receipt) = post(app, INBOUND, AUTH, &mail.json()).await;
    assert_eq!(
        (status, receipt["status"].as_str()),
        (200, Some("stored")),
        "{receipt}"
    );
    receipt
}

fn ticket_of(receipt: &Value) -> i64 {
    receipt["ticket_id"].as_i64().expect("a ticket")
}

/// Opens a ticket as `customer` and has `staff` reply; returns the ticket and the reply token
/// in the `Reply-To` the reply went out with.
async fn answered_ticket(
    app: &TestApp,
    fake: &FakePostmark,
    customer: &mut Browser,
    staff: &mut Browser,
    subject: &str,
) -> (i64, String) {
    let opened = customer
        .post(
            "/api/support/tickets",
            json!({ "subject": subject, "body": "My limit order never filled." }),
        )
        .await;
    assert_eq!(opened.status, 201, "{:?}", opened.body);
    let id = opened.body["id"].as_i64().expect("id");
    let reply = staff
        .post(
            &format!("/api/admin/support/tickets/{id}/messages"),
            json!({ "body": "It filled at 10:31." }),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(app.run_jobs().await, 1, "one reply mailed");
    let sent = fake.received();
    let mail = sent
        .iter()
        .rev()
        .find(|m| m["Subject"] == format!("Re: {subject} [ticket {id}]"))
        .expect("the reply reached Postmark");
    let reply_to = mail["ReplyTo"].as_str().expect("a ReplyTo");
    let token = reply_to
        .strip_prefix("support+")
        .and_then(|rest| rest.strip_suffix("@raxx.app"))
        .expect("support+<token>@raxx.app");
    assert!(
        token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{reply_to}"
    );
    (id, token.to_owned())
}

async fn message_count(staff: &mut Browser, ticket: i64) -> usize {
    let thread = staff
        .get(&format!("/api/admin/support/tickets/{ticket}"))
        .await;
    thread.body["messages"].as_array().map_or(0, Vec::len)
}

dual_test!(
    forged_mail_is_stored_unlinked_and_flagged_and_reaches_no_ticket,
    Head,
    |t| {
        let fake = FakePostmark::start("server-token").await;
        let app = app(t, Some(&fake)).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut ada = accounts::verified_customer(&app, "ada@example.com").await;
        let (victim, token) = answered_ticket(&app, &fake, &mut ada, &mut root, "Order").await;

        // Even knowing the reply token, a forger's mail continues nothing: Postmark's SPF
        // check fails, and what the forger wrote into the message is not believed.
        let planted = [
            Mail::new("f1", "ada@example.com")
                .spf("softfail", "ada@example.com")
                .carried(
                    "Received-SPF",
                    &spf("pass", "ada@example.com", "209.85.208.45"),
                )
                .carried(
                    "Authentication-Results",
                    "inbound.postmarkapp.com; dmarc=pass header.from=example.com",
                )
                .carried("X-Spam-Tests", "DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU"),
            // Relayed by the trusted server, whose verdict (on top) fails DMARC.
            Mail::new("f2", "ada@example.com")
                .spf("pass", "bounce@relay.example.net")
                .carried(
                    "Authentication-Results",
                    "mx.google.com; spf=softfail smtp.mailfrom=ada@example.com; \
                     dmarc=fail (p=NONE) header.from=example.com",
                )
                .carried(
                    "Authentication-Results",
                    "mx.google.com; dmarc=pass header.from=example.com",
                ),
            Mail::new("f3", "ada@example.com").unstamped(),
        ];
        for mail in planted {
            let receipt = deliver(&app, &mail.addressed_to(&token)).await;
            assert_eq!(
                (
                    receipt["linked"].as_bool(),
                    receipt["authenticated"].as_bool()
                ),
                (Some(false), Some(false)),
                "{receipt}"
            );
            let ticket = ticket_of(&receipt);
            assert_ne!(ticket, victim, "a forged mail continued Ada's ticket");
            let seen = root
                .get(&format!("/api/admin/support/tickets/{ticket}"))
                .await;
            assert_eq!(seen.body["unverified_sender"], true, "{:?}", seen.body);
            assert_eq!(seen.body["user_id"], Value::Null);
            let check = seen.body["messages"][0]["sender_check"].as_str();
            assert!(
                check.is_some_and(|c| c.starts_with("unverified")),
                "{check:?}"
            );
        }
        assert_eq!(
            message_count(&mut root, victim).await,
            2,
            "Ada's ticket grew"
        );
        let mine = ada.get("/api/support/tickets").await;
        assert_eq!(
            mine.body["tickets"].as_array().map(Vec::len),
            Some(1),
            "a forged mail was filed as Ada's: {:?}",
            mine.body
        );
        let queue = root.get("/api/admin/support/tickets?unlinked=true").await;
        let flagged = queue.body["tickets"]
            .as_array()
            .expect("tickets")
            .iter()
            .filter(|t| t["unverified_sender"] == true)
            .count();
        assert_eq!(flagged, 3, "staff see every forged mail, flagged");
        app.stop().await;
    }
);

dual_test!(
    linking_a_sender_leaves_its_unverified_tickets_alone_unless_linked_one_by_one,
    Head,
    |t| {
        let app = app(t, None).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut ada = accounts::verified_customer(&app, "ada@example.com").await;
        let ada_id = accounts::user_id(&mut ada).await;
        let personal = "ada.personal@gmail.com";
        let real = deliver(&app, &Mail::new("p1", personal)).await;
        let forged = deliver(&app, &Mail::new("p2", personal).spf("fail", personal)).await;
        assert_eq!(real["authenticated"], true);
        assert_eq!(forged["authenticated"], false);
        let linked = root
            .post(
                &format!("/api/admin/support/tickets/{}/link", ticket_of(&real)),
                json!({ "user_id": ada_id }),
            )
            .await;
        assert_eq!(linked.body["user_id"], ada_id, "{:?}", linked.body);
        let tickets = |body: &Value| body["tickets"].as_array().map_or(0, Vec::len);
        assert_eq!(
            tickets(&ada.get("/api/support/tickets").await.body),
            1,
            "the unverified mail was swept onto Ada's tickets"
        );
        // Later authenticated mail from the address is Ada's; unverified mail still is not.
        let later = deliver(&app, &Mail::new("p3", personal)).await;
        assert_eq!(later["linked"], true);
        let unverified = deliver(&app, &Mail::new("p4", personal).unstamped()).await;
        assert_eq!(unverified["linked"], false);
        // Staff may vouch for one flagged ticket by linking it by itself.
        let vouched = root
            .post(
                &format!("/api/admin/support/tickets/{}/link", ticket_of(&forged)),
                json!({ "user_id": ada_id }),
            )
            .await;
        assert_eq!(
            (
                vouched.body["user_id"].as_i64(),
                vouched.body["unverified_sender"].as_bool()
            ),
            (Some(ada_id), Some(true))
        );
        assert_eq!(tickets(&ada.get("/api/support/tickets").await.body), 3);
        app.stop().await;
    }
);

dual_test!(
    authenticated_mail_is_linked_by_spf_dkim_or_dmarc,
    Head,
    |t| {
        let app = app(t, None).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut ada = accounts::verified_customer(&app, "ada@example.com").await;
        let ada_id = accounts::user_id(&mut ada).await;
        let cases = [
            (
                Mail::new("a1", "Ada@Example.com"),
                "authenticated: spf=pass (example.com)",
            ),
            // Sent through a mailing service: its bounce domain passes SPF, the signature
            // from Ada's own domain (SpamAssassin's DKIM_VALID_AU) is what authenticates.
            (
                Mail::new("a2", "ada@example.com")
                    .spf("pass", "bounces+123@esp-mailer.net")
                    .spam_tests("DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,SPF_PASS"),
                "authenticated: dkim=pass (example.com)",
            ),
            // Forwarded by the trusted server: Postmark sees the forwarder, the trusted
            // server's DMARC verdict is what authenticates.
            (
                Mail::new("a3", "ada@example.com")
                    .spf("softfail", "ada@example.com")
                    .carried(
                        "Authentication-Results",
                        "mx.google.com;\r\n       dkim=pass header.i=@example.com \
                         header.s=20230601 header.b=Kx3fT1ab;\r\n       spf=pass \
                         (google.com: domain of ada@example.com designates 209.85.220.41 as \
                         permitted sender) smtp.mailfrom=ada@example.com;\r\n       \
                         dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com",
                    ),
                "authenticated: dmarc=pass",
            ),
        ];
        for (mail, check) in cases {
            let receipt = deliver(&app, &mail).await;
            assert_eq!(
                (
                    receipt["linked"].as_bool(),
                    receipt["authenticated"].as_bool()
                ),
                (Some(true), Some(true)),
                "{receipt}"
            );
            let ticket = ticket_of(&receipt);
            let seen = root
                .get(&format!("/api/admin/support/tickets/{ticket}"))
                .await;
            assert_eq!(
                (
                    seen.body["user_id"].as_i64(),
                    seen.body["unverified_sender"].as_bool()
                ),
                (Some(ada_id), Some(false))
            );
            assert_eq!(seen.body["messages"][0]["sender_check"], check);
        }
        assert_eq!(
            ada.get("/api/support/tickets").await.body["tickets"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        app.stop().await;
    }
);

dual_test!(
    only_the_reply_token_a_reply_carried_continues_a_ticket,
    Head,
    |t| {
        let fake = FakePostmark::start("server-token").await;
        let app = app(t, Some(&fake)).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut ada = accounts::verified_customer(&app, "ada@example.com").await;
        let (id, token) = answered_ticket(&app, &fake, &mut ada, &mut root, "Fills").await;
        let sent: Vec<_> = fake
            .received()
            .into_iter()
            .filter(|mail| mail["Tag"] == "support_reply")
            .collect();
        assert_eq!(sent[0]["To"], "ada@example.com");
        assert_eq!(
            t.scalar(&format!(
                "SELECT count(*) FROM job_queue WHERE CAST(payload AS TEXT) LIKE '%{token}%'"
            ))
            .await,
            0,
            "the reply token is in a job payload"
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM support_reply_tokens").await,
            1
        );

        // The ticket's number, from Ada's own authenticated address, opens a new ticket.
        let numbered = deliver(
            &app,
            &Mail::new("r1", "ada@example.com").addressed_to(&format!("ticket-{id}")),
        )
        .await;
        assert_eq!(numbered["authenticated"], true);
        assert_ne!(ticket_of(&numbered), id, "ticket-N continued the ticket");
        // The token does, in whatever case the mail systems left it.
        let replied = deliver(
            &app,
            &Mail::new("r2", "ada@example.com").addressed_to(&token),
        )
        .await;
        assert_eq!(ticket_of(&replied), id, "{replied}");
        let shouted = Mail::new("r3", "ADA@example.com").addressed_to(&token.to_ascii_uppercase());
        assert_eq!(ticket_of(&deliver(&app, &shouted).await), id);
        assert_eq!(message_count(&mut root, id).await, 4);
        let thread = ada.get(&format!("/api/support/tickets/{id}")).await;
        assert_eq!(thread.body["status"], "open");
        app.stop().await;
    }
);

dual_test!(
    a_token_continues_only_its_own_ticket_and_only_for_its_requester,
    Head,
    |t| {
        let fake = FakePostmark::start("server-token").await;
        let app = app(t, Some(&fake)).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut ada = accounts::verified_customer(&app, "ada@example.com").await;
        let mut bob = accounts::verified_customer(&app, "bob@example.org").await;
        let (a, token_a) = answered_ticket(&app, &fake, &mut ada, &mut root, "First").await;
        let (b, token_b) = answered_ticket(&app, &fake, &mut ada, &mut root, "Second").await;
        assert_ne!(token_a, token_b);

        let to_a = deliver(
            &app,
            &Mail::new("t1", "ada@example.com").addressed_to(&token_a),
        )
        .await;
        let to_b = deliver(
            &app,
            &Mail::new("t2", "ada@example.com").addressed_to(&token_b),
        )
        .await;
        assert_eq!((ticket_of(&to_a), ticket_of(&to_b)), (a, b));
        assert_eq!(message_count(&mut root, a).await, 3);
        assert_eq!(message_count(&mut root, b).await, 3);

        // Bob, authenticated as himself, holding Ada's token: a ticket of his own.
        let bobs = deliver(
            &app,
            &Mail::new("t3", "bob@example.org").addressed_to(&token_a),
        )
        .await;
        assert_eq!(bobs["linked"], true);
        assert!(![a, b].contains(&ticket_of(&bobs)), "{bobs}");
        assert_eq!(
            message_count(&mut root, a).await,
            3,
            "Bob wrote on Ada's ticket"
        );
        let his = bob.get("/api/support/tickets").await;
        assert_eq!(his.body["tickets"][0]["id"], ticket_of(&bobs));
        app.stop().await;
    }
);

dual_test!(
    a_from_that_disagrees_with_from_full_is_refused_and_nothing_is_stored,
    Head,
    |t| {
        let app = app(t, None).await;
        accounts::verified_customer(&app, "ada@example.com").await;
        let forged = Mail::new("m1", "ada@example.com").full_from("eve@evil.example.net");
        let (status, problem) = post(&app, INBOUND, AUTH, &forged.json()).await;
        assert_eq!(
            (status, problem["code"].as_str(), problem["field"].as_str()),
            (422, Some("sender_mismatch"), Some("From")),
            "{problem}"
        );
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("ada@example.com") && detail.contains("eve@evil.example.net"),
            "{detail}"
        );
        for table in [
            "postmark_inbound_messages",
            "support_tickets",
            "support_messages",
        ] {
            assert_eq!(
                t.scalar(&format!("SELECT count(*) FROM {table}")).await,
                0,
                "{table}"
            );
        }
        // The same address written differently is one sender.
        let same = Mail::new("m2", "Ada@Example.COM").full_from(" ada@example.com ");
        assert_eq!(deliver(&app, &same).await["linked"], true);
        app.stop().await;
    }
);

dual_test!(
    a_reply_to_an_unverified_accounts_ticket_does_not_reach_that_account,
    Head,
    |t| {
        // Eve opened an account with Ada's address and a ticket from it; staff answered, so
        // the real Ada got a reply carrying the ticket's token.
        let fake = FakePostmark::start("server-token").await;
        let app = app(t, Some(&fake)).await;
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut eve = accounts::customer(&app, "ada@example.com").await;
        app.run_jobs().await; // the confirmation mail, which Eve never sees
        let (id, token) = answered_ticket(&app, &fake, &mut eve, &mut root, "Hello").await;
        // Ada answers from her own, authenticated address: not onto the ticket Eve reads.
        let answer = deliver(
            &app,
            &Mail::new("u1", "ada@example.com").addressed_to(&token),
        )
        .await;
        assert_eq!(answer["authenticated"], true);
        assert_ne!(ticket_of(&answer), id, "Ada's reply landed on Eve's ticket");
        assert_eq!(answer["linked"], false, "{answer}");
        app.stop().await;
    }
);
