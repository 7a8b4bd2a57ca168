//! How long the dev console takes to answer its pages over 10,000 events.
//!
//! A dev server gets 10,000 audit events in one session (chat calls, tool
//! calls and decisions, posted as a client would), and 10,000 more spread over
//! 1,000 sessions; then the session's timeline (its `audit_url`, asked for as
//! a browser asks: facts over all 10,000 events and 500 of them a page, the
//! first and the last page) and the sessions page are each fetched `ROUNDS`
//! times over loopback. The table shows the median and the fastest answer,
//! whole (request, render and the transfer of the body), and the page's size.
//! The target: well under 100 ms in release.
//!
//! Run: `cargo bench --bench console`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tappass_dev::DevServer;

const EVENTS: usize = 10_000;
const ROUNDS: usize = 31;
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The `i`th event of a busy session: a chat, a tool call or a decision.
fn event(session: &str, i: usize) -> Value {
    let (kind, details) = match i % 3 {
        0 => (
            "chat_call",
            json!({"model": "gpt-4o-mini", "stream": false, "prompt_tokens": 12, "completion_tokens": 14,
                   "total_tokens": 26, "redactions": 0, "classification": "PUBLIC", "recorded_by": "tappass-dev"}),
        ),
        1 => (
            "tool_call",
            json!({"tool": "send_email", "behavior_id": format!("{i:032x}"), "fingerprint": format!("{i:032x}"),
                   "outcome": "needs_approval", "rule": "send_email_approval", "request_id": null, "recorded_by": "tappass-dev"}),
        ),
        _ => (
            "decision",
            json!({"decision": "needs_approval", "rule": "send_email_approval",
                   "reason": "outgoing e-mail needs a human approval <and markup to escape>", "status": 200,
                   "call": "tool", "tool": "send_email", "recorded_by": "tappass-dev"}),
        ),
    };
    json!({"event_type": kind, "agent_id": "0a1b2c3d-4e5f-8a6b-9c7d-0e1f2a3b4c5d",
           "occurred_at": "2026-11-29T20:18:23.123456789Z", "session_id": session,
           "task_id": "tsk_bench", "details": details})
}

async fn post(client: &reqwest::Client, url: &str, events: Vec<Value>) {
    for batch in events.chunks(1_000) {
        let status = client
            .post(format!("{url}/v1/events"))
            .bearer_auth("tp_bench")
            .json(&batch)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 202);
    }
}

/// Fetches `path` as a browser `ROUNDS` times: the sorted times and the body's size.
async fn measure(client: &reqwest::Client, url: &str, path: &str) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(ROUNDS);
    let mut size = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let response = client
            .get(format!("{url}{path}"))
            .header("accept", BROWSER_ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.bytes().await.unwrap();
        times.push(started.elapsed());
        size = body.len();
    }
    times.sort();
    (times, size)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = DevServer::start().await.unwrap();
        let url = server.url();
        let client = reqwest::Client::new();
        post(&client, &url, (0..EVENTS).map(|i| event("ses_busy", i)).collect()).await;
        post(
            &client,
            &url,
            (0..EVENTS).map(|i| event(&format!("ses_{:04}", i % 1_000), i)).collect(),
        )
        .await;
        println!("console pages over {} events ({EVENTS} in the timeline's session), {ROUNDS} fetches each", 2 * EVENTS);
        println!("{:<42} {:>10} {:>10} {:>10}", "page", "median", "fastest", "size");
        for (name, path) in [
            ("timeline of a 10,000-event session, p. 1", "/v1/audit/sessions/ses_busy"),
            ("the same, last page", "/v1/audit/sessions/ses_busy?page=20"),
            ("sessions (1,001 sessions, first page)", "/"),
        ] {
            let (times, size) = measure(&client, &url, path).await;
            println!(
                "{name:<42} {:>7.2} ms {:>7.2} ms {:>7} KiB",
                times[ROUNDS / 2].as_secs_f64() * 1e3,
                times[0].as_secs_f64() * 1e3,
                size / 1024
            );
        }
        server.shutdown().await;
    });
}
