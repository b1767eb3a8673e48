//! The published contract, checked by clients this team did not write: the OpenAPI document
//! against openapi-spec-validator, `/docs` in headless Chromium with the network off, and
//! schemathesis fuzzing every operation as a customer and as an admin — on both databases.

use std::path::Path;
use std::process::Command;

use raptor_testkit::{accounts, dual_test, python, Browser, Chromium, TestApp};
use serde_json::Value;

const WEBHOOK_USER: &str = "postmark";
const WEBHOOK_PASSWORD: &str = "fuzz-webhook-password";

async fn document(app: &TestApp) -> Value {
    let (status, document) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200, "{document}");
    document
}

/// Every operation in the document, as `METHOD /path`.
fn operations(document: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                found.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    found
}

dual_test!(
    the_document_is_valid_openapi_3_1_naming_every_problem,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let document = document(&app).await;
        assert_eq!(document["openapi"], "3.1.0");
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("openapi.json");
        std::fs::write(&file, document.to_string()).expect("write the document");
        let validated = Command::new(python::tool("openapi-spec-validator"))
            .arg(&file)
            .output()
            .expect("run openapi-spec-validator");
        assert!(
            validated.status.success(),
            "openapi-spec-validator refused the document: {}{}",
            String::from_utf8_lossy(&validated.stdout),
            String::from_utf8_lossy(&validated.stderr)
        );

        let schemes = &document["components"]["securitySchemes"];
        assert_eq!(schemes["session"]["in"], "cookie", "{schemes}");
        assert_eq!(schemes["session"]["name"], raptor_api::COOKIE_NAME);
        let codes: Vec<&str> = document["components"]["schemas"]["ProblemCode"]["enum"]
            .as_array()
            .expect("the problem codes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for code in [
            "not_found",
            "invalid_field",
            "database_unavailable",
            "overloaded",
        ] {
            assert!(codes.contains(&code), "{code} missing from {codes:?}");
        }
        let operations = operations(&document);
        for expected in [
            "GET /api/symbols",
            "GET /healthz",
            "POST /api/orders",
            "GET /api/admin/audit",
        ] {
            assert!(
                operations.iter().any(|o| o == expected),
                "{expected} missing: {operations:?}"
            );
        }
        app.stop().await;
    }
);

dual_test!(
    the_docs_page_lists_every_operation_with_the_network_off,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let expected = operations(&document(&app).await).len();
        let mut chromium = Chromium::launch_offline().await;
        chromium.goto(&app.url("/docs/")).await;
        // Swagger UI renders after its scripts run; wait until every operation is drawn (a
        // page that never draws them all fails when DevTools stops waiting).
        let rendered = chromium
            .eval(
                &"new Promise(resolve => {
                const count = () => document.querySelectorAll('.opblock').length;
                if (count() >= EXPECTED) return resolve(count());
                new MutationObserver((_, observer) => {
                    if (count() >= EXPECTED) { observer.disconnect(); resolve(count()); }
                }).observe(document.body, { childList: true, subtree: true });
            })"
                .replace("EXPECTED", &expected.to_string()),
            )
            .await;
        assert_eq!(
            rendered.as_u64(),
            Some(expected as u64),
            "operations listed"
        );
        let paths = chromium
            .eval(
                "[...document.querySelectorAll('.opblock-summary-path')].map(e => e.dataset.path)",
            )
            .await;
        assert!(
            paths
                .as_array()
                .expect("paths")
                .iter()
                .any(|p| p == "/api/symbols"),
            "{paths}"
        );
        // Everything the page loaded came from the server itself.
        let loaded = chromium
            .eval("performance.getEntriesByType('resource').map(r => r.name)")
            .await;
        let base = app.url("");
        for url in loaded.as_array().expect("resources") {
            let url = url.as_str().unwrap_or_default();
            assert!(
                url.starts_with(&base),
                "the docs page fetched {url} from elsewhere"
            );
        }
        let shot = chromium
            .call(
                "Page.captureScreenshot",
                serde_json::json!({ "format": "png" }),
            )
            .await;
        let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let target =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("docs-{}.png", t.dialect().name()));
        std::fs::write(&target, &png).expect("keep the screenshot");
        chromium.close().await;
        app.stop().await;
    }
);

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

