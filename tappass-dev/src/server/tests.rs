use std::time::Duration;

use axum::body::Body;
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::testing::*;
use crate::DevServer;
use tappass::GovernanceDecision;

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
    assert_eq!(v["spans"], 0);
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
        "a".repeat(crate::server::MAX_BODY_BYTES)
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
        "a".repeat(crate::server::MAX_BODY_BYTES)
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
async fn a_busy_address_is_a_config_error() {
    let server = DevServer::start().await.unwrap();
    let err = DevServer::builder()
        .listen(server.addr())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::Listen { .. }), "{err:?}");
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
async fn only_loopback_addresses_count_as_loopback() {
    use crate::server::is_loopback;
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
