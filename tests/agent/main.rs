//! The `Agent` client: decisions, retries, timeouts, the version check, chat
//! and SSE parsing (linear whatever the chunking), what goes on the wire
//! (correlation, options, `Idempotency-Key`), the audit reporter, logs,
//! failing open, configuration, TLS and secrecy of the API key; and faults
//! of the control plane as a governed service's client sees them.
//!
//! Which server each test meets: what the dev server answers is asked of it,
//! directly or through the sample service (`support::services`), with a
//! recording relay in front when the test reads what was sent
//! (`wire.rs`, `events.rs`); the scripted stand-in serves the faults and
//! wire shapes the dev server never sends (`tests/support` says which); an
//! unreachable control plane is a port that refuses connections; `tls.rs`
//! serves its own TLS server.

#[path = "../support/mod.rs"]
mod support;

mod chat;
mod chunking;
mod config;
mod decisions;
mod events;
mod fail_open;
mod faults;
mod headers;
mod logs;
mod retries;
mod secrecy;
#[cfg(feature = "signing")]
mod signing;
mod sse;
mod stream;
mod tls;
mod version;
mod wire;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::services::keyed_agent as relayed_agent;
use support::sockets::Refusing;
use support::stand_in::{chat_answer, event, Reply, TapPass};
use support::{bounded, runtime, CHAT, KEY};
use tappass::decision::Redaction;
use tappass::{
    Agent, ChatChunk, Error, GovernanceDecision, GovernanceError as _, Session, Timestamp,
};
use tappass_dev::DevServer;

const MS: Duration = Duration::from_millis(1);

/// An agent for `url` with short retry delays.
fn agent(url: &str) -> Agent {
    Agent::builder(url)
        .api_key(KEY)
        .retry_base_delay(10 * MS)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("agent")
}

/// The decision the dev server's default policy gives a chat of `prompt`;
/// asserts that the agent did not retry it.
async fn dev_decision(prompt: &str) -> GovernanceDecision {
    let (retries, _guard) = support::recorders::record_retries();
    let dev = DevServer::start().await.expect("dev server");
    let err = agent(&dev.url()).chat(prompt).await.unwrap_err();
    assert_eq!(retries.all(), [], "a decision is never retried");
    match err {
        Error::Governance(decision) => *decision,
        other => panic!("expected a decision, got {other:?}"),
    }
}

/// The decision a chat gets when the stand-in answers `status` with `body`
/// (a shape the dev server never sends); asserts that the chat was not
/// retried.
async fn decision(status: u16, body: Value) -> GovernanceDecision {
    let server = TapPass::start().await;
    server.push(CHAT, Reply::json(status, body));
    server.always(CHAT, Reply::ok(chat_answer("must not be reached")));
    let err = agent(server.url()).chat("hi").await.unwrap_err();
    assert_eq!(server.hits(CHAT), 1, "a decision is never retried");
    match err {
        Error::Governance(decision) => *decision,
        other => panic!("expected a decision, got {other:?}"),
    }
}

/// Collects a stream under a bound.
async fn collect(stream: tappass::agent::ChatStream) -> Vec<Result<ChatChunk, Error>> {
    tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
        .await
        .expect("the stream ended")
}

fn assert_no_key(what: &str, text: &str) {
    assert!(!text.contains(KEY), "{what} leaks the API key: {text}");
    assert!(
        !text.contains("SECRET"),
        "{what} leaks part of the API key: {text}"
    );
}

/// Display, Debug and every source of an error.
fn assert_error_keeps_the_key(err: &Error) {
    assert_no_key("Display", &err.to_string());
    assert_no_key("Debug", &format!("{err:?}"));
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        assert_no_key("a source", &format!("{s} / {s:?}"));
        source = s.source();
    }
}
