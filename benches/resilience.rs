//! What resilience costs (issue 24).
//!
//! 1. `Agent::chat` against the development server with its breaker closed,
//!    in each mode, as a ratio of the same call by an agent without
//!    `.resilience(..)` (no breaker, no cache: the agent as it was before
//!    resilience), measured in the same run, in interleaved rounds (as
//!    `benches/agent.rs`, whose raw reqwest baseline is here too, to compare
//!    with its figures). Target: the breaker-closed call within 1.02.
//! 2. A call while the breaker is open, in each mode: the time per call,
//!    with no server at all (a refused port; the breaker opened on the first
//!    call). Target: under 10 µs. `fail_open_logged` writes each degraded
//!    call's event to the spool (a file write), `fail_open_cached` reuses a
//!    cached allow, `fail_closed` answers the error.
//!
//! Run: `cargo bench --bench resilience`. On a busy machine, where the
//! interleaved ratios spread wide, count instructions instead: with
//! `RESILIENCE_COUNT=plain` (or `fail_closed`, `fail_open_cached`,
//! `fail_open_logged`) the bench makes only 1,000 calls of that variant and
//! exits, to run under `valgrind --tool=callgrind` (benches/README.md).

#[allow(dead_code)] // the in-process benches' helpers; this one needs the rounds and the table
mod support;

use std::time::{Duration, Instant};

use tappass::resilience::{AuditSpool, Resilience};
use tappass::Agent;
use tappass_dev::DevServer;

const BATCH: usize = 200;
const ROUNDS: usize = 25;
const PROMPT: &str = "Summarize Q4 revenue";
/// Calls per measurement of an open breaker.
const OPEN_CALLS: usize = 20_000;

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Raw,
    Plain,
    FailClosed,
    FailOpenCached,
    FailOpenLogged,
}

impl Variant {
    /// The second is the baseline of the ratios that matter here.
    const ALL: [Variant; 5] = [
        Variant::Plain,
        Variant::Raw,
        Variant::FailClosed,
        Variant::FailOpenCached,
        Variant::FailOpenLogged,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Raw => "raw reqwest POST",
            Variant::Plain => "Agent::chat, no resilience",
            Variant::FailClosed => "fail_closed, breaker closed",
            Variant::FailOpenCached => "fail_open_cached, closed",
            Variant::FailOpenLogged => "fail_open_logged + spool, closed",
        }
    }
}

