//! `assert_problem` accepts an RFC 9457 problem and nothing that merely looks like one.

use raptor_testkit::{assert_problem, Reply, PROBLEM_JSON};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde_json::{json, Value};

fn reply(status: u16, content_type: &'static str, body: Value) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-request-id", HeaderValue::from_static(REQUEST_ID));
    Reply {
        status,
        headers,
        body,
    }
}

fn problem(status: u16, code: &str, detail: &str) -> Value {
    json!({
        "type": format!("https://raxx.app/problems/{code}"),
        "title": "Conflict",
        "status": status,
        "code": code,
        "detail": detail,
        "request_id": REQUEST_ID,
    })
}

const REQUEST_ID: &str = "9f2c0e7b";

#[test]
fn a_problem_with_the_status_code_and_detail_passes_and_returns_its_body() {
    let answer = reply(409, PROBLEM_JSON, problem(409, "email_taken", "in use"));
    assert_eq!(
        assert_problem(&answer, 409, "email_taken")["detail"],
        "in use"
    );
}

#[test]
#[should_panic(expected = "email_taken")]
fn another_code_fails() {
    let answer = reply(409, PROBLEM_JSON, problem(409, "conflict", "in use"));
    assert_problem(&answer, 409, "email_taken");
}

#[test]
#[should_panic(expected = "got 400")]
fn another_status_fails() {
    let answer = reply(400, PROBLEM_JSON, problem(409, "email_taken", "in use"));
    assert_problem(&answer, 409, "email_taken");
}

#[test]
#[should_panic(expected = "application/json")]
fn plain_json_fails() {
    let answer = reply(
        409,
        "application/json",
        problem(409, "email_taken", "in use"),
    );
    assert_problem(&answer, 409, "email_taken");
}

#[test]
#[should_panic(expected = "a detail")]
fn an_empty_detail_fails() {
    let answer = reply(409, PROBLEM_JSON, problem(409, "email_taken", " "));
    assert_problem(&answer, 409, "email_taken");
}

#[test]
#[should_panic(expected = "X-Request-Id")]
fn a_body_naming_another_request_fails() {
    let mut body = problem(409, "email_taken", "in use");
    body["request_id"] = json!("someone-else");
    assert_problem(&reply(409, PROBLEM_JSON, body), 409, "email_taken");
}
