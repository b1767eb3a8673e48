//! `raptor smoke`: the runbook's smoke validation against any running Raptor, as a user
//! would meet it: health, passkey sign-up and sign-in, bars, billing, sign-out.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use raptor_passkey::SoftPasskey;
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use serde_json::{json, Value};

use super::CliError;

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// The Raptor to check, e.g. https://api-staging.raxx.app or http://localhost:8000.
    #[arg(long, env = "RAPTOR_SMOKE_BASE_URL")]
    base_url: String,
    /// The public origin the server expects (default: the base URL's).
    #[arg(long)]
    origin: Option<String>,
    /// Fail unless /healthz reports this database (`postgresql` or `sqlite`).
    #[arg(long)]
    expect_db: Option<String>,
    /// A bootstrap token (`raptor admin bootstrap-token`): the smoke user becomes an admin,
    /// so the billing snapshot can be read.
    /// (Tokens are base64url and may begin with '-'.)
    #[arg(
        long,
        env = "RAPTOR_SMOKE_BOOTSTRAP_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    bootstrap_token: Option<String>,
    /// Symbol whose bars are fetched.
    #[arg(long, default_value = "AAPL")]
    symbol: String,
    /// Print one JSON object per pass.
    #[arg(long)]
    json: bool,
    /// Keep running passes for this long (e.g. 72h); default: one pass.
    #[arg(long)]
    soak: Option<String>,
    /// Time between soak passes (e.g. 24h).
    #[arg(long, default_value = "24h")]
    interval: String,
}

/// Parses `90s`, `30m`, `24h`, `3d`.
struct Step {
    name: &'static str,
    ok: bool,
    millis: u128,
    detail: String,
}

struct Client {
    http: reqwest::Client,
    base: String,
    origin: String,
    /// The session cookie as `name=value`, as the server last set it.
    cookie: Option<String>,
}

impl Client {
    async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(ORIGIN, &self.origin);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        let status = response.status().as_u16();
        for set in response.headers().get_all(SET_COOKIE) {
            // The server names the cookie `__Host-…` on https and plainly on http.
            let Some((name, value)) = set
                .to_str()
                .ok()
                .and_then(|s| s.split(';').next())
                .and_then(|p| p.trim().split_once('='))
            else {
                continue;
            };
            if name == raptor_api::COOKIE_NAME || name == raptor_api::SECURE_COOKIE_NAME {
                self.cookie = (!value.is_empty()).then(|| format!("{name}={value}"));
            }
        }
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }
}

fn expect(status: u16, wanted: u16, body: &Value) -> Result<(), String> {
    if status == wanted {
        Ok(())
    } else {
        Err(format!(
            "HTTP {status}, wanted {wanted}: {}",
            body["detail"].as_str().unwrap_or(&body.to_string())
        ))
    }
}

