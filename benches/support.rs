//! Shared by the in-process benchmarks: interleaved rounds, timed calls
//! through a router, and the table of ratios.

use std::future::Future;
use std::hint::black_box;
use std::time::Instant;

use axum::body::Body;
use axum::Router;
use http::Request;
use http_body_util::BodyExt;
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// One request through `app` (a fresh clone of the router, as a server
/// would hold), checked to answer `200`, with its whole body read; the
/// body's length.
pub async fn call(app: Router, request: Request<Body>) -> usize {
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), 200);
    response
        .into_body()
        .collect()
        .await
        .expect("an in-memory body")
        .to_bytes()
        .len()
}

/// Sends `calls` (each built before the clock starts) on `rt` one after
/// another, then awaits `after` (work the calls left behind, such as events
/// to deliver), and returns the nanoseconds per call.
pub fn time_calls(
    rt: &Runtime,
    calls: Vec<(Router, Request<Body>)>,
    after: impl Future<Output = ()>,
) -> f64 {
    let count = calls.len();
    rt.block_on(async {
        let start = Instant::now();
        for (app, request) in calls {
            black_box(call(app, request).await);
        }
        after.await;
        start.elapsed().as_nanos() as f64 / count as f64
    })
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Runs `variants` in interleaved rounds: each round calls every variant once
/// (one timed batch, returning nanoseconds per call), in an order rotated by
/// one each round, so that drift on the machine and the position in a round
/// hit all of them alike. Returns each variant's result of every round.
pub fn interleave(rounds: usize, variants: &mut [Box<dyn FnMut() -> f64 + '_>]) -> Vec<Vec<f64>> {
    let count = variants.len();
    // One batch each to warm up, not counted.
    for variant in variants.iter_mut() {
        variant();
    }
    let mut results = vec![Vec::with_capacity(rounds); count];
    for round in 0..rounds {
        for k in 0..count {
            let v = (round + k) % count;
            results[v].push(variants[v]());
        }
    }
    results
}

/// Prints, for results from [`interleave`], each variant's median time per
/// call and the median and interquartile range of its per-round ratios to
/// the first variant (the baseline).
pub fn print_interleaved(title: &str, names: &[&str], results: &[Vec<f64>]) {
    println!(
        "\n{title}: median time per call, and per-round ratios to `{}`",
        names[0]
    );
    println!(
        "  {:<34} {:>12} {:>8} {:>17}",
        "variant", "median", "ratio", "ratio IQR"
    );
    for (name, times) in names.iter().zip(results) {
        let mut ratios: Vec<f64> = times.iter().zip(&results[0]).map(|(t, b)| t / b).collect();
        ratios.sort_by(f64::total_cmp);
        let quartile = |q: usize| ratios[(ratios.len() * q / 4).min(ratios.len() - 1)];
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "  {:<34} {:>12} {:>8.3} {:>7.3} – {:<7.3}",
            name,
            fmt_ns(sorted[sorted.len() / 2]),
            quartile(2),
            quartile(1),
            quartile(3),
        );
    }
}
