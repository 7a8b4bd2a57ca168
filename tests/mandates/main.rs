//! Mandates end to end, over real sockets: the dev server issues them on
//! `allow` and publishes its keys and revocations; a downstream service
//! verifies them with `tappass::mandate` (`RequireMandate`, the extractor,
//! the layer and `#[governed(capability = ..)]`). Every rejection code, the
//! attacks a verifier must survive (algorithm confusion, tampering, key
//! floods), the key server down cold and warm, revocation, recovery (a
//! runtime that ends under a shared verifier, cold-start failures, a kid
//! flood during a rotation, redirects), the edges of verification, and
//! tokens crossing to Python's PyJWT and back. Built with the `mandate`
//! feature only (`required-features` in `Cargo.toml`).
//!
//! Which server each test meets: the dev server, signing with a fixed test
//! key (`KEY_PEM`) so that a test can sign tokens TapPass would never issue
//! (expired, not yet valid, no id); the scripted stand-in serves key sets and
//! revocation lists where a test needs answers the dev server never gives
//! (a key server that is down, fails on cue, redirects, or changes between
//! two fetches: `keys.rs`, `revocation.rs`, `recovery.rs`, `edges.rs`, with
//! the key set of `keyset.rs`).

#[path = "../support/mod.rs"]
mod support;

mod attacks;
mod chain;
mod edges;
mod keys;
mod keyset;
mod python;
mod recovery;
mod revocation;
mod routes;
mod tool_names;

use std::time::Duration;

use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tappass::mandate::{Capability, Mandate, MandateVerifier, RequireMandate};
use tappass::propagate::PropagateSession;
use tappass::Agent;
use tappass_dev::{DevServer, Policy};

use support::bounded;
use support::services::serve;
use support::stand_in::{Reply, TapPass};

/// The dev server's signing key in these tests (P-256, PKCS#8), so a test can
/// sign tokens TapPass would never issue (expired, not yet valid, no id); the
/// stand-in's key sets publish it too.
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgV8cWmpQNihQX0Q21
/TP4/lqRZlvWo5D2gK9tysL9uyyhRANCAAQDHjbBfCxeX8OBbUnyZ+FkBcN6AWD0
if2nuYbOz3GYBV3mlgTHvqr21pAeiCraXWKVoZs/V9ypO6G+TYqPCFC+
-----END PRIVATE KEY-----
";

/// The public half of [`KEY_PEM`].
const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAx42wXwsXl/DgW1J8mfhZAXDegFg
9In9p7mGzs9xmAVd5pYEx76q9taQHogq2l1ilaGbP1fcqTuhvk2KjwhQvg==
-----END PUBLIC KEY-----
";

/// A P-384 key, for ES384 tokens.
const P384_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDD6hVwfk+N5M/MHkTGY
kw7KDBEZ/xMEaCZhRDaFtlRGoSjv/JUfmUC6iyxDkovQTFihZANiAAT/kAd/utbx
uzQ/mMWbGGDmAMVa4Tt0AQ7yYr8/bsfSsDsozvARWI/wThW5qBVw6uufkZuO93my
t+fltj8QHc5A9zaYrxP77pfqWtWLca+ubLuhf6lYf7lyIwMahM3ONkA=
-----END PRIVATE KEY-----
";

const JWKS_PATH: &str = "/.well-known/jwks.json";
const REVOKED_PATH: &str = "/v1/mandates/revoked";

async fn dev_server(policy: Policy) -> DevServer {
    DevServer::builder()
        .policy(policy)
        .signing_key_pem(KEY_PEM)
        .start()
        .await
        .expect("the dev server starts")
}

async fn default_server() -> DevServer {
    dev_server(Policy::allow_all()).await
}

fn agent(server: &DevServer) -> Agent {
    Agent::new(server.url(), "tp_mandates").unwrap()
}

/// A mandate for `tool`, issued by the dev server on an `allow`.
async fn mandate_for(server: &DevServer, tool: &str) -> String {
    let verdict = agent(server)
        .govern_tool(tool, json!({"q": "rust"}))
        .await
        .expect("the dev server allows it");
    verdict
        .mandate()
        .expect("an allow carries a mandate")
        .to_owned()
}

/// A verifier of the dev server's mandates, revocation included.
fn verifier(server: &DevServer) -> tappass::mandate::MandateVerifierBuilder {
    MandateVerifier::builder()
        .jwks_url(server.jwks_url())
        .revocation_url(format!("{}/v1/mandates/revoked", server.url()))
        .api_key("tp_downstream")
        .issuer(server.url())
}

async fn search(mandate: Mandate) -> String {
    mandate.id().unwrap_or("-").to_owned()
}

async fn peek(mandate: Option<Mandate>) -> String {
    match mandate {
        Some(m) => format!("some {}", m.id().unwrap_or("-")),
        None => "none".to_owned(),
    }
}

/// Service B: `/search` requires `tool:call:search`; `/peek` takes an
/// optional mandate, verified with the router's `Extension` verifier.
fn service_b(verifier: MandateVerifier) -> Router {
    Router::new()
        .route(
            "/search",
            post(search)
                .route_layer(RequireMandate::new(verifier.clone()).capability("tool:call:search")),
        )
        .route("/peek", get(peek))
        .layer(Extension(verifier))
}

/// Status, `error` code and body of a call to `/search` with `token`.
async fn call(url: &str, token: Option<&str>) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().post(format!("{url}/search"));
    if let Some(token) = token {
        request = request.with_mandate(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, headers)
}

/// Asserts a refusal with `code`, and that the token is nowhere in it.
fn assert_refused(
    answer: &(u16, Value, reqwest::header::HeaderMap),
    status: u16,
    code: &str,
    token: &str,
) {
    let (got, body, headers) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    if !token.is_empty() {
        assert!(
            !body.to_string().contains(token),
            "the token is echoed: {body}"
        );
        for value in headers.values() {
            assert!(!value.to_str().unwrap_or("").contains(token));
        }
    }
}

fn b64(value: &Value) -> String {
    B64.encode(value.to_string())
}

/// A token over `claims` signed with the test key under the dev server's `kid`.
fn sign(server: &DevServer, claims: &Value) -> String {
    sign_as(&server.mandate_kid(), claims)
}

/// A token over `claims` signed with the test key under `kid`.
fn sign_as(kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_ec_pem(KEY_PEM.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(server: &DevServer, id: &str) -> Value {
    json!({
        "mandate_id": id,
        "capabilities": [{"id": "tool:call:search"}],
        "iat": now(),
        "exp": now() + 300,
        "iss": server.url(),
        "sub": "agt-test",
        "session_id": "ses_test",
    })
}