async fn pass(args: &SmokeArgs) -> Vec<Step> {
    let origin = args.origin.clone().unwrap_or_else(|| {
        url::Url::parse(&args.base_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| args.base_url.clone())
    });
    let mut client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default(),
        base: args.base_url.trim_end_matches('/').to_owned(),
        origin: origin.clone(),
        cookie: None,
    };
    let email = format!(
        "smoke-{}@example.com",
        std::process::id() as u64 * 1_000_000
            + u64::from(chrono::Utc::now().timestamp_subsec_micros())
    );
    let mut steps = Vec::new();
    let mut key = match SoftPasskey::new(&origin) {
        Ok(key) => key,
        Err(err) => {
            steps.push(Step {
                name: "passkey",
                ok: false,
                millis: 0,
                detail: err.to_string(),
            });
            return steps;
        }
    };
    let mut old_cookie = None;
    for name in [
        "healthz",
        "register",
        "login",
        "historical-data",
        "billing-snapshot",
        "logout",
    ] {
        let started = Instant::now();
        let outcome: Result<String, String> = async {
            match name {
                "healthz" => {
                    let (status, body) = client.send(reqwest::Method::GET, "/healthz", None).await?;
                    expect(status, 200, &body)?;
                    if let Some(db) = &args.expect_db {
                        if body["db"] != json!(db) {
                            return Err(format!("db is {}, expected {db}", body["db"]));
                        }
                    }
                    Ok(format!("db={} revision={}", body["db"].as_str().unwrap_or("?"), body["revision"].as_str().unwrap_or("?")))
                }
                "register" => {
                    let mut request = json!({ "email": email, "display_name": "Raptor Smoke" });
                    if let Some(token) = &args.bootstrap_token {
                        request["bootstrap_token"] = json!(token);
                    }
                    let (status, options) = client.send(reqwest::Method::POST, "/api/auth/register/options", Some(request)).await?;
                    expect(status, 200, &options)?;
                    let credential = key.create(&options).map_err(|e| e.to_string())?;
                    let finish = json!({ "ceremony_id": options["ceremony_id"], "credential": credential });
                    let (status, body) = client.send(reqwest::Method::POST, "/api/auth/register", Some(finish)).await?;
                    expect(status, 200, &body)?;
                    Ok(format!("{email} roles={}", body["roles"]))
                }
                "login" => {
                    let before = client.cookie.clone();
                    let (status, options) = client.send(reqwest::Method::POST, "/api/auth/login/options", Some(json!({ "email": email }))).await?;
                    expect(status, 200, &options)?;
                    let credential = key.get(&options).map_err(|e| e.to_string())?;
                    let finish = json!({ "ceremony_id": options["ceremony_id"], "credential": credential });
                    let (status, body) = client.send(reqwest::Method::POST, "/api/auth/login", Some(finish)).await?;
                    expect(status, 200, &body)?;
                    if client.cookie.is_none() || client.cookie == before {
                        return Err("no new session cookie was issued".into());
                    }
                    Ok("session cookie issued".into())
                }
                "historical-data" => {
                    let path = format!("/api/historical-data/{}?range=1d", args.symbol);
                    let (status, body) = client.send(reqwest::Method::GET, &path, None).await?;
                    expect(status, 200, &body)?;
                    let bars = body["bars"].as_array().map_or(0, Vec::len);
                    if bars == 0 {
                        return Err(format!("no {} bars for {}: load some (raptor bars demo|import|fetch)", body["timeframe"], args.symbol));
                    }
                    Ok(format!("{bars} {} bars", body["timeframe"].as_str().unwrap_or("?")))
                }
                "billing-snapshot" => {
                    let (status, body) = client.send(reqwest::Method::GET, "/api/billing/snapshot", None).await?;
                    if status == 403 {
                        return Err("the snapshot needs an admin: pass --bootstrap-token from `raptor admin bootstrap-token`".into());
                    }
                    expect(status, 200, &body)?;
                    Ok(format!("{} vendors", body["vendors"].as_array().map_or(0, Vec::len)))
                }
                _ => {
                    old_cookie = client.cookie.clone();
                    let (status, body) = client.send(reqwest::Method::POST, "/api/auth/logout", Some(json!({}))).await?;
                    expect(status, 200, &body)?;
                    client.cookie = old_cookie.take();
                    let (status, _) = client.send(reqwest::Method::GET, "/api/auth/session", None).await?;
                    if status != 401 {
                        return Err(format!("the old session cookie still works (HTTP {status})"));
                    }
                    Ok("session revoked; the old cookie is refused".into())
                }
            }
        }
        .await;
        let millis = started.elapsed().as_millis();
        let ok = outcome.is_ok();
        steps.push(Step {
            name,
            ok,
            millis,
            detail: outcome.unwrap_or_else(|e| e),
        });
        if !ok {
            break;
        }
    }
    steps
}

fn print(steps: &[Step], json_output: bool) -> bool {
    let passed = steps.len() == 6 && steps.iter().all(|s| s.ok);
    if json_output {
        let body = json!({
            "result": if passed { "pass" } else { "fail" },
            "at": chrono::Utc::now(),
            "steps": steps.iter().map(|s| json!({ "step": s.name, "ok": s.ok, "ms": s.millis, "detail": s.detail })).collect::<Vec<_>>(),
        });
        out!("{body}");
    } else {
        for s in steps {
            out!(
                "{} {:<17} {:>6} ms  {}",
                if s.ok { "PASS" } else { "FAIL" },
                s.name,
                s.millis,
                s.detail
            );
        }
        match steps.iter().find(|s| !s.ok) {
            None => out!("SMOKE: PASS ({} steps)", steps.len()),
            Some(failed) => out!("SMOKE: FAIL at {}", failed.name),
        }
    }
    passed
}

pub async fn run(args: SmokeArgs) -> Result<ExitCode, CliError> {
    let soak = args.soak.as_deref().map(super::duration).transpose()?;
    let interval = super::duration(&args.interval)?;
    let until = soak.map(|d| Instant::now() + d);
    let mut all_passed = true;
    loop {
        all_passed &= print(&pass(&args).await, args.json);
        match until {
            Some(end) if Instant::now() + interval < end => tokio::time::sleep(interval).await,
            _ => break,
        }
    }
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
