//! RFC 9457 problem+json, through real axum routers: the layer's opt-in
//! (`problem_json(true)`) for every governance error produced under it, the
//! per-response `Problem(..)` and the per-type `#[governance(problem)]`; and
//! the one error shape that decisions, rejections and the layer's own 400
//! share, in both forms.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::HeaderMap;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tappass::response::Problem;
use tappass::{GovernanceDecision, Session, TapPassLayer};
use tower::ServiceExt;

use crate::support::sockets::refused_url;

fn layer(problem_json: bool) -> TapPassLayer {
    TapPassLayer::builder()
        .tappass_url(refused_url())
        .api_key("tp_problem_tests")
        .problem_json(problem_json)
        .build()
        .unwrap()
}

fn decision(body: Value) -> tappass::Error {
    GovernanceDecision::from_json(&body).unwrap().into()
}

async fn blocked() -> Result<String, tappass::Error> {
    Err(decision(json!({
        "decision": "policy_block",
        "blocked_by": "detect_pii",
        "reason": "PII in prompt",
    })))
}

async fn break_glass() -> Result<String, tappass::Error> {
    Err(decision(json!({
        "decision": "break_glass_active",
        "level": "full_bypass",
        "expires_at": "2030-01-01T00:00:00Z",
    })))
}

async fn unavailable() -> Result<String, tappass::Error> {
    // A failure, as the agent returns it when the control plane is down.
    let agent = tappass::Agent::new(refused_url(), "tp_problem_tests").unwrap();
    agent.chat("hello").await.map(|r| r.content)
}

async fn needs_session(session: Session) -> String {
    session.id().to_owned()
}

/// A user's own derived error. Not the design's `ChatError`
/// (`support::chat_error!`): this `Rejected` has no `audit_url` field, so the
/// session's audit link fills in, which
/// `a_users_derived_error_answers_problem_json` checks (a field of the case,
/// even `None`, would win over it).
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum UserError {
    #[error("prompt rejected: {reason}")]
    #[governance(status = 403, code = "prompt_rejected")]
    Rejected { reason: String },

    #[error("odd code")]
    #[governance(status = 409, code = code)]
    Odd { code: String },
}

async fn rejected() -> Result<String, UserError> {
    Err(UserError::Rejected {
        reason: "off topic".into(),
    })
}

async fn odd() -> Result<String, UserError> {
    Err(UserError::Odd {
        code: "a b/c".into(),
    })
}

#[tappass::governed]
async fn governed_blocked(_session: Option<Session>) -> Result<String, tappass::Error> {
    blocked().await
}

async fn not_governance() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "no such thing")
}

/// Always problem+json, whatever the layer says.
async fn wrapped() -> Result<String, Problem<tappass::Error>> {
    Ok(blocked().await?)
}

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[error("quota exceeded")]
#[governance(status = 429, problem)]
struct QuotaExceeded {
    limit: u32,
}

async fn quota() -> Result<String, QuotaExceeded> {
    Err(QuotaExceeded { limit: 10 })
}

fn routes() -> Router {
    Router::new()
        .route("/blocked", get(blocked))
        .route("/break-glass", get(break_glass))
        .route("/unavailable", get(unavailable))
        .route("/session", get(needs_session))
        .route("/rejected", get(rejected))
        .route("/odd", get(odd))
        .route("/governed", get(governed_blocked))
        .route("/missing", get(not_governance))
        .route("/ok", get(|| async { "fine" }))
        .route("/wrapped", get(wrapped))
        .route("/quota", get(quota))
}

fn app(problem_json: bool) -> Router {
    routes().layer(layer(problem_json))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

async fn call(app: Router, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        text: String::from_utf8(body.to_vec()).unwrap(),
    }
}

const SESSION: [(&str, &str); 2] = [
    ("X-TapPass-Session-Id", "ses_problem"),
    (
        "X-TapPass-Audit-Url",
        "https://tappass.example.com/s/ses_problem",
    ),
];

