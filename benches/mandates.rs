//! In-process cost of requiring a mandate, measured against the bare route in
//! the same run and printed as ratios:
//!
//! - `bare`: the handler alone;
//! - `cached`: behind `RequireMandate`, the same mandate on every request (a
//!   cache lookup and the revocation check);
//! - `fresh`: behind `RequireMandate`, a mandate never seen before on every
//!   request (an ES256 signature check, claims, revocation; signing it is in
//!   the untimed setup).
//!
//! The keys come from the dev server's JWK Set, fetched once before the
//! timing; the revocation list is in-process, so no network is timed.
//!
//! Run: `cargo bench --bench mandates`.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tappass::mandate::{BoxFuture, Mandate, MandateVerifier, RequireMandate, RevocationSource};
use tappass_dev::{DevServer, Policy};

/// The dev server's signing key, so the setup can sign fresh mandates.
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgV8cWmpQNihQX0Q21
/TP4/lqRZlvWo5D2gK9tysL9uyyhRANCAAQDHjbBfCxeX8OBbUnyZ+FkBcN6AWD0
if2nuYbOz3GYBV3mlgTHvqr21pAeiCraXWKVoZs/V9ypO6G+TYqPCFC+
-----END PRIVATE KEY-----
";

async fn bare() -> &'static str {
    "ok"
}

async fn guarded(mandate: Mandate) -> &'static str {
    std::hint::black_box(mandate.id());
    "ok"
}

/// A revocation list with a few ids, in process.
struct Revoked(HashSet<String>);

impl RevocationSource for Revoked {
    fn revoked(&self) -> BoxFuture<'_, Result<HashSet<String>, tappass::Error>> {
        let ids = self.0.clone();
        Box::pin(async move { Ok(ids) })
    }
}

struct Signer {
    key: EncodingKey,
    header: Header,
    issuer: String,
    next: AtomicU64,
}

impl Signer {
    fn sign(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({
            "mandate_id": format!("m_bench_{n:016x}"),
            "capabilities": [{"id": "tool:call:search"}],
            "iat": now, "exp": now + 3600,
            "iss": self.issuer, "sub": "agt-bench", "session_id": "ses_bench",
        });
        jsonwebtoken::encode(&self.header, &claims, &self.key).unwrap()
    }
}

fn request(token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/");
    if let Some(token) = token {
        builder = builder.header("x-tappass-mandate", token);
    }
    builder.body(Body::empty()).unwrap()
}

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dev = rt
        .block_on(
            DevServer::builder()
                .policy(Policy::allow_all())
                .signing_key_pem(KEY_PEM)
                .start(),
        )
        .unwrap();
    let verifier = MandateVerifier::builder()
        .jwks_url(dev.jwks_url())
        .issuer(dev.url())
        .revocation(Revoked((0..100).map(|i| format!("m_gone_{i}")).collect()))
        .build()
        .unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(dev.mandate_kid());
    let signer = Signer {
        key: EncodingKey::from_ec_pem(KEY_PEM.as_bytes()).unwrap(),
        header,
        issuer: dev.url(),
        next: AtomicU64::new(0),
    };
    let bare_app = Router::new().route("/", get(bare));
    let guarded_app = Router::new().route(
        "/",
        get(guarded).route_layer(RequireMandate::new(verifier).capability("tool:call:search")),
    );
    // Warm: the keys and the revocation list are fetched before the timing.
    let cached = signer.sign();
    rt.block_on(support::call(guarded_app.clone(), request(Some(&cached))));

    let (rounds, batch) = if quick { (1, 5) } else { (ROUNDS, BATCH) };
    let timed = |app: &Router, token: &dyn Fn() -> Option<String>| {
        // Signing a fresh mandate is setup: done before the clock starts.
        let calls = (0..batch)
            .map(|_| (app.clone(), request(token().as_deref())))
            .collect();
        support::time_calls(&rt, calls, async {})
    };
    let mut variants: [Box<dyn FnMut() -> f64 + '_>; 3] = [
        Box::new(|| timed(&bare_app, &|| None)),
        Box::new(|| timed(&guarded_app, &|| Some(cached.clone()))),
        Box::new(|| timed(&guarded_app, &|| Some(signer.sign()))),
    ];
    let results = support::interleave(rounds, &mut variants);
    drop(variants);
    support::print_interleaved(
        &format!("mandate: {rounds} interleaved rounds of {batch} calls"),
        &["bare", "cached", "fresh"],
        &results,
    );
    rt.block_on(dev.shutdown());
}

/// Rounds, each with one batch of every variant.
const ROUNDS: usize = 30;
/// Calls per batch: a fresh mandate's signature check takes about a
/// millisecond on the bench machine, so a batch of the slowest variant
/// stays well under a second.
const BATCH: usize = 200;
