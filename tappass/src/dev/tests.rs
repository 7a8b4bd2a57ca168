//! The dev server's contract, route by route: in-process through the router
//! (`tower::ServiceExt::oneshot`), and over real sockets for starting and stopping.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::server::{router, Shared};
use super::{ApprovalRecordState, DevServer, Policy};
use crate::{GovernanceDecision, GovernanceError as _};

const KEY: &str = "Bearer tp_test";

struct Harness {
    shared: Arc<Shared>,
    app: axum::Router,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl Harness {
    fn new() -> Harness {
        Harness::with(Policy::default())
    }

    fn with(policy: Policy) -> Harness {
        let shared = Arc::new(Shared::new(
            policy,
            "http://dev.test".into(),
            super::events::DEFAULT_MAX_LOG_BYTES,
        ));
        Harness {
            app: router(shared.clone()),
            shared,
        }
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    fn request(method: Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, KEY)
            .header(header::CONTENT_TYPE, "application/json")
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(
            Self::request(Method::GET, path)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(
            Self::request(Method::POST, path)
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    async fn chat(&self, prompt: &str) -> Answer {
        self.post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}),
        )
        .await
    }

    async fn govern(&self, tool: &str, args: Value) -> Answer {
        self.post(
            "/v1/govern",
            json!({"type": "TOOL_CALL", "agent_id": null, "session_id": "ses_tools",
                   "org_id": null, "behavior_id": "0123456789abcdef0123456789abcdef",
                   "payload": {"tool": tool, "args": args, "server": null}}),
        )
        .await
    }

    fn approve(&self, id: &str) -> bool {
        self.shared.decide(id, ApprovalRecordState::Approved)
    }
}

/// The five correlation fields of a decision body or envelope.
fn assert_correlated(v: &Value) {
    for key in [
        "session_id",
        "task_id",
        "agent_uuid",
        "pipeline_uuid",
        "audit_url",
    ] {
        assert!(
            v[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key} in {v}"
        );
    }
    assert!(v["task_id"].as_str().unwrap().starts_with("tsk_"));
    let audit = v["audit_url"].as_str().unwrap();
    assert_eq!(
        audit,
        format!(
            "http://dev.test/v1/audit/sessions/{}",
            v["session_id"].as_str().unwrap()
        )
    );
}

/// A decision body: its status, its `decision`, and that the toolkit parses it as that kind.
fn assert_decision(a: &Answer, status: u16, kind: &str) -> Value {
    assert_eq!(a.status.as_u16(), status, "{}", a.text);
    let v = a.json();
    assert_eq!(v["decision"], kind, "{v}");
    assert!(v["reason"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert!(v["message"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert!(v.get("error").is_none(), "{v}");
    assert_correlated(&v);
    let parsed = GovernanceDecision::from_json(&v).expect("a decision");
    assert_eq!(parsed.code(), kind);
    v
}

// ---- Health, auth, routing ----------------------------------------------------------

#[tokio::test]
async fn health_needs_no_key() {
    let h = Harness::new();
    let a = h
        .send(Request::get("/health").body(Body::empty()).unwrap())
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["version"], "0.6.3");
    assert_eq!(v["storage"], "memory");
    assert_eq!(v["agents"], 0);
    assert!(v["uptime_seconds"].is_u64());
}

#[tokio::test]
async fn a_missing_or_foreign_key_is_a_plain_401() {
    let h = Harness::new();
    let body = json!({"messages": [{"role": "user", "content": "hi"}]}).to_string();
    for auth in [
        None,
        Some("Bearer sk_live_123"),
        Some("Basic dHA6"),
        Some("Bearer tp_"),
    ] {
        let mut req = Request::post("/v1/chat/completions");
        if let Some(auth) = auth {
            req = req.header(header::AUTHORIZATION, auth);
        }
        let a = h.send(req.body(Body::from(body.clone())).unwrap()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        let v = a.json();
        assert_eq!(v["error"], "unauthorized");
        assert!(v["message"].as_str().unwrap().contains("tp_"));
        assert!(v.get("decision").is_none());
        assert!(GovernanceDecision::from_json(&v).is_none());
    }
    for path in ["/v1/govern", "/v1/events", "/v1/me/approvals/apr_x"] {
        let req = Request::builder()
            .method(if path.contains("approvals") {
                "GET"
            } else {
                "POST"
            })
            .uri(path)
            .body(Body::from("[]"))
            .unwrap();
        assert_eq!(h.send(req).await.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let h = Harness::new();
    let a = h.get("/v1/nope").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.json()["error"], "not_found");
    let a = h.get("/v1/chat/completions").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(a.json()["error"], "method_not_allowed");
}

#[tokio::test]
async fn bodies_are_capped_at_one_mebibyte() {
    let h = Harness::new();
    let big = format!(
        "{{\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "a".repeat(super::server::MAX_BODY_BYTES)
    );
    let a = h
        .send(
            Harness::request(Method::POST, "/v1/chat/completions")
                .body(Body::from(big))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.json()["error"], "payload_too_large");
}

#[tokio::test]
async fn bodies_with_an_idempotency_key_are_capped_too() {
    let h = Harness::new();
    let big = format!(
        "{{\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "a".repeat(super::server::MAX_BODY_BYTES)
    );
    for path in ["/v1/chat/completions", "/v1/govern"] {
        let a = h
            .send(
                Harness::request(Method::POST, path)
                    .header("idempotency-key", "k-big")
                    .body(Body::from(big.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(a.json()["error"], "payload_too_large");
    }
}

// ---- Chat ---------------------------------------------------------------------------

#[tokio::test]
async fn chat_echoes_with_usage_and_envelope() {
    let h = Harness::new();
    let a = h
        .post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "Summarize Q4 revenue"}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let v = a.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Echo: Summarize Q4 revenue"
    );
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["tool_calls"], json!([]));
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9})
    );
    let t = &v["tappass"];
    assert_correlated(t);
    assert!(t["session_id"].as_str().unwrap().starts_with("ses_"));
    assert_eq!(t["session_id"].as_str().unwrap().len(), 28);
    assert_eq!(t["blocked"], false);
    assert_eq!(t["blocked_by"], "");
    assert_eq!(t["classification"], "PUBLIC");
    assert!(t["capability_token"].is_null());
    let steps = t["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    assert_eq!(steps[0]["step"], "detect_pii_ssn");
    assert_eq!(steps[0]["action"], "continue");
    assert_eq!(steps[0]["detected"], false);
    assert!(steps[0]["duration_ms"].is_f64());
    // The same key is the same agent; the correlation travels back in headers.
    assert_eq!(
        a.headers["x-tappass-session-id"],
        t["session_id"].as_str().unwrap()
    );
    let again = h.chat("hello").await.json();
    assert_eq!(again["tappass"]["agent_uuid"], t["agent_uuid"]);
    assert_ne!(again["tappass"]["session_id"], t["session_id"]);
    assert_eq!(h.get("/health").await.json()["agents"], 1);
}

#[tokio::test]
async fn chat_honours_the_session_from_headers_then_metadata() {
    let h = Harness::new();
    let body = json!({"messages": [{"role": "user", "content": "hi"}],
                      "metadata": {"session_id": "ses_from_metadata"}});
    let v = h.post("/v1/chat/completions", body.clone()).await.json();
    assert_eq!(v["tappass"]["session_id"], "ses_from_metadata");

    for name in ["X-TapPass-Session-Id", "X-TapPass-Session"] {
        let a = h
            .send(
                Harness::request(Method::POST, "/v1/chat/completions")
                    .header(name, "ses_from_header")
                    .header("X-TapPass-Agent-UUID", "agt-42")
                    .header("X-TapPass-Pipeline-Uuid", "pipe-7")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        let t = &a.json()["tappass"];
        assert_eq!(t["session_id"], "ses_from_header", "{name}");
        assert_eq!(t["agent_uuid"], "agt-42");
        assert_eq!(t["pipeline_uuid"], "pipe-7");
        assert_eq!(
            t["audit_url"],
            "http://dev.test/v1/audit/sessions/ses_from_header"
        );
    }

    let a = h
        .send(
            Harness::request(Method::POST, "/v1/chat/completions")
                .header("X-TapPass-Session-Id", "bad id!")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("X-TapPass-Session-Id"));
    assert!(!a.text.contains("bad id!"));
}

#[tokio::test]
async fn malformed_chat_requests_are_plain_400s() {
    let h = Harness::new();
    for body in [
        "{not json",
        "{}",
        r#"{"messages": []}"#,
        r#"{"messages": [{"role": "user", "content": 1}]}"#,
        r#"{"messages": [{"role": "user", "content": "x"}], "metadata": {"session_id": "no spaces"}}"#,
    ] {
        let a = h
            .send(
                Harness::request(Method::POST, "/v1/chat/completions")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        let v = a.json();
        assert_eq!(v["error"], "invalid_request");
        assert!(v.get("decision").is_none());
    }
}

#[tokio::test]
async fn streaming_is_sse_with_the_envelope_first_and_done_last() {
    let h = Harness::new();
    let a = h
        .post(
            "/v1/chat/completions",
            json!({"stream": true, "messages": [{"role": "user", "content": "one two three four five six seven"}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/event-stream");
    assert!(a.text.ends_with("data: [DONE]\n\n"), "{}", a.text);
    let frames: Vec<&str> = a.text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert!(frames.iter().all(|f| f.starts_with("data: ")));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(&f["data: ".len()..]).unwrap())
        .collect();
    assert!(chunks.len() >= 3, "{chunks:?}");
    assert_correlated(&chunks[0]["tappass"]);
    assert!(chunks[1].get("tappass").is_none());
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Echo: one two three four five six seven");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    assert_eq!(last["usage"]["completion_tokens"], 8);
}

#[tokio::test]
async fn a_decision_before_a_stream_is_a_json_body() {
    let h = Harness::new();
    let a = h
        .post(
            "/v1/chat/completions",
            json!({"stream": true, "messages": [{"role": "user", "content": "my ssn is 123-45-6789"}]}),
        )
        .await;
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/json");
    assert_decision(&a, 403, "policy_block");
}

// ---- Decisions on chat ------------------------------------------------------------------

#[tokio::test]
async fn pii_is_a_policy_block_by_detect_pii() {
    let h = Harness::new();
    for prompt in [
        "my ssn is 123-45-6789",
        "card 4111 1111 1111 1111 please",
        "card 5500-0055-5555-5559",
    ] {
        let v = assert_decision(&h.chat(prompt).await, 403, "policy_block");
        assert_eq!(v["blocked_by"], "detect_pii", "{prompt}");
        assert_eq!(v["classification"], "RESTRICTED");
        assert!(v["details"]["rule"].is_string());
        assert!(!v.to_string().contains("6789"), "the match is not echoed");
    }
    // Not Luhn-valid: not a card.
    assert_eq!(
        h.chat("order 4111 1111 1111 1112").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn approval_required_passes_once_approved() {
    let h = Harness::new();
    let v = assert_decision(
        &h.chat("please wire transfer $5000").await,
        428,
        "approval_required",
    );
    let id = v["request_id"].as_str().unwrap().to_owned();
    assert_eq!(v["approval_url"], format!("http://dev.test/approvals/{id}"));
    assert!(v["resume_token"].as_str().unwrap().starts_with("rt_"));
    let expires: crate::Timestamp = v["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires > crate::Timestamp::now());

    // While pending, the identical prompt answers the same approval.
    let again = assert_decision(
        &h.chat("please wire transfer $5000").await,
        428,
        "approval_required",
    );
    assert_eq!(again["request_id"], id.as_str());
    let row = h.get(&format!("/v1/me/approvals/{id}")).await.json();
    assert_eq!(row["state"], "pending");
    assert!(row["tool"].is_null());

    assert!(h.approve(&id));
    let a = h.chat("please wire transfer $5000").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.json()["choices"][0]["message"]["content"],
        "Echo: please wire transfer $5000"
    );
    // A different prompt is a different approval.
    assert_decision(
        &h.chat("please wire transfer $9000").await,
        428,
        "approval_required",
    );
}

#[tokio::test]
async fn a_denied_chat_approval_blocks() {
    let h = Harness::new();
    let v = h.chat("wire transfer to bob").await.json();
    let id = v["request_id"].as_str().unwrap();
    assert!(h.shared.decide(id, ApprovalRecordState::Denied));
    let v = assert_decision(&h.chat("wire transfer to bob").await, 403, "policy_block");
    assert_eq!(v["blocked_by"], "wire_transfer_approval");
}

#[tokio::test]
async fn authorization_required_is_401_with_its_code() {
    let h = Harness::new();
    let a = h.chat("Please connect my GitHub").await;
    let v = assert_decision(&a, 401, "authorization_required");
    assert_eq!(v["code"], "authorization_required");
    assert_eq!(v["provider"], "github");
    assert!(v["authorize_url"]
        .as_str()
        .unwrap()
        .starts_with("https://github.com/"));
    assert_eq!(v["scopes"], json!(["repo", "read:user"]));
    assert!(a.headers[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .contains("provider=\"github\""));
}

#[tokio::test]
async fn trust_tier_denied_is_403() {
    let h = Harness::new();
    let v = assert_decision(
        &h.chat("drop the production database").await,
        403,
        "trust_tier_denied",
    );
    assert_eq!(v["required_tier"], "privileged");
    assert_eq!(v["actual_tier"], "standard");
}

#[tokio::test]
async fn break_glass_is_503_with_retry_after() {
    let h = Harness::new();
    let a = h.chat("we are in incident mode").await;
    let v = assert_decision(&a, 503, "break_glass_active");
    assert_eq!(v["level"], "full_bypass");
    let until: crate::Timestamp = v["expires_at"].as_str().unwrap().parse().unwrap();
    let left = until.duration_from_now().as_secs();
    assert!((590..=600).contains(&left), "{left}");
    assert_eq!(a.headers[header::RETRY_AFTER], "600");
}

#[tokio::test]
async fn tool_integrity_violation_is_422() {
    let h = Harness::new();
    let v = assert_decision(
        &h.chat("run the legacy_export tool").await,
        422,
        "tool_integrity_violation",
    );
    assert_eq!(v["tool_name"], "legacy_export");
    assert_eq!(v["violation"], "hash_mismatch");
}

#[tokio::test]
async fn redaction_answers_200_with_the_redacted_prompt() {
    let h = Harness::new();
    let a = h.chat("mail jane.doe@example.com the report").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let v = a.json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Echo: mail [REDACTED_EMAIL] the report"
    );
    let t = &v["tappass"];
    assert_eq!(
        t["redactions"],
        json!([{"kind": "email", "start": 5, "end": 25, "replacement": "[REDACTED_EMAIL]"}])
    );
    assert_eq!(t["redacted_content"], "mail [REDACTED_EMAIL] the report");
    assert_eq!(t["blocked"], false);
    let step = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"] == "redact")
        .unwrap();
    assert_eq!(step["step"], "redact_pii");
    assert_eq!(step["detected"], true);
    // Evaluation goes on after a redaction.
    assert_decision(
        &h.chat("a@b.io: wire transfer now").await,
        428,
        "approval_required",
    );
    // No redaction: an empty list and no redacted content.
    let t = &h.chat("plain").await.json()["tappass"];
    assert_eq!(t["redactions"], json!([]));
    assert!(t["redacted_content"].is_null());
}

// ---- Tool governance ----------------------------------------------------------------------

#[tokio::test]
async fn govern_allows_unmatched_tools_and_blocks_delete_database() {
    let h = Harness::new();
    let a = h.govern("search_docs", json!({"q": "revenue"})).await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["outcome"], "allow");
    assert_eq!(v["behavior_id"], "0123456789abcdef0123456789abcdef");
    assert!(v["pipeline_id"].is_string());
    assert!(v["decided_at"]
        .as_str()
        .unwrap()
        .parse::<crate::Timestamp>()
        .is_ok());
    assert!(v["details"]["blocking_step"].is_null());
    assert!(v["approval"].is_null());
    assert_eq!(v["session_id"], "ses_tools");

    let v = h
        .govern("delete_database", json!({"name": "prod"}))
        .await
        .json();
    assert_eq!(v["outcome"], "block");
    assert_eq!(v["details"]["blocking_step"], "destructive_tools");
    assert!(v["reason"].as_str().unwrap().contains("never allowed"));
}

#[tokio::test]
async fn needs_approval_then_approve_then_allow() {
    let h = Harness::new();
    let args = json!({"to": "cfo@example.com", "subject": "Q4"});
    let v = h.govern("send_email", args.clone()).await.json();
    assert_eq!(v["outcome"], "needs_approval");
    assert_eq!(v["details"]["blocking_step"], "send_email_approval");
    let approval = &v["approval"];
    let id = approval["request_id"].as_str().unwrap().to_owned();
    assert_eq!(approval["fingerprint"].as_str().unwrap().len(), 32);
    assert!(approval["expires_at"]
        .as_str()
        .unwrap()
        .parse::<crate::Timestamp>()
        .is_ok());

    // Pending: the identical behaviour answers the same approval; key order does not matter.
    let again = h
        .govern(
            "send_email",
            json!({"subject": "Q4", "to": "cfo@example.com"}),
        )
        .await
        .json();
    assert_eq!(again["approval"]["request_id"], id.as_str());
    let row = h.get(&format!("/v1/me/approvals/{id}")).await.json();
    assert_eq!(row["state"], "pending");
    assert_eq!(row["tool"], "send_email");
    assert_eq!(row["fingerprint"], approval["fingerprint"]);
    assert!(row["decided_at"].is_null());
    assert_eq!(h.shared.approvals().pending().len(), 1);

    assert!(h.approve(&id));
    assert!(!h.approve(&id), "only a pending approval is decided");
    let v = h.govern("send_email", args.clone()).await.json();
    assert_eq!(v["outcome"], "allow");
    assert_eq!(v["approval"]["state"], "approved");
    let row = h.get(&format!("/v1/me/approvals/{id}")).await.json();
    assert_eq!(row["state"], "approved");
    assert!(row["decided_at"].is_string());

    // Other arguments are another behaviour.
    let v = h
        .govern("send_email", json!({"to": "someone@else.com"}))
        .await
        .json();
    assert_eq!(v["outcome"], "needs_approval");
    assert_ne!(v["approval"]["request_id"], id.as_str());
}

#[tokio::test]
async fn a_denied_behaviour_is_blocked() {
    let h = Harness::new();
    let v = h.govern("send_email", json!({"to": "x"})).await.json();
    let id = v["approval"]["request_id"].as_str().unwrap().to_owned();
    let a = h
        .post(&format!("/v1/me/approvals/{id}/deny"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["state"], "denied");
    let a = h
        .post(&format!("/v1/me/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let v = h.govern("send_email", json!({"to": "x"})).await.json();
    assert_eq!(v["outcome"], "block");
    assert!(v["reason"].as_str().unwrap().contains("denied"));
}

#[tokio::test]
async fn escalate_and_wait() {
    let h = Harness::new();
    let v = h.govern("wire_funds", json!({"amount": 5000})).await.json();
    assert_eq!(v["outcome"], "escalate");
    let id = v["approval"]["request_id"].as_str().unwrap().to_owned();

    // Still pending: 408 after the (short) timeout.
    let started = std::time::Instant::now();
    let a = h
        .get(&format!("/v1/me/approvals/{id}/wait?timeout_seconds=0.2"))
        .await;
    assert_eq!(a.status, StatusCode::REQUEST_TIMEOUT, "{}", a.text);
    assert_eq!(a.json()["state"], "pending");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Approved while waiting: 200 with the row, as soon as it is decided.
    let shared = h.shared.clone();
    let approver = {
        let id = id.clone();
        tokio::spawn(async move {
            // Decide once the request below waits, not after a guessed delay.
            while shared.approvals().waiters(&id) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(shared.decide(&id, ApprovalRecordState::Approved));
        })
    };
    let started = std::time::Instant::now();
    let a = h
        .get(&format!("/v1/me/approvals/{id}/wait?timeout_seconds=10"))
        .await;
    approver.await.unwrap();
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["state"], "approved");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Decided already: answers at once.
    let a = h.get(&format!("/v1/me/approvals/{id}/wait")).await;
    assert_eq!(a.status, StatusCode::OK);

    let v = h.govern("wire_funds", json!({"amount": 5000})).await.json();
    assert_eq!(v["outcome"], "allow");
}

#[tokio::test]
async fn approvals_routes_refuse_unknown_ids_and_bad_timeouts() {
    let h = Harness::new();
    for path in [
        "/v1/me/approvals/apr_nope",
        "/v1/me/approvals/apr_nope/wait",
    ] {
        let a = h.get(path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.json()["error"], "not_found");
    }
    let v = h.govern("send_email", json!({})).await.json();
    let id = v["approval"]["request_id"].as_str().unwrap();
    let a = h
        .get(&format!("/v1/me/approvals/{id}/wait?timeout_seconds=soon"))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let list = h.get("/v1/me/approvals").await.json();
    assert_eq!(list["approvals"][0]["request_id"], id);
}

#[tokio::test]
async fn tool_rules_can_answer_non_2xx_decisions() {
    let h = Harness::new();
    let v = assert_decision(
        &h.govern("legacy_export", json!({})).await,
        422,
        "tool_integrity_violation",
    );
    assert_eq!(v["tool_name"], "legacy_export");
    assert_eq!(v["violation"], "hash_mismatch");
    assert_eq!(v["session_id"], "ses_tools");
    let v = assert_decision(
        &h.govern("read_github_repo", json!({})).await,
        401,
        "authorization_required",
    );
    assert_eq!(v["code"], "authorization_required");
    assert_decision(
        &h.govern("deploy_production", json!({})).await,
        403,
        "trust_tier_denied",
    );

    let policy = Policy::from_toml(
        r#"
        [[rule]]
        name = "freeze"
        match.tool_regex = "^deploy_"
        decision = "break_glass_active"
        level = "relax"
        expires_in_seconds = 60

        [[rule]]
        name = "unapproved"
        match.tool = "shell"
        match.args_regex = "rm -rf"
        decision = "tool_integrity_violation"
        violation = "not_approved"
        "#,
    )
    .unwrap();
    let h = Harness::with(policy);
    let a = h.govern("deploy_staging", json!({})).await;
    assert_eq!(a.headers[header::RETRY_AFTER], "60");
    assert_decision(&a, 503, "break_glass_active");
    let v = assert_decision(
        &h.govern("shell", json!({"cmd": "rm -rf /"})).await,
        422,
        "tool_integrity_violation",
    );
    assert_eq!(v["tool_name"], "shell", "defaults to the called tool");
    assert_eq!(
        h.govern("shell", json!({"cmd": "ls"})).await.json()["outcome"],
        "allow"
    );
}

#[tokio::test]
async fn malformed_behaviours_are_plain_400s() {
    let h = Harness::new();
    let a = h.post("/v1/govern", json!({"payload": {}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["error"], "invalid_request");
}

// ---- Events and the audit url -------------------------------------------------------------

#[tokio::test]
async fn events_are_recorded_once_per_idempotency_key() {
    let h = Harness::new();
    let batch = json!([
        {"event_type": "session_open", "agent_id": "agt-1", "occurred_at": "2026-01-01T00:00:00Z",
         "session_id": "ses_ev", "task_id": null, "details": {}},
        {"event_type": "session_close", "agent_id": "agt-1", "occurred_at": "2026-01-01T00:00:01Z",
         "session_id": "ses_ev", "task_id": null, "details": {"status": 200}},
    ]);
    let post = |key: &'static str| {
        Harness::request(Method::POST, "/v1/events")
            .header("Idempotency-Key", key)
            .body(Body::from(batch.to_string()))
            .unwrap()
    };
    let a = h.send(post("batch-1")).await;
    assert!(a.status.is_success());
    assert_eq!(a.json()["accepted"], 2);
    let a = h.send(post("batch-1")).await;
    assert!(a.status.is_success());
    assert_eq!(a.json()["duplicate"], true);
    assert_eq!(h.shared.events().for_session("ses_ev").len(), 2);
    h.send(post("batch-2")).await;
    assert_eq!(h.shared.events().for_session("ses_ev").len(), 4);
    assert_eq!(h.shared.events().all()[0], batch[0]);

    for body in [json!({"event_type": "x"}), json!([1, 2])] {
        let a = h.post("/v1/events", body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.json()["error"], "invalid_request");
    }
}

#[tokio::test]
async fn the_audit_url_lists_the_sessions_events_without_a_key() {
    let h = Harness::new();
    let v = h
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}], "metadata": {"session_id": "ses_audit"}}),
        )
        .await
        .json();
    h.post(
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": "incident mode"}], "metadata": {"session_id": "ses_audit"}}),
    )
    .await;
    let url = v["tappass"]["audit_url"].as_str().unwrap();
    let path = url.strip_prefix("http://dev.test").unwrap();
    let a = h
        .send(Request::get(path).body(Body::empty()).unwrap())
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["session_id"], "ses_audit");
    let events = v["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["chat_call", "decision"]);
    assert_eq!(events[0]["details"]["total_tokens"], 3);
    assert_eq!(events[1]["details"]["decision"], "break_glass_active");
    assert!(events[1]["occurred_at"]
        .as_str()
        .unwrap()
        .parse::<crate::Timestamp>()
        .is_ok());
}

#[tokio::test]
async fn tool_calls_and_approvals_are_recorded() {
    let h = Harness::new();
    let v = h.govern("send_email", json!({"to": "x"})).await.json();
    h.approve(v["approval"]["request_id"].as_str().unwrap());
    h.govern("send_email", json!({"to": "x"})).await;
    let types: Vec<String> = h
        .shared
        .events()
        .for_session("ses_tools")
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["tool_call", "decision", "approval", "tool_call"]);
}

// ---- Real sockets ---------------------------------------------------------------------------

async fn http_get(url: &str) -> reqwest::Result<(u16, String)> {
    let response = reqwest::get(url).await?;
    Ok((response.status().as_u16(), response.text().await?))
}

#[tokio::test]
async fn a_started_server_serves_and_shuts_down() {
    let server = DevServer::start().await.unwrap();
    assert_eq!(server.url(), format!("http://{}", server.addr()));
    assert!(!server.url().ends_with('/'));
    let (status, body) = http_get(&format!("{}/health", server.url())).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"0.6.3\""));

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/chat/completions", server.url()))
        .header("authorization", "Bearer tp_dev")
        .header("x-tappass-session-id", "ses_socket")
        .body(r#"{"messages":[{"role":"user","content":"hello"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let v: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        v["tappass"]["audit_url"],
        format!("{}/v1/audit/sessions/ses_socket", server.url())
    );
    assert_eq!(server.events_for_session("ses_socket").len(), 1);
    assert_eq!(server.events().len(), 1);
    assert_eq!(server.event_count(), 1);

    let addr = server.addr();
    server.shutdown().await;
    assert!(http_get(&format!("http://{addr}/health")).await.is_err());
    // The port is free again.
    let again = DevServer::builder().listen(addr).start().await.unwrap();
    again.shutdown().await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let server = DevServer::start().await.unwrap();
    let clone = server.clone();
    let url = format!("{}/health", server.url());
    drop(server);
    assert!(http_get(&url).await.is_ok(), "a clone keeps it running");
    drop(clone);
    let mut stopped = false;
    for _ in 0..50 {
        if http_get(&url).await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped);
}

#[tokio::test]
async fn approvals_through_the_handle_and_cancel_on_shutdown() {
    let server = DevServer::start().await.unwrap();
    let client = reqwest::Client::new();
    let govern = |tool: &str| {
        client
            .post(format!("{}/v1/govern", server.url()))
            .header("authorization", "Bearer tp_dev")
            .body(json!({"payload": {"tool": tool, "args": {}}}).to_string())
            .send()
    };
    let v: Value =
        serde_json::from_str(&govern("wire_funds").await.unwrap().text().await.unwrap()).unwrap();
    let id = v["approval"]["request_id"].as_str().unwrap().to_owned();
    assert_eq!(server.pending_approvals().len(), 1);
    assert_eq!(server.pending_approvals()[0].request_id, id);
    assert_eq!(
        server.approval(&id).unwrap().tool.as_deref(),
        Some("wire_funds")
    );

    // A second approval is waited on while the server shuts down: the waiter
    // is answered (cancelled) rather than left hanging.
    let v: Value =
        serde_json::from_str(&govern("send_email").await.unwrap().text().await.unwrap()).unwrap();
    let waiting = v["approval"]["request_id"].as_str().unwrap().to_owned();
    assert!(server.deny(&id));
    assert!(!server.approve(&id));
    assert!(!server.approve("apr_unknown"));
    let wait = tokio::spawn(
        client
            .get(format!(
                "{}/v1/me/approvals/{waiting}/wait?timeout_seconds=30",
                server.url()
            ))
            .header("authorization", "Bearer tp_dev")
            .send(),
    );
    // Shut down once the request waits, not after a guessed delay.
    while server.waiters(&waiting) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = std::time::Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(4));
    let response = wait.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let row: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(row["state"], "cancelled");
}

#[tokio::test]
async fn a_busy_address_is_a_config_error() {
    let server = DevServer::start().await.unwrap();
    let err = DevServer::builder()
        .listen(server.addr())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::Config(_)), "{err:?}");
    assert!(
        err.to_string().contains(&server.addr().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_policy_file_is_read_or_refused() {
    let dir = std::env::temp_dir().join(format!("tappass-dev-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[[rule]]\nname = \"no_hello\"\nmatch.prompt_contains = \"hello\"\ndecision = \"policy_block\"\n",
    )
    .unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nname = \"x\"\ndecision = \"policy_block\"\n",
    )
    .unwrap();

    let server = DevServer::builder()
        .policy_file(&good)
        .unwrap()
        .start()
        .await
        .unwrap();
    assert_eq!(
        server.policy().rule_names().collect::<Vec<_>>(),
        ["no_hello"]
    );
    let err = DevServer::builder().policy_file(&bad).unwrap_err();
    assert!(
        err.to_string().contains("rule `x`: `match` is missing"),
        "{err}"
    );
    assert!(err.to_string().contains("bad.toml"), "{err}");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).expect("the test's own directory is removed");
}

// ---- Idempotency of chat and govern, over real sockets ----------------------------------------

/// One raw answer: status, the headers that matter here, and the body text.
#[derive(Debug, PartialEq)]
struct Raw {
    status: u16,
    retry_after: Option<String>,
    body: String,
    replayed: bool,
}

async fn post_raw(server: &DevServer, key: &str, path: &str, idem: &str, body: &Value) -> Raw {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("idempotency-key", idem)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let retry_after = header("retry-after");
    let replayed = header("idempotent-replayed").as_deref() == Some("true");
    Raw {
        status: response.status().as_u16(),
        retry_after,
        replayed,
        body: response.text().await.unwrap(),
    }
}

fn chat_body(prompt: &str, session: &str) -> Value {
    json!({"messages": [{"role": "user", "content": prompt}], "metadata": {"session_id": session}})
}

#[tokio::test]
async fn a_repeated_chat_key_answers_the_first_answer_and_records_nothing() {
    let server = DevServer::start().await.unwrap();
    for (prompt, status) in [
        ("hello there", 200),
        ("incident mode", 503),         // a decision, with Retry-After
        ("my ssn is 123-45-6789", 403), // a policy block
    ] {
        let session = format!("ses_idem_{status}");
        let body = chat_body(prompt, &session);
        let first = post_raw(&server, "tp_a", "/v1/chat/completions", &session, &body).await;
        assert_eq!(first.status, status, "{}", first.body);
        assert!(!first.replayed);
        let recorded = server.events_for_session(&session).len();
        assert!(recorded >= 1);
        let again = post_raw(&server, "tp_a", "/v1/chat/completions", &session, &body).await;
        assert!(again.replayed);
        assert_eq!(
            (again.status, &again.retry_after, &again.body),
            (first.status, &first.retry_after, &first.body)
        );
        assert_eq!(server.events_for_session(&session).len(), recorded);
    }
    // Streams are answered again byte for byte.
    let mut body = chat_body("one two three four five six seven", "ses_idem_sse");
    body["stream"] = true.into();
    let first = post_raw(&server, "tp_a", "/v1/chat/completions", "k-sse", &body).await;
    let again = post_raw(&server, "tp_a", "/v1/chat/completions", "k-sse", &body).await;
    assert!(first.body.ends_with("data: [DONE]\n\n"), "{}", first.body);
    assert_eq!(again.body, first.body);
    assert_eq!(server.events_for_session("ses_idem_sse").len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_repeated_govern_key_opens_no_second_approval_and_records_nothing() {
    let server = DevServer::start().await.unwrap();
    let body = json!({"type": "TOOL_CALL", "agent_id": null, "session_id": "ses_idem_tool",
                      "payload": {"tool": "send_email", "args": {"to": "x"}}});
    let first = post_raw(&server, "tp_a", "/v1/govern", "k-1", &body).await;
    assert_eq!(first.status, 200);
    let v: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(v["outcome"], "needs_approval");
    let events = server.events_for_session("ses_idem_tool").len();
    assert_eq!(events, 2); // tool_call and decision
    let again = post_raw(&server, "tp_a", "/v1/govern", "k-1", &body).await;
    assert!(again.replayed);
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    assert_eq!(server.pending_approvals().len(), 1);
    assert_eq!(server.events_for_session("ses_idem_tool").len(), events);
    // A different body under the same key is refused, and records nothing.
    let other = json!({"session_id": "ses_idem_tool", "payload": {"tool": "read_file"}});
    let reused = post_raw(&server, "tp_a", "/v1/govern", "k-1", &other).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert!(reused.body.contains("idempotency_key_reused"));
    assert_eq!(server.events_for_session("ses_idem_tool").len(), events);
    server.shutdown().await;
}

#[tokio::test]
async fn idempotency_keys_are_scoped_by_api_key_and_route() {
    let server = DevServer::start().await.unwrap();
    let body = chat_body("hello", "ses_scope");
    let a = post_raw(&server, "tp_alice", "/v1/chat/completions", "same", &body).await;
    let b = post_raw(&server, "tp_bob", "/v1/chat/completions", "same", &body).await;
    assert_eq!((a.status, b.status), (200, 200));
    assert!(!b.replayed, "bob must not read alice's answer");
    let task =
        |r: &Raw| serde_json::from_str::<Value>(&r.body).unwrap()["tappass"]["task_id"].clone();
    assert_ne!(task(&a), task(&b));
    assert_eq!(server.events_for_session("ses_scope").len(), 2);
    // The same key on another route is another call.
    let govern = json!({"session_id": "ses_scope", "payload": {"tool": "read_file"}});
    let g = post_raw(&server, "tp_alice", "/v1/govern", "same", &govern).await;
    assert_eq!(g.status, 200);
    assert!(!g.replayed);
    // So are event batches.
    let batch = json!([{"event_type": "x", "session_id": "ses_scope"}]);
    for key in ["tp_alice", "tp_bob"] {
        let e = post_raw(&server, key, "/v1/events", "same", &batch).await;
        assert_eq!(e.status, 202, "{}", e.body);
    }
    let e = post_raw(&server, "tp_bob", "/v1/events", "same", &batch).await;
    assert_eq!(e.status, 200);
    assert!(e.body.contains("\"duplicate\":true"));
    // A malformed key is a 400 on every route.
    for path in ["/v1/chat/completions", "/v1/govern", "/v1/events"] {
        let long = "k".repeat(257);
        let r = post_raw(&server, "tp_alice", path, &long, &body).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains("Idempotency-Key"));
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_of_a_key_are_governed_once() {
    let server = DevServer::start().await.unwrap();
    let body = chat_body("hello all at once", "ses_concurrent");
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (server, body) = (server.clone(), body.clone());
            tokio::spawn(async move {
                post_raw(&server, "tp_a", "/v1/chat/completions", "k-once", &body).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    assert!(answers
        .iter()
        .all(|a| a.status == 200 && a.body == answers[0].body));
    assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1);
    assert_eq!(server.events_for_session("ses_concurrent").len(), 1);
    server.shutdown().await;
}

// ---- Bounded memory ---------------------------------------------------------------------------

/// An event whose compact JSON is exactly `size` bytes (for sizes above ~200).
fn event_of_size(session: &str, i: usize, size: usize) -> Value {
    let mut e = json!({"event_type": "bulk", "agent_id": "agt-1", "occurred_at": "2026-01-01T00:00:00Z",
                       "session_id": session, "task_id": null, "details": {"i": i, "pad": ""}});
    let pad = size - e.to_string().len();
    e["details"]["pad"] = "x".repeat(pad).into();
    assert_eq!(e.to_string().len(), size);
    e
}

#[test]
fn a_flood_of_maximal_events_stays_under_the_default_byte_cap() {
    use super::events::{EventLog, DEFAULT_MAX_LOG_BYTES, MAX_EVENT_BYTES};
    let mut log = EventLog::new(DEFAULT_MAX_LOG_BYTES);
    let per_cap = DEFAULT_MAX_LOG_BYTES / MAX_EVENT_BYTES;
    let total = per_cap * 5 / 2;
    for i in 0..total {
        log.push(event_of_size("ses_flood", i, MAX_EVENT_BYTES));
        assert!(
            log.bytes() <= DEFAULT_MAX_LOG_BYTES,
            "after {i}: {}",
            log.bytes()
        );
    }
    // Full, and what is left is the newest events, in order.
    assert!(log.bytes() > DEFAULT_MAX_LOG_BYTES - 2 * MAX_EVENT_BYTES);
    let kept: Vec<u64> = log
        .all()
        .iter()
        .map(|e| e["details"]["i"].as_u64().unwrap())
        .collect();
    assert!(
        kept.len() < per_cap && kept.len() > per_cap - 5,
        "{}",
        kept.len()
    );
    let first = (total - kept.len()) as u64;
    assert_eq!(kept, (first..total as u64).collect::<Vec<_>>());
}

#[test]
fn many_small_events_are_capped_by_count_as_well() {
    use super::events::{EventLog, DEFAULT_MAX_LOG_BYTES, MAX_EVENTS};
    let mut log = EventLog::new(DEFAULT_MAX_LOG_BYTES);
    for i in 0..MAX_EVENTS + 10 {
        log.push(json!({ "i": i }));
    }
    assert_eq!(log.len(), MAX_EVENTS);
    assert_eq!(log.all()[0]["i"], 10);
}

#[tokio::test]
async fn posted_events_over_the_limits_are_refused_whole() {
    use super::events::MAX_EVENT_BYTES;
    let h = Harness::new();
    let fine = event_of_size("ses_limits", 0, 300);
    let big = event_of_size("ses_limits", 1, MAX_EVENT_BYTES + 1);
    let a = h.post("/v1/events", json!([fine, big])).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text);
    assert_eq!(a.json()["error"], "payload_too_large");
    assert!(a.json()["message"].as_str().unwrap().contains("event #1"));
    let exact = event_of_size("ses_limits", 2, MAX_EVENT_BYTES);
    assert_eq!(
        h.post("/v1/events", json!([exact])).await.status,
        StatusCode::ACCEPTED
    );

    for field in [
        "event_type",
        "agent_id",
        "session_id",
        "task_id",
        "occurred_at",
    ] {
        let mut e = fine.clone();
        e[field] = "x".repeat(257).into();
        let a = h.post("/v1/events", json!([fine, e])).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{field}: {}", a.text);
        let message = a.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(&format!("event #1: `{field}`")),
            "{message}"
        );
        e[field] = "x".repeat(256).into();
        assert_eq!(
            h.post("/v1/events", json!([e])).await.status,
            StatusCode::ACCEPTED
        );
    }
    // Only the accepted batches were recorded.
    assert_eq!(h.shared.events().len(), 6);
}

#[tokio::test]
async fn long_model_and_tool_names_are_refused() {
    let h = Harness::new();
    let a = h
        .post(
            "/v1/chat/completions",
            json!({"model": "m".repeat(257), "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("`model` is 257 bytes"));
    let a = h.govern(&"t".repeat(257), json!({})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("`payload.tool`"));
    assert!(h.shared.events().all().is_empty());
}

#[tokio::test]
async fn a_long_streamed_answer_has_a_bounded_number_of_chunks() {
    let h = Harness::new();
    let prompt = "word ".repeat(100_000);
    let a = h
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": prompt}], "stream": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let frames = a.text.matches("data: ").count();
    assert!(frames <= 256 + 2, "{frames} frames");
    // Within a small factor of the text itself.
    assert!(a.text.len() < 2 * prompt.len(), "{} bytes", a.text.len());
    let text: String = a
        .text
        .split("\n\n")
        .filter_map(|f| f.strip_prefix("data: "))
        .filter(|f| *f != "[DONE]")
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, format!("Echo: {prompt}"));
}

#[tokio::test]
async fn a_long_prompt_is_redacted_off_the_worker_with_the_same_result() {
    let h = Harness::new();
    let prompt = "mail a@b.io now. ".repeat(4_000); // 68 KB, past the inline limit
    let a = h.chat(&prompt).await;
    assert_eq!(a.status, StatusCode::OK, "{}", &a.text[..200]);
    let t = &a.json()["tappass"];
    assert_eq!(t["redactions"].as_array().unwrap().len(), 4_000);
    assert_eq!(
        t["redacted_content"],
        "mail [REDACTED_EMAIL] now. ".repeat(4_000)
    );
}

#[tokio::test]
async fn the_event_log_stays_under_a_configured_cap_over_sockets() {
    use super::events::MAX_EVENT_BYTES;
    let cap = 1 << 20;
    let server = DevServer::builder()
        .max_event_log_bytes(cap)
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let per_batch = (super::server::MAX_BODY_BYTES / MAX_EVENT_BYTES) - 1;
    let mut sent = 0;
    for _ in 0..6 {
        let batch: Vec<Value> = (sent..sent + per_batch)
            .map(|i| event_of_size("ses_cap", i, MAX_EVENT_BYTES))
            .collect();
        sent += per_batch;
        let response = client
            .post(format!("{}/v1/events", server.url()))
            .header("authorization", "Bearer tp_dev")
            .body(Value::from(batch).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        assert!(
            server.event_log_bytes() <= cap,
            "{}",
            server.event_log_bytes()
        );
    }
    let kept = server.events();
    assert!(!kept.is_empty() && kept.len() < 16, "{}", kept.len());
    assert_eq!(kept.last().unwrap()["details"]["i"], sent - 1);
    assert!(format!("{server:?}").contains(&format!("of {cap}")));
    server.shutdown().await;
}

// ---- Paging the audit url ----------------------------------------------------------------------

#[tokio::test]
async fn paging_walks_every_event_of_the_session_exactly_once() {
    let h = Harness::new();
    let n: usize = 2_345;
    // Interleaved with another session's events, which the walk must skip.
    let batch: Vec<Value> = (0..n)
        .flat_map(|i| {
            [
                json!({"event_type": "e", "session_id": "ses_walk", "details": {"i": i}}),
                json!({"event_type": "e", "session_id": "ses_other", "details": {"i": i}}),
            ]
        })
        .collect();
    assert_eq!(
        h.post("/v1/events", json!(batch)).await.status,
        StatusCode::ACCEPTED
    );

    // The default page: the compatible shape, 1,000 events and a cursor.
    let first = h
        .send(
            Request::get("/v1/audit/sessions/ses_walk")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(first.headers[header::CONTENT_TYPE], "application/json");
    let v = first.json();
    assert_eq!(v["session_id"], "ses_walk");
    assert_eq!(v["events"].as_array().unwrap().len(), 1_000);
    assert!(v["next_cursor"].is_string());

    for limit in [1, 7, 1_000] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/v1/audit/sessions/ses_walk?limit={limit}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let v = h
                .send(Request::get(path).body(Body::empty()).unwrap())
                .await
                .json();
            let events = v["events"].as_array().unwrap();
            assert!(events.len() <= limit);
            assert!(!events.is_empty(), "no empty pages");
            seen.extend(events.iter().map(|e| {
                assert_eq!(e["session_id"], "ses_walk");
                e["details"]["i"].as_u64().unwrap()
            }));
            pages += 1;
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, (0..n as u64).collect::<Vec<_>>(), "limit {limit}");
        assert_eq!(pages, n.div_ceil(limit), "limit {limit}");
    }
}

#[tokio::test]
async fn a_page_is_bounded_in_bytes_too_and_bad_paging_is_a_400() {
    use super::events::{MAX_EVENT_BYTES, MAX_PAGE_BYTES};
    let h = Harness::new();
    for chunk in 0..3 {
        let batch: Vec<Value> = (0..10)
            .map(|i| event_of_size("ses_heavy", chunk * 10 + i, MAX_EVENT_BYTES))
            .collect();
        assert_eq!(
            h.post("/v1/events", json!(batch)).await.status,
            StatusCode::ACCEPTED
        );
    }
    let a = h
        .send(
            Request::get("/v1/audit/sessions/ses_heavy")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(a.text.len() <= MAX_PAGE_BYTES + 1024, "{}", a.text.len());
    let v = a.json();
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        MAX_PAGE_BYTES / MAX_EVENT_BYTES
    );
    assert!(v["next_cursor"].is_string());

    for query in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "cursor=",
        "cursor=abc",
        "cursor=-1",
    ] {
        let a = h
            .send(
                Request::get(format!("/v1/audit/sessions/ses_heavy?{query}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(a.json()["error"], "invalid_request");
    }
    // A cursor past the end, or from before evictions, still answers.
    let a = h
        .send(
            Request::get("/v1/audit/sessions/ses_heavy?cursor=99999999999999")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.json()["events"], json!([]));
    assert!(a.json()["next_cursor"].is_null());
}

// ---- Listening address ---------------------------------------------------------------------------

#[tokio::test]
async fn only_loopback_addresses_count_as_loopback() {
    use super::server::is_loopback;
    for addr in [
        "127.0.0.1:1",
        "127.9.9.9:1",
        "[::1]:1",
        "[::ffff:127.0.0.1]:1",
    ] {
        assert!(is_loopback(addr.parse().unwrap()), "{addr}");
    }
    for addr in [
        "0.0.0.0:1",
        "[::]:1",
        "192.168.1.10:1",
        "[2001:db8::1]:1",
        "[::ffff:10.0.0.1]:1",
    ] {
        assert!(!is_loopback(addr.parse().unwrap()), "{addr}");
    }
    let server = DevServer::start().await.unwrap();
    assert!(server.is_loopback());
    server.shutdown().await;
}

/// README, Endpoints: `…/wait` long-polls at most 30 s whatever
/// `timeout_seconds` asks. On tokio's paused clock (it jumps to the next
/// timer when the runtime is idle), a wait for an hour answers 408 after
/// 30 virtual seconds and a wait for 2 after 2: the cap is read off the
/// clock the server waits on, with no real waiting.
#[tokio::test(start_paused = true)]
async fn a_wait_is_capped_at_30_seconds() {
    let h = Harness::new();
    let v = h.govern("wire_funds", json!({})).await.json();
    let id = v["approval"]["request_id"].as_str().unwrap().to_owned();
    for (asked, waited) in [(3600, 30), (31, 30), (30, 30), (2, 2)] {
        let started = tokio::time::Instant::now();
        let a = h
            .get(&format!(
                "/v1/me/approvals/{id}/wait?timeout_seconds={asked}"
            ))
            .await;
        assert_eq!(a.status, StatusCode::REQUEST_TIMEOUT, "{}", a.text);
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(waited) && elapsed < Duration::from_secs(waited + 1),
            "asked {asked} s, waited {elapsed:?}"
        );
    }
}