fn spool_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tappass-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (rounds, batch, open_calls) = if quick {
        (1, 5, 100)
    } else {
        (ROUNDS, BATCH, OPEN_CALLS)
    };
    let dev = rt.block_on(DevServer::start()).unwrap();
    let url = dev.url();
    let logged_dir = spool_dir("logged");
    let agent = |resilience: Option<Resilience>, spool: Option<&std::path::Path>| {
        let mut builder = Agent::builder(&url).api_key("tp_bench");
        if let Some(resilience) = resilience {
            builder = builder.resilience(resilience);
        }
        if let Some(dir) = spool {
            builder = builder.audit_spool(AuditSpool::new(dir));
        }
        builder.build().unwrap()
    };
    let plain = agent(None, None);
    let closed = agent(Some(Resilience::fail_closed()), None);
    let cached = agent(
        Some(Resilience::fail_open_cached(Duration::from_secs(300))),
        None,
    );
    let logged = agent(Some(Resilience::fail_open_logged()), Some(&logged_dir));
    let raw = reqwest::Client::new();
    let endpoint = format!("{url}/v1/chat/completions");
    let body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": false,
    });
    if let Ok(only) = std::env::var("RESILIENCE_COUNT") {
        let agent = match only.as_str() {
            "plain" => &plain,
            "fail_closed" => &closed,
            "fail_open_cached" => &cached,
            "fail_open_logged" => &logged,
            other => panic!("RESILIENCE_COUNT={other}: plain, fail_closed, fail_open_cached or fail_open_logged"),
        };
        rt.block_on(async {
            for _ in 0..1000 {
                assert!(!agent.chat(PROMPT).await.unwrap().content.is_empty());
            }
        });
        println!("{only}: 1000 calls");
        return;
    }
    let keys = std::cell::Cell::new(0u64);
    let call = |variant: Variant| {
        let (raw, endpoint, body, keys) = (&raw, &endpoint, &body, &keys);
        let agent = match variant {
            Variant::Plain | Variant::Raw => &plain,
            Variant::FailClosed => &closed,
            Variant::FailOpenCached => &cached,
            Variant::FailOpenLogged => &logged,
        };
        async move {
            if variant != Variant::Raw {
                return agent.chat(PROMPT).await.unwrap().content.len();
            }
            keys.set(keys.get() + 1);
            let response = raw
                .post(endpoint)
                .header("idempotency-key", format!("{:032x}", keys.get()))
                .bearer_auth("tp_bench")
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).unwrap())
                .send()
                .await
                .unwrap();
            let bytes = response.bytes().await.unwrap();
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            value["choices"][0]["message"]["content"]
                .as_str()
                .map_or(0, str::len)
        }
    };
    let timed = |variant: Variant| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..batch {
                assert!(std::hint::black_box(call(variant).await) > 0);
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
    };
    let mut variants = Variant::ALL
        .map(|variant| Box::new(move || timed(variant)) as Box<dyn FnMut() -> f64 + '_>);
    let results = support::interleave(rounds, &mut variants);
    support::print_interleaved(
        &format!("Agent::chat with the breaker closed, against the dev server: {rounds} interleaved rounds of {batch} calls"),
        &Variant::ALL.map(Variant::name),
        &results,
    );

    // 2. The breaker open: no server at all.
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}")
    };
    let open_dir = spool_dir("open");
    let opened = |resilience: Resilience, spool: Option<&std::path::Path>| {
        let mut builder = Agent::builder(&refused)
            .api_key("tp_bench")
            .max_retries(0)
            .resilience(
                resilience
                    .failure_threshold(1)
                    .open_for(Duration::from_secs(3600)),
            );
        if let Some(dir) = spool {
            builder = builder.audit_spool(AuditSpool::new(dir).max_bytes(1 << 30));
        }
        builder.build().unwrap()
    };
    let open_closed = opened(Resilience::fail_closed(), None);
    let open_logged = opened(Resilience::fail_open_logged(), Some(&open_dir));
    println!(
        "\na call while the breaker is open (no server; {open_calls} calls each, median of 5 runs)"
    );
    let measure = |name: &str, agent: &Agent, expect_ok: bool| {
        rt.block_on(async {
            // The first call finds the port refused and opens the breaker.
            let _ = agent.chat(PROMPT).await;
            let mut runs = Vec::new();
            for _ in 0..5 {
                let start = Instant::now();
                for _ in 0..open_calls {
                    let outcome = std::hint::black_box(agent.chat(PROMPT).await);
                    assert_eq!(outcome.is_ok(), expect_ok);
                }
                runs.push(start.elapsed().as_nanos() as f64 / open_calls as f64);
            }
            runs.sort_by(f64::total_cmp);
            println!("  {name:<44} {:>9.2} µs", runs[2] / 1000.0);
        })
    };
    measure("fail_closed: the error, at once", &open_closed, false);
    measure(
        "fail_open_logged: ungoverned, event to the spool",
        &open_logged,
        true,
    );
    // fail_open_cached: an allow cached while the server was up, then the
    // server gone (the same agent, its breaker opened by a refused call).
    let cached_dev = rt.block_on(DevServer::start()).unwrap();
    let cached_url = cached_dev.url();
    let open_cached = Agent::builder(&cached_url)
        .api_key("tp_bench")
        .max_retries(0)
        .resilience(
            Resilience::fail_open_cached(Duration::from_secs(3600))
                .failure_threshold(1)
                .open_for(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    rt.block_on(async {
        open_cached.chat(PROMPT).await.unwrap();
        cached_dev.clone().shutdown().await;
    });
    measure("fail_open_cached: the cached allow", &open_cached, true);
    rt.block_on(dev.shutdown());
    let _ = std::fs::remove_dir_all(logged_dir);
    let _ = std::fs::remove_dir_all(open_dir);
}
