use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};

use crate::server::DevServer;
use crate::testing::*;

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

/// What resumes nothing: no header, a repeated one, an empty one, one over
/// 128 bytes, one that is not text. Exactly one value of 1 to 128 bytes is
/// read.
#[test]
fn a_resume_token_is_one_value_of_1_to_128_bytes() {
    use super::resume_token;
    use http::{HeaderMap, HeaderValue};
    let with = |values: &[&[u8]]| {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                tappass::session::RESUME_TOKEN,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        headers
    };
    let longest = "r".repeat(128);
    let over = "r".repeat(129);
    assert_eq!(resume_token(&with(&[b"rt_1"])).as_deref(), Some("rt_1"));
    assert_eq!(
        resume_token(&with(&[longest.as_bytes()])).as_deref(),
        Some(longest.as_str())
    );
    assert_eq!(resume_token(&with(&[b"r"])).as_deref(), Some("r"));
    for resumes_nothing in [
        with(&[]),
        with(&[b"rt_1", b"rt_1"]),
        with(&[b"rt_1", b"rt_2"]),
        with(&[b""]),
        with(&[over.as_bytes()]),
        with(&[b"rt_\xff"]),
    ] {
        assert_eq!(resume_token(&resumes_nothing), None, "{resumes_nothing:?}");
    }
}

/// `timeout_seconds` is a number of seconds from 0 to 30: NaN, infinities,
/// negatives and words are a 400, 0 answers at once.
#[tokio::test]
async fn a_wait_refuses_a_timeout_that_is_no_duration() {
    let h = Harness::new();
    let v = h.govern("send_email", json!({"to": "wait"})).await.json();
    let id = v["approval"]["request_id"].as_str().unwrap();
    for bad in ["NaN", "inf", "-inf", "-1", "-0.5", "soon", "1e400"] {
        let a = h
            .get(&format!("/v1/me/approvals/{id}/wait?timeout_seconds={bad}"))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text);
    }
    let a = h
        .get(&format!("/v1/me/approvals/{id}/wait?timeout_seconds=0"))
        .await;
    assert_eq!(a.status, StatusCode::REQUEST_TIMEOUT, "{}", a.text);
}
