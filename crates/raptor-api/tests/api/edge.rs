//! What every request meets before its handler: request ids, protective headers, problem
//! bodies for rejections made below the handlers, timeouts, the concurrency limit, and 503
//! when the database cannot serve — on both databases.

use std::time::Duration;

use raptor_api::EdgeLimits;
use raptor_store::{DatabaseUrl, Db, EngineSettings};
use raptor_testkit::{
    accounts, assert_problem, dual_test, Dialect, Reply, Start, TcpProxy, TestApp, TestDb,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any raw-socket read here may take before the test gives up (a hang, not a timing
/// assertion: a passing test returns as soon as the server answers).
const GIVE_UP: Duration = Duration::from_secs(30);

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {:?}", reply.headers))
}

/// Sends raw bytes and reads until the server closes the connection.
async fn raw_exchange(app: &TestApp, bytes: &[u8]) -> String {
    raw_exchange_within(app, bytes, GIVE_UP).await
}

/// Like [`raw_exchange`], giving up after `limit`.
async fn raw_exchange_within(app: &TestApp, bytes: &[u8], limit: Duration) -> String {
    let addr = app.url("").trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut answer))
        .await
        .expect("the server never closed the connection")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

dual_test!(
    every_answer_carries_an_id_and_protective_headers,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut ids = Vec::new();
        for path in ["/healthz", "/api/symbols", "/api/nope", "/openapi.json"] {
            let answer = reply(app.client.get(app.url(path)).send().await.expect("get")).await;
            let id = header(&answer, "x-request-id").to_owned();
            assert!(
                id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{path}: {id}"
            );
            assert_eq!(header(&answer, "cache-control"), "no-store", "{path}");
            assert_eq!(
                header(&answer, "x-content-type-options"),
                "nosniff",
                "{path}"
            );
            ids.push(id);
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4, "ids repeat: {ids:?}");
        app.stop().await;
    }
);

dual_test!(only_a_trusted_proxy_chooses_the_request_id, Head, |t| {
    let direct = TestApp::spawn(t.db().clone()).await;
    let behind = TestApp::builder(t.db().clone()).trust_proxy().spawn().await;
    let ask = |app: &TestApp, id: &str| {
        app.client
            .get(app.url("/api/nope"))
            .header("x-request-id", id)
            .send()
    };
    let kept = reply(ask(&behind, "lb-7f3a.91:2").await.expect("get")).await;
    assert_eq!(header(&kept, "x-request-id"), "lb-7f3a.91:2");
    assert_eq!(
        assert_problem(&kept, 404, "not_found")["request_id"],
        "lb-7f3a.91:2"
    );

    let odd = reply(ask(&behind, "a b<script>").await.expect("get")).await;
    assert_ne!(header(&odd, "x-request-id"), "a b<script>");
    let spoofed = reply(ask(&direct, "lb-7f3a.91:2").await.expect("get")).await;
    assert_ne!(header(&spoofed, "x-request-id"), "lb-7f3a.91:2");
    direct.stop().await;
    behind.stop().await;
});

dual_test!(
    audit_entries_carry_the_request_id_of_their_request,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut customer = accounts::customer(&app, "ids@example.com").await;
        let answer = customer
            .send(
                reqwest::Method::PUT,
                "/api/account/kill-switch",
                Some(json!({ "enabled": true, "reason": "holiday" })),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let id = header(&answer, "x-request-id");
        let entries = raptor_store::audit::recent(t.db(), Some("trading.kill_switch"), 5)
            .await
            .expect("audit");
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].request_id.as_deref(), Some(id));
        app.stop().await;
    }
);

dual_test!(rejections_below_the_handlers_are_problems, Head, |t| {
    let app = TestApp::builder(t.db().clone())
        .limits(EdgeLimits {
            max_body_bytes: 4096,
            ..EdgeLimits::default()
        })
        .spawn()
        .await;
    let mut customer = accounts::customer(&app, "edges@example.com").await;

    let wrong_method = customer.delete("/api/symbols").await;
    assert_problem(&wrong_method, 405, "method_not_allowed");
    assert!(header(&wrong_method, "allow").contains("GET"));

    let big = json!({ "enabled": true, "reason": "x".repeat(10_000) });
    let too_large = customer
        .send(reqwest::Method::PUT, "/api/account/kill-switch", Some(big))
        .await;
    assert_problem(&too_large, 413, "payload_too_large");

    let not_json = reply(
        app.client
            .put(app.url("/api/account/kill-switch"))
            .header("origin", app.origin())
            .header(
                "cookie",
                format!(
                    "{}={}",
                    raptor_api::COOKIE_NAME,
                    customer.cookie.clone().expect("cookie")
                ),
            )
            .body("enabled=true")
            .send()
            .await
            .expect("put"),
    )
    .await;
    assert_problem(&not_json, 415, "unsupported_media_type");

    let bad_query = customer.get("/api/symbols?limit=lots").await;
    let body = assert_problem(&bad_query, 400, "invalid_parameter");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("limit"),
        "{body}"
    );

    let unknown_query = customer.get("/api/symbols?colour=blue").await;
    assert_problem(&unknown_query, 400, "invalid_parameter");

    let kill_switch_state = customer.get("/api/account").await;
    assert_eq!(
        kill_switch_state.body["trading_blocked"], false,
        "a refused body changed state"
    );
    app.stop().await;
});