/// The four RFC 9457 members, checked against the plain members beside them.
fn assert_problem(answer: &Answer, code: &str, title: &str) -> Value {
    assert_eq!(
        answer.content_type(),
        "application/problem+json",
        "{}",
        answer.text
    );
    let body = answer.json();
    assert_eq!(body["type"], format!("urn:tappass:error:{code}"));
    assert_eq!(body["title"], title);
    assert_eq!(body["status"], answer.status.as_u16());
    assert_eq!(body["detail"], body["message"]);
    assert_eq!(body["error"], code);
    body
}

#[tokio::test]
async fn with_the_option_on_a_decision_answers_problem_json_with_every_plain_member() {
    let plain = call(app(false), "/blocked", &SESSION).await;
    let problem = call(app(true), "/blocked", &SESSION).await;
    assert_eq!(plain.status, StatusCode::FORBIDDEN);
    assert_eq!(problem.status, StatusCode::FORBIDDEN);
    assert_eq!(plain.content_type(), "application/json");
    let body = assert_problem(&problem, "policy_block", "Forbidden");
    assert_eq!(body["blocked_by"], "detect_pii");
    assert_eq!(problem.headers["x-tappass-session-id"], "ses_problem");
    assert!(problem
        .headers
        .get("content-length")
        .is_none_or(|len| { len.to_str().unwrap() == problem.text.len().to_string() }));

    // Exactly the plain members, plus the four.
    let mut without = body.as_object().unwrap().clone();
    for key in ["type", "title", "status", "detail"] {
        without.remove(key);
    }
    assert_eq!(Value::Object(without), plain.json());
    // The standard members come first.
    assert!(problem.text.starts_with(
        r#"{"type":"urn:tappass:error:policy_block","title":"Forbidden","status":403,"detail":"#
    ));
}

#[tokio::test]
async fn the_case_headers_stay_on_a_problem_response() {
    let answer = call(app(true), "/break-glass", &[]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_problem(&answer, "break_glass_active", "Service Unavailable");
    assert_eq!(
        answer.headers["retry-after"],
        "Tue, 01 Jan 2030 00:00:00 GMT"
    );
}

#[tokio::test]
async fn a_failure_answers_problem_json_with_its_fixed_message() {
    let answer = call(app(true), "/unavailable", &SESSION).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = assert_problem(&answer, "governance_unavailable", "Service Unavailable");
    assert_eq!(
        body["detail"],
        "the governance control plane is unavailable, so the request was refused (fail closed); retry later"
    );
    assert!(!answer.text.contains("127.0.0.1"), "{}", answer.text);
}

#[tokio::test]
async fn the_layers_own_400_answers_problem_json_without_echoing_the_value() {
    let answer = call(app(true), "/ok", &[("X-TapPass-Session-Id", "bad value!")]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let body = assert_problem(&answer, "invalid_correlation_header", "Bad Request");
    assert_eq!(body["header"], "X-TapPass-Session-Id");
    assert!(!answer.text.contains("bad value"), "{}", answer.text);
}

#[tokio::test]
async fn an_extractor_rejection_answers_problem_json() {
    let answer = call(app(true), "/session", &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_problem(&answer, "session_required", "Bad Request");
}

#[tokio::test]
async fn a_users_derived_error_answers_problem_json() {
    let answer = call(app(true), "/rejected", &SESSION).await;
    let body = assert_problem(&answer, "prompt_rejected", "Forbidden");
    assert_eq!(body["reason"], "off topic");
    // The session's correlation ids, as in the plain body.
    assert_eq!(body["session_id"], "ses_problem");
    assert_eq!(
        body["audit_url"],
        "https://tappass.example.com/s/ses_problem"
    );

    // A code read from a field is percent-encoded into the type URN.
    let answer = call(app(true), "/odd", &[]).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    let body = answer.json();
    assert_eq!(body["type"], "urn:tappass:error:a%20b%2Fc");
    assert_eq!(body["error"], "a b/c");
}

#[tokio::test]
async fn a_governed_handlers_error_answers_problem_json() {
    for headers in [&SESSION[..], &[]] {
        let answer = call(app(true), "/governed", headers).await;
        assert_problem(&answer, "policy_block", "Forbidden");
    }
}

#[tokio::test]
async fn other_responses_pass_untouched() {
    let answer = call(app(true), "/missing", &SESSION).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.text, "no such thing");
    assert_eq!(answer.content_type(), "text/plain; charset=utf-8");

    let answer = call(app(true), "/ok", &SESSION).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text, "fine");
}

#[tokio::test]
async fn the_option_is_off_by_default() {
    let layer = TapPassLayer::builder()
        .tappass_url(refused_url())
        .api_key("tp_problem_tests")
        .build()
        .unwrap();
    assert!(!layer.problem_json());
    let answer = call(routes().layer(layer), "/blocked", &[]).await;
    assert_eq!(answer.content_type(), "application/json");
    assert!(answer.json().get("type").is_none());
}

#[tokio::test]
async fn problem_wraps_one_response_with_or_without_the_layer() {
    for (behind_layer, app) in [(false, routes()), (true, app(false)), (true, app(true))] {
        let answer = call(app, "/wrapped", &SESSION).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        let body = assert_problem(&answer, "policy_block", "Forbidden");
        assert_eq!(body["blocked_by"], "detect_pii");
        assert_eq!(
            answer.headers.get("x-tappass-session-id").is_some(),
            behind_layer
        );
    }
}

#[tokio::test]
async fn a_problem_type_answers_problem_json_everywhere() {
    for app in [routes(), app(false), app(true)] {
        let answer = call(app, "/quota", &[]).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        let body = assert_problem(&answer, "quota_exceeded", "Too Many Requests");
        assert_eq!(body["limit"], 10);
    }
}

#[tokio::test]
async fn the_wrapper_and_the_layer_write_the_same_body() {
    let through_layer = call(app(true), "/blocked", &SESSION).await;
    let wrapped = call(app(false), "/wrapped", &SESSION).await;
    assert_eq!(through_layer.text, wrapped.text);
}

#[tokio::test]
async fn problem_renders_outside_a_router_too() {
    let response = Problem(decision(
        json!({"decision": "approval_required", "resume_token": "apr_1"}),
    ))
    .into_response();
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["title"], "Precondition Required");
    assert_eq!(body["resume_token"], "apr_1");
}

