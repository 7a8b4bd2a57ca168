//! Idempotent replays stay in their session, and ids stay one URL path
//! segment: a dot segment is no session, and the audit links the dev server
//! writes hold each id whole.

use reqwest::Client;
use serde_json::{json, Value};
use tappass_dev::{DevServer, Policy};

use crate::support::dev_http::{behaviour, post};

async fn server(policy: Policy) -> DevServer {
    DevServer::builder()
        .policy(policy)
        .start()
        .await
        .expect("the dev server starts")
}

/// An `Idempotency-Key` replays its answer only for the same request: the
/// same key and body from another session is refused (422), never answered
/// with the first session's decision and mandate.
#[tokio::test]
async fn an_idempotent_replay_stays_in_its_session() {
    let dev = server(Policy::allow_all()).await;
    let key = [("Idempotency-Key", "0f0e0d0c0b0a09080706050403020100")];
    let in_session = |session: &'static str| {
        let mut headers = key.to_vec();
        headers.push(("X-TapPass-Session-Id", session));
        headers
    };
    let body = behaviour("search", json!({"q": "rust"}));
    let (status, first, _) = post(
        &dev.url(),
        "/v1/govern",
        "tp_k",
        &in_session("ses_one"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let (status, replay, headers) = post(
        &dev.url(),
        "/v1/govern",
        "tp_k",
        &in_session("ses_one"),
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replay["mandate"], first["mandate"]);
    let (status, other, _) = post(
        &dev.url(),
        "/v1/govern",
        "tp_k",
        &in_session("ses_two"),
        &body,
    )
    .await;
    assert_eq!(status, 422, "{other}");
    assert_eq!(other["error"], "idempotency_key_reused", "{other}");
    assert!(other.get("mandate").is_none());
    assert_eq!(dev.mandates().len(), 1, "one decision, one mandate");
}

/// `.` and `..` are no ids: the dev server refuses them as a session, and
/// the audit links it writes hold each id as one path segment.
#[tokio::test]
async fn a_dot_segment_is_no_session_and_ids_stay_one_path_segment() {
    let dev = DevServer::start().await.unwrap();
    let chat = json!({"messages": [{"role": "user", "content": "hello"}]});
    for session in ["..", "."] {
        let (status, body, _) = post(
            &dev.url(),
            "/v1/chat/completions",
            "tp_dots",
            &[("X-TapPass-Session-Id", session)],
            &chat,
        )
        .await;
        assert_eq!(status, 400, "{session}: {body}");
        let mut in_body = chat.clone();
        in_body["metadata"] = json!({"session_id": session});
        let (status, body, _) =
            post(&dev.url(), "/v1/chat/completions", "tp_dots", &[], &in_body).await;
        assert_eq!(status, 400, "{session} in the body: {body}");
    }
    let (status, body, _) = post(
        &dev.url(),
        "/v1/chat/completions",
        "tp_dots",
        &[("X-TapPass-Session-Id", "ses.a:b")],
        &chat,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let audit = body["tappass"]["audit_url"].as_str().unwrap();
    assert_eq!(audit, format!("{}/v1/audit/sessions/ses.a:b", dev.url()));
    let listed: Value = Client::new()
        .get(audit)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["session_id"], "ses.a:b");
}