dual_test!(a_body_that_stops_arriving_gets_408, Head, |t| {
    let app = TestApp::builder(t.db().clone())
        .limits(EdgeLimits {
            body_timeout: Duration::from_millis(200),
            ..EdgeLimits::default()
        })
        .spawn()
        .await;
    let answer = raw_exchange(
        &app,
        b"POST /api/marketing/subscribe HTTP/1.1\r\nHost: localhost\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    app.stop().await;
});

dual_test!(
    a_client_that_never_finishes_its_headers_is_cut_off,
    Head,
    |t| {
        let app = TestApp::builder(t.db().clone())
            .limits(EdgeLimits {
                header_read_timeout: Duration::from_millis(200),
                ..EdgeLimits::default()
            })
            .spawn()
            .await;
        // hyper's own default cuts such a client after 30 s; with the configured 200 ms the
        // connection closes long before this 10 s bound (a hang guard, not a timing claim).
        let answer = raw_exchange_within(
            &app,
            b"GET /healthz HTTP/1.1\r\nHost: local",
            Duration::from_secs(10),
        )
        .await;
        assert!(!answer.contains("200 OK"), "{answer}");
        app.stop().await;
    }
);

dual_test!(a_full_server_answers_503_and_recovers, Head, |t| {
    let app = TestApp::builder(t.db().clone())
        .limits(EdgeLimits {
            max_concurrent_requests: 1,
            ..EdgeLimits::default()
        })
        .spawn()
        .await;
    // One request holds the only slot: its handler is reading a body that waits for us. With
    // `Expect: 100-continue`, the server says "100 Continue" exactly when the handler starts
    // reading, so the test knows the slot is taken.
    let addr = app.url("").trim_start_matches("http://").to_owned();
    let mut holder = TcpStream::connect(addr).await.expect("connect");
    holder
        .write_all(
            b"POST /api/marketing/subscribe HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/json\r\nExpect: 100-continue\r\n\
              Content-Length: 25\r\n\r\n",
        )
        .await
        .expect("send");
    let mut interim = [0; 25];
    tokio::time::timeout(GIVE_UP, holder.read_exact(&mut interim))
        .await
        .expect("no answer to the headers")
        .expect("read");
    assert!(
        interim.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
        "{}",
        String::from_utf8_lossy(&interim)
    );

    let shed = reply(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_problem(&shed, 503, "overloaded");
    assert!(header(&shed, "retry-after").parse::<u64>().is_ok());

    holder
        .write_all(b"{\"email\":\"a@example.com\"}")
        .await
        .expect("finish the body");
    let mut first = [0; 12];
    tokio::time::timeout(GIVE_UP, holder.read_exact(&mut first))
        .await
        .expect("no answer to the body")
        .expect("read");
    assert!(
        first.starts_with(b"HTTP/1.1 2"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    assert_eq!(
        app.get_json("/healthz").await.0,
        200,
        "the slot was not given back"
    );
    app.stop().await;
});

dual_test!(
    an_exhausted_database_pool_is_503_with_retry_after,
    Head,
    |t| {
        let url = DatabaseUrl::parse(t.url()).expect("url");
        let settings = EngineSettings {
            max_connections: 1,
            ..EngineSettings::default()
        };
        let db = Db::connect_with(&url, &settings).await.expect("connect");
        let app = TestApp::spawn(db.clone()).await;
        assert_eq!(app.get_json("/api/symbols").await.0, 200);

        let held = db
            .hold_connection()
            .await
            .expect("take the only connection");
        let answer = reply(
            app.client
                .get(app.url("/api/symbols"))
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_problem(&answer, 503, "database_unavailable");
        assert!(header(&answer, "retry-after").parse::<u64>().is_ok());

        drop(held);
        assert_eq!(app.get_json("/api/symbols").await.0, 200);
        app.stop().await;
        db.close().await;
    }
);

/// PostgreSQL going away under a running server (a restart, a failover): requests get 503
/// with `Retry-After`, never 500, and succeed again as soon as it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_is_503_not_500() {
    let t = TestDb::create(Dialect::Postgres, Start::Head).await;
    let (proxy, db) = TcpProxy::in_front_of(&t).await;
    let app = TestApp::spawn(db.clone()).await;
    assert_eq!(app.get_json("/api/symbols").await.0, 200);
    // Several pooled connections, each used a moment ago, as under load: the restart breaks
    // them all, and the first request after it must not be handed another broken one.
    let held = (
        db.hold_connection().await.expect("a connection"),
        db.hold_connection().await.expect("a second"),
        db.hold_connection().await.expect("a third"),
    );
    drop(held);
    // sqlx puts a connection back from a task of its own: wait until all three are idle.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.pool_status().idle < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool never got its connections back: {:?}",
            db.pool_status()
        );
        tokio::task::yield_now().await;
    }

    proxy.cut().await;
    let answer = reply(
        app.client
            .get(app.url("/api/symbols"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_problem(&answer, 503, "database_unavailable");
    assert!(header(&answer, "retry-after").parse::<u64>().is_ok());

    proxy.restore();
    assert_eq!(app.get_json("/api/symbols").await.0, 200);

    // Signed-in reads have connections of their own, each used a moment ago here: the next
    // restart breaks them too, and no signed-in read after it may fail on one.
    let (mut a, mut b, mut c) = (
        accounts::customer(&app, "restart-a@example.com").await,
        accounts::customer(&app, "restart-b@example.com").await,
        accounts::customer(&app, "restart-c@example.com").await,
    );
    let session = "/api/auth/session";
    let before = tokio::join!(a.get(session), b.get(session), c.get(session));
    for read in [before.0, before.1, before.2] {
        assert_eq!(read.status, 200, "{:?}", read.body);
    }
    proxy.cut().await;
    proxy.restore();
    for browser in [&mut a, &mut b, &mut c] {
        let read = browser.get(session).await;
        assert_eq!(read.status, 200, "{:?}", read.body);
    }
    app.stop().await;
    db.close().await;
    t.finish().await;
}