/// One error shape: a decision, an extractor rejection and the layer's own 400
/// answer the same top-level members, in plain JSON and in problem+json.
#[tokio::test]
async fn decisions_rejections_and_the_layers_400_share_one_shape() {
    for problem_json in [false, true] {
        let answers = [
            call(app(problem_json), "/blocked", &SESSION).await,
            call(app(problem_json), "/session", &[]).await,
            // (an empty agent header is absent, as the Python SDK sends it;
            // a space makes it malformed)
            call(
                app(problem_json),
                "/ok",
                &[("X-TapPass-Agent-Uuid", "agt 1")],
            )
            .await,
        ];
        let mut shared = vec!["error", "message"];
        if problem_json {
            shared.extend(["type", "title", "status", "detail"]);
        }
        let expected_type = if problem_json {
            "application/problem+json"
        } else {
            "application/json"
        };
        for answer in &answers {
            assert!(answer.status.is_client_error(), "{}", answer.text);
            assert_eq!(answer.content_type(), expected_type);
            let body = answer.json();
            for key in &shared {
                assert!(body.get(key).is_some(), "{key} missing from {body}");
            }
            assert!(body["error"].is_string() && body["message"].is_string());
            // The shared members come first, in one order.
            let start = if problem_json {
                r#"{"type":"urn:tappass:error:"#
            } else {
                r#"{"error":""#
            };
            assert!(answer.text.starts_with(start), "{}", answer.text);
        }
        assert_eq!(answers[0].json()["error"], "policy_block");
        assert_eq!(answers[1].json()["error"], "session_required");
        assert_eq!(answers[2].json()["error"], "invalid_correlation_header");
        assert_eq!(answers[2].json()["header"], "X-TapPass-Agent-Uuid");
    }
}
