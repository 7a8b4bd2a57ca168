//! What verifying a capability token costs, against the Ed25519
//! verifications it cannot avoid, in the same run:
//!
//! - `ed25519 verify`: one strict Ed25519 verification of a token-sized
//!   message with a key already decompressed (the baseline);
//! - `root token, fresh`: `Authorizer::check_at` on a root token and its
//!   PoP, from the header strings, with an authorizer that remembers no
//!   token (`cache_capacity(0)`): decode, chain, constraints, PoP, 2
//!   verifications;
//! - `3-deep chain, fresh`: the same for a token delegated three times,
//!   carrying its chain: 5 verifications (4 tokens, 1 PoP);
//! - `…, remembered`: the same calls with the default authorizer, which
//!   remembers the token presented before (its decoding and the verdict on
//!   its signatures): 1 verification, the PoP's;
//! - `unknown tool`: the root token asked for a tool it does not grant,
//!   refused before any signature check, fresh and remembered.
//!
//! Then the Python SDK's `Authorizer.check` on the same tokens, in the
//! virtualenv of `tests/support/python.rs` (the SDK claims about 27 µs).
//!
//! Run: `cargo bench --features capability --bench capability`.

#[allow(dead_code)]
mod support;

// The virtualenv only: the bench serves no FastAPI app.
#[allow(dead_code)]
#[path = "../tests/support/python.rs"]
mod python;

use std::hint::black_box;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tappass::capability::{
    Args, Authorizer, CapabilityToken, ConstraintSet, Exact, OneOf, Pop, Range, Rejection,
    SigningKey, Subpath,
};

