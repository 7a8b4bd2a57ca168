//! `Agent::chat` against the development server as a ratio of a raw reqwest
//! POST of the same body to the same server, measured in the same run.
//!
//! The raw call is what a careful user would write by hand to the protocol:
//! one shared `reqwest::Client`, the bearer key, a fresh `Idempotency-Key`
//! (`PROTOCOL.md`: every `POST` a client sends carries one, and the server
//! keeps the answer for a retry), the JSON body, the answer parsed into a
//! `serde_json::Value` and its content read. Two more variants show what parts
//! cost on their own: the raw call without the key (the server then keeps no
//! answer), and with the total timeout that the agent always has (its
//! contract: no call waits forever).
//!
//! The variants run in interleaved batches of `BATCH` calls, one after the
//! other, for `ROUNDS` rounds (`support::interleave`, as the in-process
//! benches); the table shows each variant's median time per call and the
//! median of the per-round ratios, so that drift on the machine hits all of
//! them alike (a criterion group measures one variant for seconds before the
//! next, and on a shared 2-core machine that drift alone moves the ratio by a
//! few percent). Client and server share one current-thread runtime, as in a
//! test.
//!
//! Run: `cargo bench --bench agent`.

#[allow(dead_code)] // the in-process benches' helpers; this one needs the rounds and the table
mod support;

use std::time::{Duration, Instant};

use tappass::Agent;
use tappass_dev::DevServer;

const BATCH: usize = 200;
const ROUNDS: usize = 25;
const PROMPT: &str = "Summarize Q4 revenue";

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Raw,
    RawWithoutKey,
    RawWithTimeout,
    Agent,
}

impl Variant {
    /// The first is the baseline of the ratios.
    const ALL: [Variant; 4] = [
        Variant::Raw,
        Variant::RawWithoutKey,
        Variant::RawWithTimeout,
        Variant::Agent,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Raw => "raw reqwest POST",
            Variant::RawWithoutKey => "raw POST without Idempotency-Key",
            Variant::RawWithTimeout => "raw POST + total timeout",
            Variant::Agent => "Agent::chat",
        }
    }
}

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (rounds, batch) = if quick { (1, 5) } else { (ROUNDS, BATCH) };
    let dev = rt.block_on(DevServer::start()).unwrap();
    let url = dev.url();
    let agent = Agent::new(&url, "tp_bench").unwrap();
    let raw = reqwest::Client::new();
    let endpoint = format!("{url}/v1/chat/completions");
    let body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": false,
    });
    // Keys unique within the run (the dev server is new for it).
    let keys = std::cell::Cell::new(0u64);
    let call = |variant: Variant| {
        let (agent, raw, endpoint, body, keys) = (&agent, &raw, &endpoint, &body, &keys);
        async move {
            if variant == Variant::Agent {
                return agent.chat(PROMPT).await.unwrap().content.len();
            }
            let mut request = raw.post(endpoint);
            if variant != Variant::RawWithoutKey {
                keys.set(keys.get() + 1);
                request = request.header("idempotency-key", format!("{:032x}", keys.get()));
            }
            if variant == Variant::RawWithTimeout {
                request = request.timeout(Duration::from_secs(60));
            }
            let response = request
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
    // One batch of `variant`, client and server on the one runtime: the
    // nanoseconds per call.
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
        &format!("agent vs raw reqwest against the dev server: {rounds} interleaved rounds of {batch} calls"),
        &Variant::ALL.map(Variant::name),
        &results,
    );
    rt.block_on(dev.shutdown());
}
