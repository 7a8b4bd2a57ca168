//! Requests per second over loopback sockets: a governed route (behind
//! `TapPassLayer`, joined session, correlation headers echoed) as a ratio of
//! the same route bare, measured in the same run.
//!
//! The load generator is in this file: `CONCURRENCY` tokio tasks, each with
//! keep-alive HTTP/1.1 connections from one shared `reqwest::Client`, sending
//! `GET /` with the two correlation headers back to back for `ROUND` at a
//! time. Rounds alternate bare and governed so that drift on the machine hits
//! both alike; the medians of the rounds are compared.
//!
//! Run: `cargo bench --bench throughput`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use tappass::{Session, TapPassLayer};

const CONCURRENCY: usize = 32;
const ROUND: Duration = Duration::from_millis(1500);
const ROUNDS: usize = 7;

async fn bare() -> &'static str {
    "ok"
}

/// The bare route answering the two correlation headers by hand: what the
/// echo alone costs, without the toolkit.
async fn bare_echo() -> ([(&'static str, &'static str); 2], &'static str) {
    (
        [
            ("x-tappass-session-id", "ses_bench_0123456789abcdef"),
            ("x-tappass-agent-uuid", "agt-bench"),
        ],
        "ok",
    )
}

#[tappass::governed]
async fn governed(session: Option<Session>) -> &'static str {
    let _ = session;
    "ok"
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Requests per second against `addr` for one round.
async fn load(client: &reqwest::Client, addr: SocketAddr) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(CONCURRENCY);
    for _ in 0..CONCURRENCY {
        let client = client.clone();
        let done = done.clone();
        let url = format!("http://{addr}/");
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < ROUND {
                let response = client
                    .get(&url)
                    .header("x-tappass-session-id", "ses_bench_0123456789abcdef")
                    .header("x-tappass-agent-uuid", "agt-bench")
                    .send()
                    .await
                    .expect("request");
                let _ = response.bytes().await.expect("body");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let layer = TapPassLayer::builder()
            .tappass_url("http://127.0.0.1:9")
            .api_key("tp_bench")
            .build()
            .unwrap();
        let bare_addr = serve(Router::new().route("/", get(bare))).await;
        let echo_addr = serve(Router::new().route("/", get(bare_echo))).await;
        let gov_addr = serve(Router::new().route("/", get(governed)).layer(layer)).await;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .unwrap();
        // Warm up connections on both.
        load(&client, bare_addr).await;
        load(&client, echo_addr).await;
        load(&client, gov_addr).await;
        let rounds = if quick { 1 } else { ROUNDS };
        let (mut b, mut e, mut g) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            b.push(load(&client, bare_addr).await);
            e.push(load(&client, echo_addr).await);
            g.push(load(&client, gov_addr).await);
        }
        let (b, e, g) = (median(b), median(e), median(g));
        println!("\nthroughput over loopback ({CONCURRENCY} keep-alive clients, {rounds} rounds of {ROUND:?} each, medians)");
        println!("  {:<32} {:>10.0} req/s", "bare route", b);
        println!("  {:<32} {:>10.0} req/s", "bare route + 2 headers by hand", e);
        println!("  {:<32} {:>10.0} req/s", "governed route (layer + macro)", g);
        println!("  {:<32} {:>10.3}", "ratio governed/bare", g / b);
        println!("  {:<32} {:>10.3}", "ratio governed/bare+headers", g / e);
    });
}
