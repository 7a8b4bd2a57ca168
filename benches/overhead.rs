//! In-process cost of the toolkit, each measured against its baseline in the
//! same run, and printed as ratios:
//!
//! - a bare axum route vs the same handler behind `TapPassLayer` (no session,
//!   joined session, opened session) and with `#[governed]`;
//! - derive-generated `into_response` vs a hand-written equivalent.
//!
//! `Agent::chat` against a raw POST is in `benches/agent.rs`, and requests per
//! second over sockets in `benches/throughput.rs`: both interleave their
//! variants, which criterion's sequential groups cannot.
//!
//! Run: `cargo bench --bench overhead`.

mod support;

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, BatchSize, Criterion};
use http::Request;
use http_body_util::BodyExt;
use serde::Serialize;
use tappass::dev::DevServer;
use tappass::{Session, TapPassLayer};
use tower::ServiceExt;

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

async fn call(app: Router, request: Request<Body>) -> usize {
    let response = app.oneshot(request).await.unwrap();
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .len()
}

fn layer(url: &str, auto_open: bool) -> TapPassLayer {
    TapPassLayer::builder()
        .tappass_url(url)
        .api_key("tp_bench")
        .auto_open_session(auto_open)
        .build()
        .unwrap()
}

fn layer_overhead(c: &mut Criterion) {
    let rt = runtime();
    let dev = rt.block_on(DevServer::start()).unwrap();
    let bare_app = Router::new().route("/", get(bare));
    let join = Router::new()
        .route("/", get(bare))
        .layer(layer(&dev.url(), false));
    let open = Router::new()
        .route("/", get(bare))
        .layer(layer(&dev.url(), true));
    let gov = Router::new()
        .route("/", get(governed))
        .layer(layer(&dev.url(), false));

    let mut group = c.benchmark_group("layer");
    let cases: [(&str, &Router, bool); 5] = [
        ("bare", &bare_app, true),
        ("layer_no_session", &join, false),
        ("layer_joined", &join, true),
        ("layer_opened", &open, false),
        ("governed_joined", &gov, true),
    ];
    for (name, app, joined) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_batched(
                || (app.clone(), request(joined)),
                |(app, req)| call(app, req),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    rt.block_on(dev.shutdown());
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

/// The same mapping written by hand, as a careful user would.
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
                [(http::header::RETRY_AFTER, httpdate::fmt_http_date(*until))],
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

fn derive_overhead(c: &mut Criterion) {
    let until = SystemTime::now() + Duration::from_secs(600);
    let mut group = c.benchmark_group("derive");
    group.bench_function("hand_written", |b| {
        b.iter(|| {
            let a = HandWritten::Rejected {
                reason: "pii".to_owned(),
                audit_url: Some("https://tp/s/1".to_owned()),
            }
            .into_response();
            let b = HandWritten::Maintenance { until }.into_response();
            (a.status(), b.status())
        })
    });
    group.bench_function("derived", |b| {
        b.iter(|| {
            let a = Derived::Rejected {
                reason: "pii".to_owned(),
                audit_url: Some("https://tp/s/1".to_owned()),
            }
            .into_response();
            let b = Derived::Maintenance { until }.into_response();
            (a.status(), b.status())
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = layer_overhead, derive_overhead
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    support::print_ratios(
        "layer",
        "bare",
        &[
            "layer_no_session",
            "layer_joined",
            "layer_opened",
            "governed_joined",
        ],
    );
    support::print_ratios("derive", "hand_written", &["derived"]);
}
