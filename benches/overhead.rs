//! In-process cost of the toolkit, each measured against its baseline in the
//! same run, and printed as ratios:
//!
//! - a bare axum route vs the same handler behind `TapPassLayer` (no session,
//!   joined session, opened session) and with `#[governed]`;
//! - derive-generated `into_response` vs a hand-written equivalent.
//!
//! The variants of each group run in interleaved rounds, one batch of calls
//! each per round, in an order that rotates every round, as
//! `benches/agent.rs` and `benches/throughput.rs` do: a machine whose speed
//! drifts from minute to minute then slows every variant alike, which
//! criterion's groups (one variant for seconds, then the next) could not
//! promise. The table shows each variant's median time per call and the
//! median of its per-round ratios to the baseline.
//!
//! Run: `cargo bench --bench overhead`.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::Request;
use serde::Serialize;
use tappass::{Session, TapPassLayer};
use tappass_dev::DevServer;

async fn bare() -> &'static str {
    "ok"
}

#[tappass::governed]
async fn governed(session: Option<Session>) -> &'static str {
    let _ = session;
    "ok"
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn request(joined: bool) -> Request<Body> {
    let mut builder = Request::get("/");
    if joined {
        builder = builder
            .header("x-tappass-session-id", "ses_bench_0123456789abcdef")
            .header("x-tappass-agent-uuid", "agt-bench");
    }
    builder.body(Body::empty()).unwrap()
}

fn layer(url: &str, auto_open: bool) -> TapPassLayer {
    TapPassLayer::builder()
        .tappass_url(url)
        .api_key("tp_bench")
        .auto_open_session(auto_open)
        .build()
        .unwrap()
}

fn layer_overhead(quick: bool) {
    let rt = runtime();
    // The dev server stands in for a remote TapPass: on a runtime and a
    // thread of its own, so that storing the opened sessions' events is not
    // timed as the service's work (delivering them is).
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dev = server.block_on(DevServer::start()).unwrap();
    let bare_app = Router::new().route("/", get(bare));
    let join = Router::new()
        .route("/", get(bare))
        .layer(layer(&dev.url(), false));
    let open_layer = layer(&dev.url(), true);
    let open = Router::new()
        .route("/", get(bare))
        .layer(open_layer.clone());
    let gov = Router::new()
        .route("/", get(governed))
        .layer(layer(&dev.url(), false));

    let opened_agent = open_layer.agent().expect("the layer has an agent").clone();
    let cases: [(&str, &Router, bool); 5] = [
        ("bare", &bare_app, true),
        ("layer_no_session", &join, false),
        ("layer_joined", &join, true),
        ("layer_opened", &open, false),
        ("governed_joined", &gov, true),
    ];
    let (rounds, batch) = if quick {
        (1, 10)
    } else {
        (ROUNDS, LAYER_BATCH)
    };
    let mut variants: Vec<Box<dyn FnMut() -> f64 + '_>> = cases
        .iter()
        .map(|&(name, app, joined)| {
            let opened = (name == "layer_opened").then_some(&opened_agent);
            let rt = &rt;
            Box::new(move || {
                let calls = (0..batch).map(|_| (app.clone(), request(joined))).collect();
                // The sessions it opened are delivered before its clock
                // stops: their reports are this variant's cost.
                support::time_calls(rt, calls, async {
                    if let Some(agent) = opened {
                        agent.flush_events().await;
                    }
                })
            }) as Box<dyn FnMut() -> f64 + '_>
        })
        .collect();
    let results = support::interleave(rounds, &mut variants);
    drop(variants);
    let names = cases.map(|(name, ..)| name);
    support::print_interleaved(
        &format!("layer: {rounds} interleaved rounds of {batch} calls"),
        &names,
        &results,
    );
    server.block_on(dev.shutdown());
}

/// A user's governance error, mapped by the derive.
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum Derived {
    #[error("prompt rejected: {reason}")]
    #[governance(status = 403, code = "prompt_rejected")]
    Rejected {
        reason: String,
        audit_url: Option<String>,
    },
    #[error("maintenance window")]
    #[governance(status = 503, retry_after = until)]
    Maintenance { until: SystemTime },
}

/// `Retry-After` for an instant as the contract writes it: `0` once it has
/// passed (an HTTP date cannot say a time before 1970, and `httpdate`
/// panics there), and no later than the last instant an HTTP date can say.
fn retry_after(until: SystemTime) -> String {
    const LAST_HTTP_DATE: Duration = Duration::from_secs(253_402_300_799);
    if until <= SystemTime::now() {
        return "0".to_owned();
    }
    httpdate::fmt_http_date(until.min(SystemTime::UNIX_EPOCH + LAST_HTTP_DATE))
}

/// The same mapping written by hand, as a careful user would, to the same
/// contract (`Retry-After` included).
#[derive(Debug)]
enum HandWritten {
    Rejected {
        reason: String,
        audit_url: Option<String>,
    },
    Maintenance {
        until: SystemTime,
    },
}

impl IntoResponse for HandWritten {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            message: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            reason: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            audit_url: Option<&'a Option<String>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            until: Option<&'a SystemTime>,
        }
        match &self {
            HandWritten::Rejected { reason, audit_url } => (
                http::StatusCode::FORBIDDEN,
                axum::Json(Body {
                    error: "prompt_rejected",
                    message: format!("prompt rejected: {reason}"),
                    reason: Some(reason),
                    audit_url: Some(audit_url),
                    until: None,
                }),
            )
                .into_response(),
            HandWritten::Maintenance { until } => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                [(http::header::RETRY_AFTER, retry_after(*until))],
                axum::Json(Body {
                    error: "maintenance",
                    message: "maintenance window".to_owned(),
                    reason: None,
                    audit_url: None,
                    until: Some(until),
                }),
            )
                .into_response(),
        }
    }
}

fn derive_overhead(quick: bool) {
    let until = SystemTime::now() + Duration::from_secs(600);
    let hand_written = || {
        let a = HandWritten::Rejected {
            reason: "pii".to_owned(),
            audit_url: Some("https://tp/s/1".to_owned()),
        }
        .into_response();
        let b = HandWritten::Maintenance { until }.into_response();
        (a.status(), b.status())
    };
    let derived = || {
        let a = Derived::Rejected {
            reason: "pii".to_owned(),
            audit_url: Some("https://tp/s/1".to_owned()),
        }
        .into_response();
        let b = Derived::Maintenance { until }.into_response();
        (a.status(), b.status())
    };
    let (rounds, batch) = if quick {
        (1, 10)
    } else {
        (ROUNDS, DERIVE_BATCH)
    };
    let timed = |f: &dyn Fn() -> (http::StatusCode, http::StatusCode)| {
        let start = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        start.elapsed().as_nanos() as f64 / batch as f64
    };
    let mut variants: [Box<dyn FnMut() -> f64 + '_>; 2] = [
        Box::new(|| timed(&hand_written)),
        Box::new(|| timed(&derived)),
    ];
    let results = support::interleave(rounds, &mut variants);
    support::print_interleaved(
        &format!("derive: {rounds} interleaved rounds of {batch} calls (each a 403 and a 503)"),
        &["hand_written", "derived"],
        &results,
    );
}

/// Rounds per group; each round runs one batch of every variant.
const ROUNDS: usize = 40;
/// Calls per batch: a few milliseconds each.
const LAYER_BATCH: usize = 5_000;
const DERIVE_BATCH: usize = 20_000;

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    layer_overhead(quick);
    derive_overhead(quick);
}
