use http::HeaderMap;
use serde_json::{json, Value};

use super::*;
use crate::DevServer;

#[test]
fn keys_must_be_short_visible_ascii() {
    let headers = |v: &str| {
        let mut h = HeaderMap::new();
        h.insert("idempotency-key", HeaderValue::from_str(v).unwrap());
        h
    };
    assert_eq!(key(&HeaderMap::new()).unwrap(), None);
    assert_eq!(key(&headers("abc-123")).unwrap(), Some("abc-123"));
    let max = "k".repeat(MAX_KEY_LEN);
    assert_eq!(key(&headers(&max)).unwrap(), Some(max.as_str()));
    for bad in ["", "a b", &"k".repeat(MAX_KEY_LEN + 1)] {
        assert!(key(&headers(bad)).is_err(), "{bad:?}");
    }
}

// ---- Over the router ----------------------------------------------------------------

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
