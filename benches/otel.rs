//! The governed route with OpenTelemetry on (feature `otel`, the SDK's batch
//! exporter sending OTLP/HTTP to the dev server through `tappass::otel`)
//! against the same route with no subscriber, in one run: a route behind
//! `TapPassLayer` that makes one `Agent::chat`, the dev server on a runtime
//! and a thread of its own (as `benches/overhead.rs` has it). A third
//! variant installs the `tracing-opentelemetry` layer with a provider that
//! samples nothing: what the instrumentation costs when nothing is kept.
//!
//! The variants run in interleaved rounds (`support::interleave`); the
//! table shows the median time per request and the median of the per-round
//! ratios to the route without a subscriber. The target: the route with
//! OpenTelemetry on does at least 0.95 of the requests the route without
//! does in the same time, a time ratio of at most 1.053.
//!
//! What the feature costs compiled in but unused (no provider installed) is
//! measured by `benches/overhead.rs` and `benches/agent.rs` run with and
//! without `--features otel`: their ratios to the same-run baselines,
//! compared (README, Performance).
//!
//! Run: `cargo bench --bench otel --features otel`.

mod support;

use axum::body::Body;
use axum::routing::post;
use axum::Router;
use http::Request;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tappass::{Agent, TapPassLayer};
use tappass_dev::DevServer;
use tracing_subscriber::prelude::*;

const BATCH: usize = 200;
const ROUNDS: usize = 25;

#[tappass::governed]
async fn chat(agent: Agent) -> Result<String, tappass::Error> {
    Ok(agent.chat("Summarize Q4 revenue").await?.content)
}

fn request() -> Request<Body> {
    Request::post("/chat")
        .header("x-tappass-session-id", "ses_bench_otel")
        .body(Body::empty())
        .unwrap()
}

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, batch) = if quick { (1, 5) } else { (ROUNDS, BATCH) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The dev server stands in for TapPass and for the collector: on a
    // runtime and a thread of its own, so that receiving the spans is not
    // timed as the service's work (sending them is).
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dev = server.block_on(DevServer::start()).unwrap();
    let layer = TapPassLayer::builder()
        .tappass_url(dev.url())
        .api_key("tp_bench")
        .build()
        .unwrap();
    let app = Router::new().route("/chat", post(chat)).layer(layer);

    let exported = SdkTracerProvider::builder()
        .with_batch_exporter(tappass::otel::span_exporter(&dev.url()).unwrap())
        .build();
    let on = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(exported.tracer("bench"))),
    );
    let unsampled = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();
    let dropped = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(unsampled.tracer("bench"))),
    );

    let timed = |dispatch: Option<&tracing::Dispatch>| {
        let calls = (0..batch).map(|_| (app.clone(), request())).collect();
        match dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, || {
                support::time_calls(&rt, calls, async {})
            }),
            None => support::time_calls(&rt, calls, async {}),
        }
    };
    let names = [
        "no subscriber",
        "OpenTelemetry, batch OTLP/HTTP export",
        "OpenTelemetry, sampling nothing",
    ];
    let mut variants: Vec<Box<dyn FnMut() -> f64 + '_>> = vec![
        Box::new(|| timed(None)),
        Box::new(|| timed(Some(&on))),
        Box::new(|| timed(Some(&dropped))),
    ];
    let results = support::interleave(rounds, &mut variants);
    support::print_interleaved(
        &format!(
            "governed route with one Agent::chat: {rounds} interleaved rounds of {batch} requests"
        ),
        &names,
        &results,
    );
    drop(variants);
    exported.shutdown().expect("the spans were exported");
    let spans: usize = dev
        .traces_for_session("ses_bench_otel")
        .iter()
        .map(|t| t["spans"].as_array().map_or(0, Vec::len))
        .sum();
    println!("  (the dev server holds {spans} spans of the run's session's newest traces)");
    server.block_on(dev.shutdown());
}
