//! The console and the routes that change state answer only requests
//! addressed to this machine by address and sent by their own origin: a page
//! of another site, rebound to 127.0.0.1 by DNS or posting across origins,
//! reads and changes nothing.

use reqwest::Client;
use serde_json::json;
use tappass_dev::DevServer;

use crate::support::dev_http::{behaviour, post};

/// Asks for `send_email` in session `session` with `key`: the approval's id.
async fn ask(dev: &DevServer, key: &str, session: &str) -> String {
    let (status, body, _) = post(
        &dev.url(),
        "/v1/govern",
        key,
        &[("X-TapPass-Session-Id", session)],
        &behaviour(
            "send_email",
            json!({"to": "cfo@example.com", "amount": 5000}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["approval"]["request_id"].as_str().unwrap().to_owned()
}

/// Every console page, the audit route and every state-changing API route,
/// sent with a rebound `Host`: refused with 403, and nothing of the approval
/// (its prompt, its arguments, the console's form token) in the answer.
#[tokio::test]
async fn a_rebound_host_reads_and_changes_nothing() {
    let dev = DevServer::start().await.unwrap();
    let id = ask(&dev, "tp_victim", "ses_victim").await;
    let mandate_id = {
        let agent = tappass::Agent::new(dev.url(), "tp_victim").unwrap();
        agent
            .govern_tool("search", json!({"q": "x"}))
            .await
            .unwrap();
        dev.mandates()[0].mandate_id.clone()
    };
    let port = dev.addr().port();
    let rebound = format!("evil.example:{port}");
    let client = Client::new();
    for path in [
        "/".to_owned(),
        "/approvals".to_owned(),
        format!("/approvals/{id}"),
        "/mandates".to_owned(),
        "/capabilities".to_owned(),
        "/policy".to_owned(),
        "/v1/audit/sessions/ses_victim".to_owned(),
    ] {
        for accept in ["text/html", "application/json"] {
            let response = client
                .get(format!("{}{path}", dev.url()))
                .header("Host", &rebound)
                .header("Accept", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "GET {path} ({accept})");
            let text = response.text().await.unwrap();
            assert!(!text.contains("cfo@example.com"), "{path} leaked: {text}");
            assert!(
                !text.contains("name=\"token\""),
                "{path} leaked the form token"
            );
        }
    }
    for path in [
        format!("/v1/me/approvals/{id}/approve"),
        format!("/v1/me/approvals/{id}/deny"),
        format!("/v1/mandates/{mandate_id}/revoke"),
        format!("/approvals/{id}/approve"),
        format!("/mandates/{mandate_id}/revoke"),
    ] {
        let response = client
            .post(format!("{}{path}", dev.url()))
            .header("Host", &rebound)
            .bearer_auth("tp_rebound")
            .body("token=guess")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "POST {path}");
    }
    assert_eq!(dev.pending_approvals().len(), 1, "nothing was decided");
    assert!(
        dev.mandates().iter().all(|m| !m.revoked),
        "nothing was revoked"
    );
}

/// The state-changing API routes refuse what a browser marks as sent by
/// another site (`Origin`, `Sec-Fetch-Site`), and serve a client that is no
/// browser.
#[tokio::test]
async fn the_state_changing_routes_refuse_another_sites_requests() {
    let dev = DevServer::start().await.unwrap();
    let id = ask(&dev, "tp_victim", "ses_victim").await;
    let own = dev.url();
    for (name, value) in [
        ("Origin", "http://evil.example".to_owned()),
        ("Origin", "null".to_owned()),
        ("Sec-Fetch-Site", "cross-site".to_owned()),
        ("Sec-Fetch-Site", "same-site".to_owned()),
    ] {
        for verdict in ["approve", "deny"] {
            let (status, body, _) = post(
                &own,
                &format!("/v1/me/approvals/{id}/{verdict}"),
                "tp_any",
                &[(name, value.as_str())],
                &json!({}),
            )
            .await;
            assert_eq!(status, 403, "{name}: {value}: {body}");
            assert_eq!(body["error"], "cross_origin_request", "{body}");
        }
    }
    assert_eq!(dev.pending_approvals().len(), 1);
    // A client that is no browser, at the server's own address, decides.
    let (status, body, _) = post(
        &own,
        &format!("/v1/me/approvals/{id}/approve"),
        "tp_any",
        &[],
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
