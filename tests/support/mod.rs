//! What the test targets share, one file per role:
//!
//! - `stand_in.rs`: the scripted TapPass stand-in (`TapPass`, `Reply`) and
//!   the wire shapes it plays (`event`, `chat_answer`);
//! - `sockets.rs`: endpoints below HTTP: a port that refuses connections
//!   (`Refusing`, `refused_url`), one that accepts and never answers
//!   (`BlackHole`), a bare SSE server (`RawSse`);
//! - `recorders.rs`: what a run leaves besides its answers: log lines
//!   (`capture_logs`), an agent's retries (`record_retries`), the bytes a
//!   client sent through a recording relay (`Relay`);
//! - `services.rs`: the one sample governed chat service (`sample`, `serve`,
//!   `serve_sample`) and the error enum of the design (`chat_error!`);
//! - `browser.rs`: headless Chromium over WebDriver (`ChromeDriver`,
//!   `Browser`), installed on first use where the test may (`provision`);
//! - `mcp_client.rs` (feature `mcp`): rmcp's MCP client over this
//!   workspace's reqwest (`Reqwest012`, `transport`);
//! - `python.rs`: the test virtualenv of `tests/requirements.txt` (`python`);
//! - here: the hang guards (`bounded`, `within`), a runtime for property
//!   tests (`runtime`) and the constants every role uses (`KEY`, `CHAT`).
//!
//! Every test starts its own servers on `127.0.0.1:0`, so tests run in
//! parallel; nothing here touches process environment variables (the
//! `tests/env_*` binaries own theirs).
//!
//! # When the stand-in, and when the dev server
//!
//! An answer `tappass_dev::DevServer` gives is asked of the dev server: its
//! decisions (every kind its default policy has a demo trigger for, with the
//! real status, fields and headers, e.g. break glass's `Retry-After: 600`),
//! its redactions, approvals and refused keys. The stand-in serves only what
//! the dev server never sends, and each use is one of these:
//!
//! - **Faults**: hangs and stalls (`Reply::hang`, `Reply::stalled`, `stall`),
//!   slow answers, cut connections (`cut`), bodies too large
//!   (`Reply::huge`), non-JSON or truncated JSON, a plain `500`/`502`/`503`/
//!   `504`, `429` with or without `Retry-After`, `400`/`404`/`409`, a `401` or
//!   `403` that is no decision, a failing `/health`, timeouts too short to be
//!   met (`tests/agent/retries.rs`, `tests/agent/version.rs`,
//!   `tests/agent/faults.rs`, `tests/agent/fail_open.rs`,
//!   `tests/agent/stream.rs`, `tests/agent/config.rs`); a key or revocation
//!   server that is down, fails on cue, redirects or changes between two
//!   fetches (`tests/mandates/keys.rs`, `tests/mandates/revocation.rs`,
//!   `tests/mandates/recovery.rs`, `tests/mandates/edges.rs`, with the key
//!   set of `tests/mandates/keyset.rs`).
//! - **Servers that echo the API key** into an error or a decision, to prove
//!   it is scrubbed (`tests/agent/secrecy.rs`, `tests/agent/stream.rs`,
//!   `tests/agent/faults.rs`).
//! - **Wire shapes of the protocol (`docs/protocol.md`) the dev server does
//!   not produce**: a decision without `decision` or spelled by `code` with
//!   its fields under `details`, a `403 redaction_applied`, an unknown kind,
//!   missing or malformed fields, no correlation (`tests/agent/decisions.rs`,
//!   `tests/errors/served.rs`); a decision in the middle of a stream, OpenAI
//!   and native SSE deltas, CRLF, `[DONE]` without a newline, oversized
//!   events (`tests/agent/stream.rs`, `tests/agent/sse.rs`); answers with
//!   tool calls and every envelope field set or missing
//!   (`tests/agent/chat.rs`); timestamps in every RFC 3339 shape and without
//!   an offset (`tests/errors/time.rs`, `tests/estate/python_wire.rs`); other
//!   server versions, old, missing, garbage or pre-release
//!   (`tests/agent/version.rs`, `tests/agent/faults.rs`); `/wait` answered at
//!   once or with `Retry-After`, an approval id that is no path segment
//!   (`tests/approvals/waiting.rs`, `tests/approvals/ids.rs`); hostile values
//!   in a decision (`tests/estate/python_wire.rs`).
//! - **A recorder of the exact request**: the bytes and headers the agent
//!   sent (bodies, correlation, bearer key, `Idempotency-Key` across retries,
//!   a proxy's absolute URL, nothing at all), which the dev server does not
//!   expose (`tests/agent/headers.rs`, `tests/agent/chat.rs`,
//!   `tests/approvals/ids.rs`, `tests/estate/python_wire.rs`,
//!   `tests/env_proxy.rs`). Where the answers must be the dev server's own,
//!   the `Relay` of `recorders.rs` records instead (`tests/agent/wire.rs`,
//!   `tests/agent/events.rs`).

#![allow(dead_code)]

pub mod browser;
pub mod dev_http;
#[cfg(feature = "mcp")]
pub mod mcp_client;
pub mod python;
pub mod recorders;
pub mod services;
pub mod sockets;
pub mod stand_in;

use std::future::Future;
use std::time::Duration;

/// A distinctive key: no output of the toolkit may ever contain it.
pub const KEY: &str = "tp_SECRET_must_not_leak";

/// The path of governed chat.
pub const CHAT: &str = "/v1/chat/completions";

/// Runs a test body, failing it instead of hanging CI: a hang guard, never
/// the evidence of a behaviour.
pub async fn bounded<F: Future>(test: F) -> F::Output {
    within(Duration::from_secs(15), test).await
}

/// [`bounded`] with a limit of its own, for a test that does more than most
/// (a dev server behind a relay, a thousand calls on a loaded machine).
pub async fn within<F: Future>(limit: Duration, test: F) -> F::Output {
    tokio::time::timeout(limit, test)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {limit:?}"))
}

/// A runtime for property tests, whose cases are synchronous.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