/// Rounds, each with one batch of every variant.
const ROUNDS: usize = 30;
/// Calls per batch (about 10 ms for the chain on the bench machine).
const BATCH: usize = 200;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let control_plane = SigningKey::from_bytes(&[1; 32]);
    let agents: Vec<SigningKey> = (2..6).map(|n| SigningKey::from_bytes(&[n; 32])).collect();
    let grant = || {
        ConstraintSet::new()
            .with("path", Subpath::new("/data").unwrap())
            .with("mode", OneOf::new(["r", "rw"]))
    };
    let root = CapabilityToken::builder()
        .holder(agents[0].public_key())
        .tool("read_file", grant())
        .tool("search", ConstraintSet::new().with("q", Exact::new("x")))
        .tool(
            "transfer",
            ConstraintSet::new().with("amount", Range::between(0, 100).unwrap()),
        )
        .trust_score(800)
        .session_id("ses_bench")
        .agent_id("agent-bench")
        .issued_at(now)
        .ttl(std::time::Duration::from_secs(3600))
        .sign(&control_plane)
        .unwrap();
    let mut chain = root.clone();
    for pair in agents.windows(2) {
        chain = chain
            .delegate(pair[1].public_key())
            .tool("read_file", grant())
            .issued_at(now)
            .sign(&pair[0])
            .unwrap();
    }
    let args: Args = json!({"path": "/data/reports/q3.pdf", "mode": "r"})
        .as_object()
        .unwrap()
        .clone();
    let root_header = root.encode();
    let chain_header = chain.encode();
    let root_pop = Pop::sign_at(&root, &agents[0], "read_file", &args, now)
        .unwrap()
        .encode();
    let chain_pop = Pop::sign_at(&chain, &agents[3], "read_file", &args, now)
        .unwrap()
        .encode();
    // Fresh: every call decodes and verifies (no memory of tokens).
    let fresh = Authorizer::builder()
        .trusted_root(control_plane.public_key())
        .cache_capacity(0)
        .build()
        .unwrap();
    // Remembered: the default, which keeps the decoded token and its verdict.
    let remembered = Authorizer::builder()
        .trusted_root(control_plane.public_key())
        .build()
        .unwrap();
    let check = |a: &Authorizer, token: &str, pop: &str, tool: &str| {
        a.check_at(Some(token), Some(pop), tool, &args, now)
    };
    for a in [&fresh, &remembered] {
        assert!(check(a, &root_header, &root_pop, "read_file").is_ok());
        assert_eq!(
            check(a, &chain_header, &chain_pop, "read_file")
                .unwrap()
                .depth(),
            3
        );
        assert!(matches!(
            check(a, &root_header, &root_pop, "delete_file"),
            Err(Rejection::ToolNotGranted { .. })
        ));
    }

    // The baseline: one strict verification of the root token's signature.
    let verifying =
        ed25519_dalek::VerifyingKey::from_bytes(&control_plane.public_key().to_bytes()).unwrap();
    let mut message = b"tappass-capability-token-v1".to_vec();
    message.extend_from_slice(root.canonical_bytes());
    let signature = ed25519_dalek::Signature::from_bytes(root.signature());
    assert!(verifying.verify_strict(&message, &signature).is_ok());

    let (rounds, batch) = if quick { (1, 3) } else { (ROUNDS, BATCH) };
    let timed = |calls: usize, f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..calls {
            f();
        }
        start.elapsed().as_nanos() as f64 / calls as f64
    };
    // The cheap variants run more calls per batch, for a steadier time.
    let many = batch * 20;
    let mut variants: [Box<dyn FnMut() -> f64 + '_>; 7] = [
        Box::new(|| {
            timed(batch, &|| {
                black_box(verifying.verify_strict(black_box(&message), &signature)).unwrap();
            })
        }),
        Box::new(|| {
            timed(batch, &|| {
                black_box(check(
                    &fresh,
                    black_box(&root_header),
                    &root_pop,
                    "read_file",
                ))
                .unwrap();
            })
        }),
        Box::new(|| {
            timed(batch, &|| {
                black_box(check(
                    &fresh,
                    black_box(&chain_header),
                    &chain_pop,
                    "read_file",
                ))
                .unwrap();
            })
        }),
        Box::new(|| {
            timed(batch, &|| {
                black_box(check(
                    &remembered,
                    black_box(&root_header),
                    &root_pop,
                    "read_file",
                ))
                .unwrap();
            })
        }),
        Box::new(|| {
            timed(batch, &|| {
                black_box(check(
                    &remembered,
                    black_box(&chain_header),
                    &chain_pop,
                    "read_file",
                ))
                .unwrap();
            })
        }),
        Box::new(|| {
            timed(many, &|| {
                black_box(check(
                    &fresh,
                    black_box(&root_header),
                    &root_pop,
                    "delete_file",
                ))
                .unwrap_err();
            })
        }),
        Box::new(|| {
            timed(many, &|| {
                black_box(check(
                    &remembered,
                    black_box(&root_header),
                    &root_pop,
                    "delete_file",
                ))
                .unwrap_err();
            })
        }),
    ];
    let results = support::interleave(rounds, &mut variants);
    drop(variants);
    let names = [
        "ed25519 verify",
        "root token, fresh",
        "3-deep chain, fresh",
        "root token, remembered",
        "3-deep chain, remembered",
        "unknown tool, fresh (denied)",
        "unknown tool, remembered (denied)",
    ];
    support::print_interleaved(
        &format!(
            "capability: {rounds} interleaved rounds of {batch} calls ({many} for the denials)"
        ),
        &names,
        &results,
    );
    let median_ratio = |v: usize| {
        let mut r: Vec<f64> = results[v]
            .iter()
            .zip(&results[0])
            .map(|(t, b)| t / b)
            .collect();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    let median = |v: usize| {
        let mut t = results[v].clone();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    println!(
        "  per verification it must do (target ≤ 1.5): root fresh {:.3} (2), chain fresh {:.3} (5), \
         root remembered {:.3} (1, the PoP), chain remembered {:.3} (1, the PoP)",
        median_ratio(1) / 2.0,
        median_ratio(2) / 5.0,
        median_ratio(3),
        median_ratio(4),
    );
    println!(
        "  unknown tool denied (target < 1000 ns): fresh {:.0} ns, remembered {:.0} ns",
        median(5),
        median(6)
    );

    if quick {
        return;
    }
    // The Python SDK on the same tokens and calls.
    let python = python::python();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/capability/sdk.py");
    let case = |token: &str, pop: &str| {
        json!({
            "token": token, "pop": pop, "tool": "read_file", "args": args,
            "roots": [control_plane.public_key().to_hex()], "now": now,
            "rounds": ROUNDS, "calls": 2000, "expect": true,
        })
    };
    let request = json!({"op": "time_check", "cases": [case(&root_header, &root_pop), case(&chain_header, &chain_pop)]});
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "sdk.py time_check failed");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let med = |v: &Value| {
        let mut t: Vec<f64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    println!("\nPython SDK 0.12.62, Authorizer.check on the same calls (median of {ROUNDS} rounds of 2000):");
    for (i, name) in [
        "root token",
        "3-deep chain (leaf only: Python checks no chain)",
    ]
    .iter()
    .enumerate()
    {
        let r = &answer["results"][i];
        let (check_ns, decode_ns) = (med(&r["check_ns"]), med(&r["decode_and_check_ns"]));
        println!(
            "  {name:<50} check {:>7.2} µs; decode + check {:>7.2} µs: {:.2}× this crate's fresh check, {:.2}× its remembered one",
            check_ns / 1000.0,
            decode_ns / 1000.0,
            decode_ns / median(1 + i),
            decode_ns / median(3 + i),
        );
    }
}
