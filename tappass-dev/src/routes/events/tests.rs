use axum::body::Body;
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::testing::*;
use crate::DevServer;

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
        .parse::<tappass::Timestamp>()
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

#[tokio::test]
async fn posted_events_over_the_limits_are_refused_whole() {
    use crate::stores::event_log::MAX_EVENT_BYTES;
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
async fn the_event_log_stays_under_a_configured_cap_over_sockets() {
    use crate::stores::event_log::MAX_EVENT_BYTES;
    let cap = 1 << 20;
    let server = DevServer::builder()
        .max_event_log_bytes(cap)
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let per_batch = (crate::reply::MAX_BODY_BYTES / MAX_EVENT_BYTES) - 1;
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
    use crate::stores::event_log::{MAX_EVENT_BYTES, MAX_PAGE_BYTES};
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
