//! Human approvals: a client resuming after `428 approval_required` with
//! `X-TapPass-Resume-Token` (pending, approved, denied, expired, malformed,
//! someone else's), the approval link, waiting on an approval in-process,
//! and approval ids that stay one URL path segment.
//!
//! Which server each test meets: the dev server, whose approvals are decided
//! through `DevServer` (never by waiting a while), behind the sample service
//! (`support::services`) where a client resumes; the scripted stand-in only
//! for a `/wait` answered at once or with `Retry-After` and a verdict whose
//! approval id is no path segment (`waiting.rs`, `ids.rs`), and a bare axum
//! server that records the id its router extracted (`ids.rs`).

#[path = "../support/mod.rs"]
mod support;

mod ids;
mod once;
mod resume;
mod waiting;

use std::time::Duration;

use serde_json::{json, Value};
use tappass::{Agent, Error};
use tappass_dev::DevServer;

use support::stand_in::{Reply, TapPass};
use support::{bounded, runtime, KEY};

const MS: Duration = Duration::from_millis(1);

/// An agent of the stand-in at `url`, with short retry delays.
fn agent(url: &str) -> Agent {
    Agent::builder(url)
        .api_key(KEY)
        .max_retries(2)
        .retry_base_delay(10 * MS)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("agent")
}
