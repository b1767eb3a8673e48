//! `raptor serve` takes the `/metrics` token from `RAPTOR_METRICS_TOKEN`, and without it keeps
//! `/metrics` off, on both dialects.

use raptor_testkit::{dual_test, ServeProcess};

use crate::common::RAPTOR;

const TOKEN: &str = "from-the-environment-7c1e";

async fn scrape(server: &ServeProcess, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("{}/metrics", server.base_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("a /metrics answer");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

dual_test!(
    serve_takes_the_metrics_token_from_the_environment,
    Head,
    |t| {
        let off = ServeProcess::start(RAPTOR, t.url(), &["--worker-concurrency", "0"])
            .await
            .expect("serve starts");
        assert_eq!(scrape(&off, Some(TOKEN)).await.0, 404);
        off.terminate().await;

        let envs = [("RAPTOR_METRICS_TOKEN", TOKEN)];
        let on =
            ServeProcess::start_with_env(RAPTOR, t.url(), &["--worker-concurrency", "0"], &envs)
                .await
                .expect("serve starts");
        let (status, body) = scrape(&on, None).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("bad_metrics_token"), "{body}");
        on.health().await;
        let (status, body) = scrape(&on, Some(TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains(
                r#"raptor_http_requests_total{route="/healthz",method="GET",status="200"} 1"#
            ),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
        on.terminate().await;
    }
);
