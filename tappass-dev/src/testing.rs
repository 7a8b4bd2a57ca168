//! Scaffolding for the dev server's tests: a [`Harness`] that drives the
//! router in-process (`tower::ServiceExt::oneshot`), and the checks every
//! decision body must pass. The tests live beside the module they test.

use std::sync::Arc;

use axum::body::Body;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::policy::Policy;
use crate::server::router;
use crate::state::Shared;
use crate::stores::event_log::DEFAULT_MAX_LOG_BYTES;
use crate::stores::mandates::Signer;
use tappass::agent::ApprovalState;
use tappass::{GovernanceDecision, GovernanceError as _};

pub(super) const KEY: &str = "Bearer tp_test";

pub(super) struct Harness {
    pub(super) shared: Arc<Shared>,
    pub(super) app: axum::Router,
}

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) text: String,
    pub(super) bytes: bytes::Bytes,
}

impl Answer {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl Harness {
    pub(super) fn new() -> Harness {
        Harness::with(Policy::default())
    }

    pub(super) fn with(policy: Policy) -> Harness {
        let shared = Arc::new(
            Shared::new(
                policy,
                "http://dev.test".into(),
                DEFAULT_MAX_LOG_BYTES,
                Some(Signer::generate()),
                tappass::capability::SigningKey::from_bytes(&[7; 32]),
                None,
            )
            .expect("an in-memory state"),
        );
        Harness {
            app: router(shared.clone()),
            shared,
        }
    }

    /// Sends `request`, addressed to `127.0.0.1:9620` unless it names a
    /// `Host` itself (as a local client addresses the server; the console
    /// and the audit route refuse a name, see `origin`).
    pub(super) async fn send(&self, mut request: Request<Body>) -> Answer {
        request
            .headers_mut()
            .entry(header::HOST)
            .or_insert(http::HeaderValue::from_static("127.0.0.1:9620"));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub(super) fn request(method: Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, KEY)
            .header(header::CONTENT_TYPE, "application/json")
    }

    pub(super) async fn get(&self, path: &str) -> Answer {
        self.send(
            Self::request(Method::GET, path)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(
            Self::request(Method::POST, path)
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// A chat in the session `ses_chat` (an approval belongs to its session,
    /// so the chats of one test share one).
    pub(super) async fn chat(&self, prompt: &str) -> Answer {
        self.post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}],
                   "metadata": {"session_id": "ses_chat"}}),
        )
        .await
    }

    pub(super) async fn govern(&self, tool: &str, args: Value) -> Answer {
        self.post(
            "/v1/govern",
            json!({"type": "TOOL_CALL", "agent_id": null, "session_id": "ses_tools",
                   "org_id": null, "behavior_id": "0123456789abcdef0123456789abcdef",
                   "payload": {"tool": tool, "args": args, "server": null}}),
        )
        .await
    }

    pub(super) fn approve(&self, id: &str) -> bool {
        self.shared.decide(id, ApprovalState::Approved)
    }
}

/// The five correlation fields of a decision body or envelope.
pub(super) fn assert_correlated(v: &Value) {
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
pub(super) fn assert_decision(a: &Answer, status: u16, kind: &str) -> Value {
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

/// An event whose compact JSON is exactly `size` bytes (for sizes above ~200).
pub(super) fn event_of_size(session: &str, i: usize, size: usize) -> Value {
    let mut e = json!({"event_type": "bulk", "agent_id": "agt-1", "occurred_at": "2026-01-01T00:00:00Z",
                       "session_id": session, "task_id": null, "details": {"i": i, "pad": ""}});
    let pad = size - e.to_string().len();
    e["details"]["pad"] = "x".repeat(pad).into();
    assert_eq!(e.to_string().len(), size);
    e
}
