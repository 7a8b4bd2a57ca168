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