/// How many cases schemathesis generates per operation and user: a bounded pass by default;
/// `scripts/fuzz` raises it.
fn examples() -> String {
    std::env::var("RAPTOR_FUZZ_EXAMPLES").unwrap_or_else(|_| "8".to_owned())
}

/// Runs schemathesis over every operation as `who`, failing on any server error or any answer
/// the document does not describe. Returns the number of cases it ran.
fn fuzz(
    app: &TestApp,
    document: &Path,
    who: &str,
    (browser, bot): (&Browser, &Browser),
    report_dir: &Path,
) -> u64 {
    let cookie = browser.cookie.as_deref().expect("signed in");
    let (key_id, secret) = bot.api_key.as_ref().expect("an API key");
    let report = report_dir.join(format!("{who}.json"));
    let mut command = Command::new(python::tool("schemathesis"));
    command
        .arg("run")
        .arg(document)
        .args(["--url", &app.url("")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance",
        ])
        .args(["--max-examples", &examples()])
        .args(["--workers", "1", "--no-shrink", "--request-timeout", "30"])
        .args([
            "--header",
            &format!("Cookie: {}={cookie}", raptor_api::COOKIE_NAME),
        ])
        .args(["--header", &format!("Origin: {}", app.origin())])
        .args(["--header", &format!("APCA-API-KEY-ID: {key_id}")])
        .args(["--header", &format!("APCA-API-SECRET-KEY: {secret}")])
        .args(["--auth", &format!("{WEBHOOK_USER}:{WEBHOOK_PASSWORD}")])
        // Signing out, deleting the last way in or revoking the key would leave the rest of the
        // run signed out; the trade-updates stream never ends (its tests are `streams::`).
        .args([
            "--exclude-path-regex",
            "sign-out|logout|/api/auth/sessions|/api/keys/|/api/trade-updates",
        ])
        .args(["--report", "json", "--report-json-path"])
        .arg(&report)
        .env("NO_COLOR", "1");
    // A fixed seed by default, so CI finds the same cases every run; scripts/fuzz varies it.
    let seed = std::env::var("RAPTOR_FUZZ_SEED").unwrap_or_else(|_| "20261202".to_owned());
    command.args(["--seed", &seed]);
    // schemathesis keeps a cache in its working directory; keep it out of the source tree.
    command.current_dir(report_dir);
    let output = command.output().expect("run schemathesis");
    let summary: Value = std::fs::read(&report)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    assert!(
        output.status.success(),
        "schemathesis as {who} found problems:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let cases = summary["test_cases"]["generated"].as_u64().unwrap_or(0);
    println!(
        "schemathesis as {who}: {cases} cases, {} operations",
        summary["operations"]["tested"]
    );
    cases
}

dual_test!(
    schemathesis_finds_no_server_error_and_no_undocumented_answer,
    Head,
    |t| {
        let app = TestApp::builder(t.db().clone())
            .postmark_webhook(WEBHOOK_USER, WEBHOOK_PASSWORD)
            .status_webhook_secret("fuzz-status-secret")
            .spawn()
            .await;
        let mut customer = accounts::customer(&app, "fuzz-customer@example.com").await;
        let customer_bot = accounts::bot(&app, &mut customer).await;
        let mut admin = accounts::admin(&app, t.db(), "fuzz-admin@example.com").await;
        let admin_bot = accounts::bot(&app, &mut admin).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("openapi.json");
        std::fs::write(&file, document(&app).await.to_string()).expect("write the document");
        let cases = fuzz(
            &app,
            &file,
            "customer",
            (&customer, &customer_bot),
            dir.path(),
        ) + fuzz(&app, &file, "admin", (&admin, &admin_bot), dir.path());
        println!(
            "schemathesis on {}: {cases} cases in all",
            t.dialect().name()
        );
        assert!(cases > 0, "schemathesis ran nothing");
        app.stop().await;
    }
);
