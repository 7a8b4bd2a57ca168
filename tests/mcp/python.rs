//! The example's server from Python clients we did not write
//! (`tests/python/mcp_client.py`, run in the test virtualenv of
//! `tests/requirements.txt`): the official MCP SDK (`mcp`) over streamable
//! HTTP lists the three tools and calls each, getting the governed outcome,
//! and resumes an approved call once; the TapPass Python SDK's MCP client
//! side (`guard_mcp_client`, its session stamped into the call's params by
//! `with_correlation`) lands the call in its own session.

use std::process::Command;

use serde_json::{json, Value};

use super::{ours, Served, KEY};
use crate::support::{python::python, within};

/// Runs the Python client with `args`; what it printed.
fn client(args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mcp_client.py");
    let output = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("the Python client runs");
    assert!(
        output.status.success(),
        "the Python client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the Python client printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// `client` off the runtime's threads.
async fn run(args: Vec<String>) -> Value {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        client(&args)
    })
    .await
    .unwrap()
}

/// A generous bound: the first test to run installs the virtualenv.
async fn bounded<F: std::future::Future>(test: F) -> F::Output {
    within(std::time::Duration::from_secs(600), test).await
}

#[tokio::test]
async fn the_official_python_client_lists_and_calls_the_three_tools() {
    bounded(async {
        let served = Served::example(true).await;
        let seen = run(vec!["calls".into(), served.url.clone()]).await;
        assert_eq!(
            seen["tools"],
            json!(["delete_database", "lookup_invoice", "send_email"])
        );

        let lookup = &seen["lookup_invoice"];
        assert_eq!(lookup["is_error"], false, "{lookup}");
        assert!(lookup["text"][0]
            .as_str()
            .unwrap()
            .starts_with("invoice INV-1042: 1,250.00 EUR, paid"));
        let session = lookup["meta"]["tappass-correlation"]["session_id"]
            .as_str()
            .unwrap();
        assert!(lookup["text"][0].as_str().unwrap().contains(session));

        let delete = &seen["delete_database"];
        assert_eq!(delete["is_error"], true);
        assert_eq!(delete["structured"]["error"], "policy_block");
        assert_eq!(delete["structured"]["blocked_by"], "destructive_tools");
        assert!(delete["text"][0]
            .as_str()
            .unwrap()
            .contains("deleting a database is never allowed"));

        let email = &seen["send_email"];
        assert_eq!(email["is_error"], true);
        assert_eq!(email["structured"]["error"], "approval_required");
        assert!(email["structured"]["approval_url"].is_string());
        assert!(email["structured"]["resume_token"].is_string());

        assert_eq!(served.runs(), [1, 0, 0]);
    })
    .await;
}

#[tokio::test]
async fn the_python_client_resumes_an_approved_call_once() {
    bounded(async {
        let served = Served::example(true).await;
        let args = json!({"to": "cfo@example.com", "subject": "Q3"}).to_string();
        let call = |meta: Value| {
            run(vec![
                "call".into(),
                served.url.clone(),
                "send_email".into(),
                args.clone(),
                meta.to_string(),
            ])
        };
        let asked = call(Value::Null).await;
        assert_eq!(asked["structured"]["error"], "approval_required");
        let meta = asked["structured"]["resume_meta"].clone();
        let request_id = asked["structured"]["request_id"].as_str().unwrap();
        assert_eq!(served.runs(), [0, 0, 0]);

        assert!(served.dev.approve(request_id));
        let resumed = call(meta.clone()).await;
        assert_eq!(resumed["is_error"], false, "{resumed}");
        assert_eq!(resumed["text"][0], "sent `Q3` to cfo@example.com");
        assert_eq!(served.runs(), [0, 1, 0]);
        let again = call(meta).await;
        assert_eq!(again["structured"]["error"], "resume_token_used");
        assert_eq!(served.runs(), [0, 1, 0]);
    })
    .await;
}

#[tokio::test]
async fn the_python_sdks_session_reaches_the_call_through_tappass_correlation() {
    bounded(async {
        // With auto_open_session on: a call the stamp did not reach would
        // land in a session of its own, not the SDK's.
        let served = Served::example(true).await;
        let seen = run(vec![
            "sdk".into(),
            served.url.clone(),
            served.dev.url(),
            KEY.into(),
        ])
        .await;
        let session = seen["session_id"].as_str().expect("the SDK's session");
        assert!(session.starts_with("ses_"), "{seen}");
        assert_eq!(seen["is_error"], false, "{seen}");
        assert_eq!(seen["meta"]["tappass-correlation"]["session_id"], session);
        assert!(seen["text"][0]
            .as_str()
            .unwrap()
            .ends_with(&format!("(session {session})")));

        let timeline = served.timeline(session).await;
        let calls = ours(&timeline, "tool_call");
        assert_eq!(calls.len(), 1, "{timeline:#?}");
        assert_eq!(calls[0]["details"]["tool"], "lookup_invoice");
        assert_eq!(calls[0]["details"]["decision"], "allowed");
        // TapPass governed the call in the SDK's session too.
        assert!(timeline.iter().any(|e| e["event_type"] == "tool_call"
            && e["details"]["source"].is_null()
            && e["details"]["tool"] == "lookup_invoice"));
        // Joined, not opened.
        assert!(ours(&timeline, "session_open").is_empty());
    })
    .await;
}
