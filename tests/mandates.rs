//! Mandates end to end, over real sockets: the dev server issues them on
//! `allow`, publishes its keys and revocations; a downstream service verifies
//! them with `tappass::mandate`. Every rejection code, the attacks a verifier
//! must survive (algorithm confusion, tampering, key floods), the key server
//! down cold and warm, revocation, and tokens crossing to Python's PyJWT and
//! back.

#![cfg(feature = "mandate")]

mod support;

use std::process::Command;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::{bounded, Reply, TapPass};
use tappass::mandate::{Capability, Mandate, MandateVerifier, RequireMandate};
use tappass::propagate::PropagateSession;
use tappass::Agent;
use tappass_dev::{DevServer, Policy};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The dev server's signing key in these tests (P-256, PKCS#8), so a test can
/// sign tokens TapPass would never issue (expired, not yet valid, no id).
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

struct Served {
    url: String,
    task: JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(app: Router) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Served { url, task }
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

// ---- the whole chain -----------------------------------------------------

#[tokio::test]
async fn an_allowed_tool_call_carries_a_mandate_that_the_next_service_accepts() {
    bounded(async {
        let server = default_server().await;
        let b = serve(service_b(verifier(&server).build().unwrap())).await;
        let token = mandate_for(&server, "search").await;

        let issued = server.mandates();
        assert_eq!(issued.len(), 1);
        assert_eq!(issued[0].capabilities, ["tool:call:search"]);
        assert_eq!(issued[0].tool, "search");

        let (status, body, _) = call(&b.url, Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, Value::String(issued[0].mandate_id.clone()));

        // The extracted mandate says what was signed.
        let mandate = verifier(&server)
            .build()
            .unwrap()
            .verify(&token)
            .await
            .unwrap();
        assert_eq!(mandate.id(), Some(issued[0].mandate_id.as_str()));
        assert!(mandate.grants("tool:call:search"));
        assert_eq!(
            mandate.capabilities(),
            [Capability::new("tool:call:search")]
        );
        assert_eq!(mandate.agent(), Some(issued[0].agent_uuid.as_str()));
        assert_eq!(mandate.session_id(), Some(issued[0].session_id.as_str()));
        let exp = mandate.claims()["exp"].as_u64().unwrap();
        assert_eq!(
            mandate.expires_at().to_system_time(),
            std::time::UNIX_EPOCH + Duration::from_secs(exp)
        );
        assert_eq!(mandate.claims()["iss"], server.url());
        // Debug shows the claims, never the token.
        assert!(!format!("{mandate:?}").contains(&token));
    })
    .await;
}

#[tokio::test]
async fn an_optional_mandate_is_none_only_when_absent() {
    bounded(async {
        let server = default_server().await;
        let b = serve(service_b(verifier(&server).build().unwrap())).await;
        let client = reqwest::Client::new();
        let peek = |token: Option<String>| {
            let mut r = client.get(format!("{}/peek", b.url));
            if let Some(t) = token {
                r = r.with_mandate(&t);
            }
            async move {
                let response = r.send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        assert_eq!(peek(None).await, (200, "none".to_owned()));
        let token = mandate_for(&server, "search").await;
        let id = server.mandates()[0].mandate_id.clone();
        assert_eq!(peek(Some(token)).await, (200, format!("some {id}")));
        // A present but bad mandate is refused, not taken for none.
        let (status, body) = peek(Some("not.a.token".to_owned())).await;
        assert_eq!(status, 403);
        assert!(body.contains("mandate_invalid"), "{body}");
    })
    .await;
}

// ---- each rejection code -------------------------------------------------

#[tokio::test]
async fn every_rejection_has_its_code_and_never_echoes_the_token() {
    bounded(async {
        let server = default_server().await;
        let b = serve(service_b(verifier(&server).build().unwrap())).await;

        let missing = call(&b.url, None).await;
        assert_refused(&missing, 403, "mandate_missing", "");
        assert_eq!(missing.1["header"], "x-tappass-mandate");

        let garbage = "eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln";
        assert_refused(
            &call(&b.url, Some(garbage)).await,
            403,
            "mandate_invalid",
            garbage,
        );

        let expired = sign(
            &server,
            &json!({"mandate_id": "m_expired", "capabilities": [{"id": "tool:call:search"}],
                    "iat": now() - 600, "exp": now() - 120, "iss": server.url()}),
        );
        assert_refused(
            &call(&b.url, Some(&expired)).await,
            403,
            "mandate_expired",
            &expired,
        );

        let early = sign(
            &server,
            &json!({"mandate_id": "m_early", "capabilities": [{"id": "tool:call:search"}],
                    "iat": now(), "nbf": now() + 600, "exp": now() + 900, "iss": server.url()}),
        );
        assert_refused(
            &call(&b.url, Some(&early)).await,
            403,
            "mandate_expired",
            &early,
        );

        let other = mandate_for(&server, "send_email").await;
        let insufficient = call(&b.url, Some(&other)).await;
        assert_refused(&insufficient, 403, "mandate_insufficient", &other);
        assert_eq!(insufficient.1["required_capability"], "tool:call:search");

        let token = mandate_for(&server, "search").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        assert!(server.revoke_mandate(&id));
        // A fresh verifier's first fill already holds the revocation.
        let fresh = serve(service_b(verifier(&server).build().unwrap())).await;
        let revoked = call(&fresh.url, Some(&token)).await;
        assert_refused(&revoked, 403, "mandate_revoked", &token);
        assert_eq!(revoked.1["mandate_id"], id);

        // Revocation on: a mandate without an id cannot be checked, so it is refused.
        let mut no_id = claims(&server, "x");
        no_id.as_object_mut().unwrap().remove("mandate_id");
        let no_id = sign(&server, &no_id);
        assert_refused(
            &call(&b.url, Some(&no_id)).await,
            403,
            "mandate_invalid",
            &no_id,
        );

        // Over 8 KiB: refused before parsing.
        let huge = format!("{}.{}.sig", b64(&json!({"alg": "ES256"})), "A".repeat(9000));
        assert_refused(
            &call(&b.url, Some(&huge)).await,
            403,
            "mandate_invalid",
            &huge,
        );
    })
    .await;
}

#[tokio::test]
async fn rejections_carry_the_correlation_of_the_session() {
    bounded(async {
        let server = default_server().await;
        let verifier = verifier(&server).build().unwrap();
        let app = service_b(verifier).layer(
            tappass::TapPassLayer::builder()
                .tappass_url(server.url())
                .api_key("tp_b")
                .build()
                .unwrap(),
        );
        let b = serve(app).await;
        let response = reqwest::Client::new()
            .post(format!("{}/search", b.url))
            .header("x-tappass-session-id", "ses_chain")
            .header("x-tappass-agent-uuid", "agt-1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["x-tappass-session-id"], "ses_chain");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "mandate_missing");
        assert_eq!(body["session_id"], "ses_chain");
    })
    .await;
}

// ---- attacks ---------------------------------------------------------------

#[tokio::test]
async fn algorithm_confusion_and_tampering_are_invalid() {
    bounded(async {
        let server = default_server().await;
        // No flood guard between fetches: the unknown kid below is fetched
        // for, and found absent (within the guard it would be a 503: it
        // could be a rotation the verifier has not fetched yet).
        let v = verifier(&server)
            .min_jwks_refetch(Duration::ZERO)
            .build()
            .unwrap();
        let b = serve(service_b(v)).await;
        let kid = server.mandate_kid();
        let body = claims(&server, "m_forged");

        // alg: none, no signature.
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": kid})),
            b64(&body)
        );
        assert_refused(
            &call(&b.url, Some(&none)).await,
            403,
            "mandate_invalid",
            &none,
        );

        // HS256 keyed with the public key's bytes (PEM and raw point).
        for secret in [PUBLIC_PEM.as_bytes().to_vec(), raw_point(&server).await] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(kid.clone());
            let hs =
                jsonwebtoken::encode(&header, &body, &EncodingKey::from_secret(&secret).unwrap())
                    .unwrap();
            assert_refused(&call(&b.url, Some(&hs)).await, 403, "mandate_invalid", &hs);
        }

        // ES384 with another key under the same kid.
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(kid.clone());
        let key = EncodingKey::from_ec_pem(P384_PEM.as_bytes()).unwrap();
        let es384 = jsonwebtoken::encode(&header, &body, &key).unwrap();
        assert_refused(
            &call(&b.url, Some(&es384)).await,
            403,
            "mandate_invalid",
            &es384,
        );

        // A real mandate whose payload is rewritten to grant everything.
        let token = mandate_for(&server, "send_email").await;
        let parts: Vec<&str> = token.split('.').collect();
        let mut payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        payload["capabilities"] = json!([{"id": "*:*:*"}]);
        let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
        assert_refused(
            &call(&b.url, Some(&tampered)).await,
            403,
            "mandate_invalid",
            &tampered,
        );

        // The header's own alg cannot widen what is accepted: ES256 under
        // an unknown kid, signed by a key TapPass does not publish.
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("attacker".to_owned());
        let foreign = jsonwebtoken::encode(
            &header,
            &body,
            &EncodingKey::from_ec_pem(KEY_PEM.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_refused(
            &call(&b.url, Some(&foreign)).await,
            403,
            "mandate_invalid",
            &foreign,
        );
    })
    .await;
}

/// The public key as the JWK Set publishes it: the bytes `x || y`.
async fn raw_point(server: &DevServer) -> Vec<u8> {
    let jwks: Value = reqwest::get(server.jwks_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let coordinate = |c: &str| B64.decode(jwks["keys"][0][c].as_str().unwrap()).unwrap();
    [coordinate("x"), coordinate("y")].concat()
}

#[tokio::test]
async fn audience_and_issuer_are_enforced() {
    bounded(async {
        let server = default_server().await;
        let with_aud = {
            let mut c = claims(&server, "m_aud");
            c["aud"] = json!("billing");
            sign(&server, &c)
        };
        // No audience configured: a token meant for some service is refused.
        let plain = verifier(&server).build().unwrap();
        let err = plain.verify(&with_aud).await.unwrap_err();
        assert!(
            matches!(err, tappass::mandate::MandateRejection::Invalid { .. }),
            "{err}"
        );
        // The right audience accepts it, another refuses it.
        let billing = verifier(&server).audience("billing").build().unwrap();
        billing.verify(&with_aud).await.unwrap();
        let search = verifier(&server).audience("search").build().unwrap();
        assert!(search.verify(&with_aud).await.is_err());
        // Another issuer.
        let mut c = claims(&server, "m_iss");
        c["iss"] = json!("https://evil.example");
        let evil = sign(&server, &c);
        let err = plain.verify(&evil).await.unwrap_err();
        assert!(err.to_string().contains("issuer"), "{err}");
    })
    .await;
}

// ---- keys --------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_kid_is_refetched_once_and_a_rotation_is_followed() {
    bounded(async {
        let server = default_server().await;
        let v = verifier(&server)
            .min_jwks_refetch(Duration::ZERO)
            .build()
            .unwrap();
        let b = serve(service_b(v)).await;
        let first = mandate_for(&server, "search").await;
        assert_eq!(call(&b.url, Some(&first)).await.0, 200);

        let new_kid = server.rotate_signing_key();
        assert_ne!(new_kid, server.url());
        let rotated = mandate_for(&server, "search").await;
        let header: Value =
            serde_json::from_slice(&B64.decode(rotated.split('.').next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(header["kid"], new_kid);
        // The verifier did not know the new kid: it re-fetched and accepts it.
        assert_eq!(call(&b.url, Some(&rotated)).await.0, 200);
        // The old key is still published: the first mandate still verifies.
        assert_eq!(call(&b.url, Some(&first)).await.0, 200);
    })
    .await;
}

/// A stand-in key server that serves the dev server's JWK Set and counts fetches.
async fn key_server(server: &DevServer) -> TapPass {
    let jwks: Value = reqwest::get(server.jwks_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    let stand_in = TapPass::start().await;
    stand_in.always(JWKS_PATH, Reply::ok(jwks));
    stand_in
}

#[tokio::test]
async fn a_thousand_concurrent_requests_fetch_the_keys_once() {
    bounded(async {
        let server = default_server().await;
        let keys = key_server(&server).await;
        // An interval no run of this test outlasts: the count is exact.
        let v = MandateVerifier::builder()
            .jwks_url(format!("{}{JWKS_PATH}", keys.url()))
            .no_revocation()
            .min_jwks_refetch(Duration::from_secs(3600))
            .build()
            .unwrap();
        let b = serve(service_b(v.clone())).await;
        let mut tokens = Vec::new();
        for _ in 0..10 {
            tokens.push(mandate_for(&server, "search").await);
        }
        let client = reqwest::Client::new();
        let calls = (0..1000).map(|i| {
            let request = client
                .post(format!("{}/search", b.url))
                .with_mandate(&tokens[i % tokens.len()]);
            async move { request.send().await.unwrap().status().as_u16() }
        });
        let statuses = futures_util::future::join_all(calls).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        assert_eq!(keys.hits(JWKS_PATH), 1);

        // A flood of random kids within the re-fetch interval of that fetch:
        // every one is refused, none fetches. None is called forged (403):
        // until the next fetch, any of them could be a rotation
        // (tests/mandate_recovery.rs has the rotation).
        let body = claims(&server, "m_flood");
        let key = EncodingKey::from_ec_pem(KEY_PEM.as_bytes()).unwrap();
        let floods = (0..300).map(|i| {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(format!("random-{i}"));
            let token = jsonwebtoken::encode(&header, &body, &key).unwrap();
            let v = v.clone();
            async move {
                v.verify(&token)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        });
        let results = futures_util::future::join_all(floods).await;
        assert!(results
            .iter()
            .all(|r| r.as_ref().is_err_and(|e| e.contains("unavailable"))));
        assert_eq!(keys.hits(JWKS_PATH), 1);
    })
    .await;
}

#[tokio::test]
async fn keys_down_cold_fails_closed_and_warm_keeps_verifying() {
    bounded(async {
        let server = default_server().await;
        let token = mandate_for(&server, "search").await;

        // Cold: the key server answers 503 and nothing is cached.
        let down = TapPass::start().await;
        down.always(JWKS_PATH, Reply::status(503));
        let cold = MandateVerifier::builder()
            .jwks_url(format!("{}{JWKS_PATH}", down.url()))
            .no_revocation()
            .build()
            .unwrap();
        let b = serve(service_b(cold)).await;
        assert_refused(
            &call(&b.url, Some(&token)).await,
            503,
            "governance_unavailable",
            &token,
        );

        // Warm: the keys were fetched once, then the key server goes down.
        let keys = key_server(&server).await;
        let warm = MandateVerifier::builder()
            .jwks_url(format!("{}{JWKS_PATH}", keys.url()))
            .no_revocation()
            .min_jwks_refetch(Duration::ZERO)
            .build()
            .unwrap();
        let b = serve(service_b(warm)).await;
        assert_eq!(call(&b.url, Some(&token)).await.0, 200);
        keys.always(JWKS_PATH, Reply::status(503));
        let another = mandate_for(&server, "search").await;
        assert_eq!(call(&b.url, Some(&another)).await.0, 200);
        // A key it never saw while the server is down: it cannot tell, so 503.
        server.rotate_signing_key();
        let rotated = mandate_for(&server, "search").await;
        assert_refused(
            &call(&b.url, Some(&rotated)).await,
            503,
            "governance_unavailable",
            &rotated,
        );
        assert_eq!(keys.hits(JWKS_PATH), 2);
    })
    .await;
}

#[tokio::test]
async fn a_key_withdrawn_from_the_set_stops_being_trusted() {
    bounded(async {
        let server = default_server().await;
        let keys = key_server(&server).await;
        let v = MandateVerifier::builder()
            .jwks_url(format!("{}{JWKS_PATH}", keys.url()))
            .no_revocation()
            .jwks_max_age(Duration::ZERO)
            .min_jwks_refetch(Duration::ZERO)
            .build()
            .unwrap();
        let old_kid = server.mandate_kid();
        v.verify(&sign(&server, &claims(&server, "m_0")))
            .await
            .unwrap();
        // TapPass rotates and stops publishing the old key.
        server.rotate_signing_key();
        let jwks: Value = reqwest::get(server.jwks_url())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys.always(JWKS_PATH, Reply::ok(json!({"keys": [jwks["keys"][1]]})));
        // Requests go on with the cached key while a background refresh
        // learns that it is gone; fresh tokens, so no verification is cached.
        let mut n = 1;
        let refused = loop {
            let token = sign_as(&old_kid, &claims(&server, &format!("m_{n}")));
            match v.verify(&token).await {
                Ok(_) => tokio::task::yield_now().await,
                Err(e) => break e,
            }
            n += 1;
        };
        assert!(
            refused.to_string().contains("does not publish"),
            "{refused}"
        );
        assert!(keys.hits(JWKS_PATH) >= 2);
    })
    .await;
}

#[tokio::test]
async fn a_pinned_key_needs_no_key_server() {
    bounded(async {
        let server = default_server().await;
        let token = mandate_for(&server, "search").await;
        let pinned = MandateVerifier::builder()
            .public_key_pem(PUBLIC_PEM)
            .no_revocation()
            .build()
            .unwrap();
        assert!(pinned
            .verify(&token)
            .await
            .unwrap()
            .grants("tool:call:search"));
        let err = MandateVerifier::builder()
            .public_key_pem("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")
            .no_revocation()
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("P-256"), "{err}");
    })
    .await;
}

// ---- revocation ----------------------------------------------------------------

#[tokio::test]
async fn a_revocation_is_seen_within_the_refresh_interval() {
    bounded(async {
        let server = default_server().await;
        let v = verifier(&server)
            .revocation_refresh(Duration::from_millis(100))
            .build()
            .unwrap();
        let b = serve(service_b(v)).await;
        let token = mandate_for(&server, "search").await;
        assert_eq!(call(&b.url, Some(&token)).await.0, 200);
        let id = server.mandates()[0].mandate_id.clone();
        assert!(server.revoke_mandate(&id));
        // Wait on the condition (the background refresh), not on a clock.
        let mut answer = call(&b.url, Some(&token)).await;
        while answer.0 == 200 {
            tokio::task::yield_now().await;
            answer = call(&b.url, Some(&token)).await;
        }
        assert_refused(&answer, 403, "mandate_revoked", &token);
        assert!(!server.revoke_mandate("m_never_issued"));
    })
    .await;
}

#[tokio::test]
async fn a_revocation_list_past_its_staleness_fails_closed() {
    bounded(async {
        let server = default_server().await;
        let token = mandate_for(&server, "search").await;
        let list = TapPass::start().await;
        list.always("/v1/mandates/revoked", Reply::ok(json!({"revoked": []})));
        let v = MandateVerifier::builder()
            .jwks_url(server.jwks_url())
            .revocation_url(format!("{}/v1/mandates/revoked", list.url()))
            .api_key("tp_downstream")
            .revocation_refresh(Duration::from_millis(20))
            .max_revocation_staleness(Duration::from_millis(200))
            .build()
            .unwrap();
        let b = serve(service_b(v)).await;
        assert_eq!(call(&b.url, Some(&token)).await.0, 200);
        assert_eq!(
            list.requests_to("/v1/mandates/revoked")[0].header("authorization"),
            Some("Bearer tp_downstream")
        );
        list.always("/v1/mandates/revoked", Reply::status(503));
        let mut answer = call(&b.url, Some(&token)).await;
        while answer.0 == 200 {
            tokio::task::yield_now().await;
            answer = call(&b.url, Some(&token)).await;
        }
        assert_refused(&answer, 503, "governance_unavailable", &token);

        // Cold and down: nothing is accepted.
        let cold = MandateVerifier::builder()
            .jwks_url(server.jwks_url())
            .revocation_url(format!("{}/v1/mandates/revoked", list.url()))
            .api_key("tp_downstream")
            .build()
            .unwrap();
        let err = cold.verify(&token).await.unwrap_err();
        assert!(err.to_string().contains("unavailable"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn the_dev_server_lists_revocations_to_key_holders_only() {
    bounded(async {
        let server = default_server().await;
        mandate_for(&server, "search").await;
        let id = server.mandates()[0].mandate_id.clone();
        let client = reqwest::Client::new();
        let revoked = format!("{}/v1/mandates/revoked", server.url());
        assert_eq!(client.get(&revoked).send().await.unwrap().status(), 401);
        let revoke = client
            .post(format!("{}/v1/mandates/{id}/revoke", server.url()))
            .bearer_auth("tp_admin")
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), 200);
        let list: Value = client
            .get(&revoked)
            .bearer_auth("tp_admin")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list, json!({"revoked": [id]}));
        assert!(server.mandates()[0].revoked);
        let unknown = client
            .post(format!("{}/v1/mandates/m_nope/revoke", server.url()))
            .bearer_auth("tp_admin")
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);
    })
    .await;
}

// ---- capabilities ------------------------------------------------------------------

#[test]
fn capability_matching_table() {
    let table = [
        ("tool:call:search", "tool:call:search", true),
        ("tool:call:*", "tool:call:search", true),
        ("tool:*:search", "tool:call:search", true),
        ("*:*:*", "tool:call:search", true),
        ("tool:call:search", "tool:call:admin", false),
        ("tool:call:*", "tool:call:search:deep", false),
        ("tool:call:*", "tool:call", false),
        ("tool:*", "tool:call:search", false),
        ("*", "tool:call:search", false),
        ("tool:call:search:*", "tool:call:search", false),
        ("tool:call:sea*", "tool:call:search", false),
        ("TOOL:call:search", "tool:call:search", false),
        ("tool:call:", "tool:call:search", false),
        ("*", "*", true),
        // Empty segments never match, granted or required.
        ("tool:call:*", "tool:call:", false),
        ("tool:call:", "tool:call:", false),
        ("*:*:*", "::", false),
        ("", "", false),
        ("tool::search", "tool::search", false),
    ];
    for (granted, required, expected) in table {
        assert_eq!(
            Capability::new(granted).grants(required),
            expected,
            "{granted} grants {required}"
        );
    }
}

#[tokio::test]
async fn a_policy_rule_sets_the_capabilities_and_lifetime_of_its_mandates() {
    bounded(async {
        let policy = Policy::from_toml(
            r#"
            [[rule]]
            name = "any_tool"
            match.tool_regex = "^search"
            decision = "allow"
            capabilities = ["tool:call:*", "data:read:public"]
            mandate_ttl_seconds = 60
            "#,
        )
        .unwrap();
        let server = dev_server(policy).await;
        let token = mandate_for(&server, "search_web").await;
        let v = verifier(&server).build().unwrap();
        let mandate = v.verify(&token).await.unwrap();
        assert!(mandate.grants("tool:call:search"));
        assert!(mandate.grants("data:read:public"));
        assert!(!mandate.grants("data:write:public"));
        let exp = mandate.claims()["exp"].as_u64().unwrap();
        let iat = mandate.claims()["iat"].as_u64().unwrap();
        assert_eq!(exp - iat, 60);
        let b = serve(service_b(v)).await;
        assert_eq!(call(&b.url, Some(&token)).await.0, 200);

        let err = Policy::from_toml(
            r#"
            [[rule]]
            name = "bad"
            match.prompt_contains = "x"
            decision = "allow"
            capabilities = ["tool::x"]
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("applies to tool calls"), "{err}");
        assert!(err.contains("`tool::x`"), "{err}");
    })
    .await;
}

// ---- another language ------------------------------------------------------------------

/// Runs a Python snippet with `args`; fails the test when python3, PyJWT or
/// cryptography is missing (`.ci/run` installs them).
fn python(script: &str, args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed by this test (`.ci/run` expects it on the machine)");
    assert!(
        output.status.success(),
        "python3 failed (install the packages with `python3 -m pip install pyjwt cryptography`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn mandates_cross_to_pyjwt_and_back() {
    bounded(async {
        let server = default_server().await;
        let token = mandate_for(&server, "search").await;
        let id = server.mandates()[0].mandate_id.clone();

        // PyJWT verifies the dev server's mandate with the published JWK Set.
        let script = r#"
import json, sys, jwt
token, jwks_url, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["ES256"], issuer=issuer)
print(json.dumps(claims))
"#;
        let (jwks_url, issuer) = (server.jwks_url(), server.url());
        let out = tokio::task::spawn_blocking(move || {
            python(script, &[&token, &jwks_url, &issuer])
        })
        .await
        .unwrap();
        let claims: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(claims["mandate_id"], id);
        assert_eq!(claims["capabilities"], json!([{"id": "tool:call:search"}]));

        // A mandate PyJWT signs with a key of the JWK Set verifies here.
        let script = r#"
import sys, time, jwt
pem, kid, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
now = int(time.time())
print(jwt.encode({"mandate_id": "m_from_python", "capabilities": [{"id": "tool:call:search"}],
                  "iat": now, "exp": now + 120, "iss": issuer, "sub": "agt-py", "session_id": "ses_py"},
                 pem, algorithm="ES256", headers={"kid": kid}))
"#;
        let (kid, issuer) = (server.mandate_kid(), server.url());
        let from_python = tokio::task::spawn_blocking(move || {
            python(script, &[KEY_PEM, &kid, &issuer])
        })
        .await
        .unwrap();
        let b = serve(service_b(verifier(&server).build().unwrap())).await;
        let (status, body, _) = call(&b.url, Some(&from_python)).await;
        assert_eq!((status, body), (200, json!("m_from_python")));
    })
    .await;
}

// ---- configuration -----------------------------------------------------------------

#[test]
fn configuration_mistakes_say_what_to_do() {
    let both = MandateVerifier::builder()
        .jwks_url(format!("{}/.well-known/jwks.json", support::refused_url()))
        .public_key_pem(PUBLIC_PEM)
        .no_revocation()
        .build()
        .unwrap_err();
    assert!(both.to_string().contains("choose one"), "{both}");
    let url = MandateVerifier::builder()
        .jwks_url("ftp://keys")
        .no_revocation()
        .build()
        .unwrap_err();
    assert!(url.to_string().contains("absolute http(s)"), "{url}");
    let header = MandateVerifier::builder()
        .jwks_url(format!("{}/.well-known/jwks.json", support::refused_url()))
        .header("bad header")
        .no_revocation()
        .build()
        .unwrap_err();
    assert!(header.to_string().contains("header name"), "{header}");
    let v = MandateVerifier::builder()
        .jwks_url(format!("{}/.well-known/jwks.json", support::refused_url()))
        .no_revocation()
        .build()
        .unwrap();
    assert!(format!("{v:?}").contains("jwks_url"));
}

#[tokio::test]
async fn rejections_answer_problem_json_when_the_layer_asks() {
    bounded(async {
        let server = default_server().await;
        let app = service_b(verifier(&server).build().unwrap()).layer(
            tappass::TapPassLayer::builder()
                .tappass_url(server.url())
                .api_key("tp_b")
                .problem_json(true)
                .build()
                .unwrap(),
        );
        let b = serve(app).await;
        let other = mandate_for(&server, "send_email").await;
        let response = reqwest::Client::new()
            .post(format!("{}/search", b.url))
            .with_mandate(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "mandate_insufficient");
        assert_eq!(body["status"], 403);
        assert_eq!(body["required_capability"], "tool:call:search");
        assert!(!body.to_string().contains(&other));
    })
    .await;
}

#[cfg(feature = "utoipa")]
#[test]
fn rejections_have_an_openapi_schema() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_value(tappass::mandate::MandateRejection::schema()).unwrap();
    let text = schema.to_string();
    for code in [
        "mandate_missing",
        "mandate_invalid",
        "mandate_expired",
        "mandate_insufficient",
        "mandate_revoked",
    ] {
        assert!(text.contains(code), "{code} missing from {text}");
    }
    assert!(text.contains("required_capability") && text.contains("mandate_id"));
    // The reason for logs is not part of the body.
    assert!(!text.contains("\"reason\":{\"type\""), "{text}");
}

#[tokio::test]
async fn a_signing_key_that_is_not_p256_pkcs8_is_refused_clearly() {
    let err = DevServer::builder()
        .signing_key_pem(P384_PEM)
        .start()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("P-256 private key in PKCS#8 PEM"),
        "{err}"
    );
    let err = DevServer::builder()
        .signing_key_file("/nonexistent/key.pem")
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot read the signing key"),
        "{err}"
    );
    // The same key gives the same kid: its RFC 7638 thumbprint.
    let a = dev_server(Policy::allow_all()).await;
    let b = dev_server(Policy::allow_all()).await;
    assert_eq!(a.mandate_kid(), b.mandate_kid());
}

// ---- the example -------------------------------------------------------------------

#[path = "../examples/mandates.rs"]
#[allow(dead_code)] // its `main` is for `cargo run`
mod example;

#[tokio::test]
async fn the_example_refuses_a_missing_a_forged_and_a_revoked_mandate() {
    bounded(async {
        // The embedded dev server whatever the shell's TAPPASS_URL says.
        let demo = example::start_with(false).await.unwrap();
        let (through_a, cases) = demo.run().await.unwrap();
        assert_eq!(through_a["b_status"], 200, "{through_a}");
        assert_eq!(through_a["b_answered"]["service"], "B");
        let got: Vec<(&str, u16, Option<&str>)> = cases
            .iter()
            .map(|c| (c.name, c.status, c.error.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("missing", 403, Some("mandate_missing")),
                ("forged", 403, Some("mandate_invalid")),
                ("revoked", 403, Some("mandate_revoked")),
            ]
        );
    })
    .await;
}

// ---- the layer and the macro -------------------------------------------------------

#[tappass::governed(capability = "tool:call:search")]
async fn governed_search(mandate: Mandate, body: String) -> String {
    format!("{} {body}", mandate.id().unwrap_or("-"))
}

#[tappass::governed(auto_open_session = true, capability = "tool:call:search")]
async fn governed_opened(session: tappass::Session) -> String {
    session.id().to_owned()
}

/// Two capabilities, and a JSON body whose extractor would refuse a bad one
/// (`400`/`415`) if it ran before the mandate check.
#[tappass::governed(capability = "tool:call:search", capability = "tool:call:fetch")]
async fn governed_json(mandate: Mandate, axum::Json(body): axum::Json<Value>) -> String {
    format!("{} {body}", mandate.id().unwrap_or("-"))
}

async fn needs_agent(agent: Agent) -> String {
    agent.url().to_owned()
}

/// `POST {url}{path}` with `token` and `body`.
async fn post_with(
    url: &str,
    path: &str,
    token: Option<&str>,
    body: &'static str,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.with_mandate(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_layer_that_only_verifies_mandates_needs_no_api_key() {
    // The layer reads TAPPASS_API_KEY when no key is given; this test
    // process sets none.
    if std::env::var_os("TAPPASS_API_KEY").is_some() {
        return;
    }
    bounded(async {
        let server = default_server().await;
        let layer = tappass::TapPassLayer::builder()
            .mandates(verifier(&server).build().unwrap())
            .build()
            .unwrap();
        assert!(layer.agent().is_none());
        assert!(layer.mandates().is_some());
        let app = Router::new()
            .route("/search", post(governed_search))
            .route("/peek", get(peek))
            .route("/agent", get(needs_agent))
            .layer(layer);
        let b = serve(app).await;
        assert_refused(&call(&b.url, None).await, 403, "mandate_missing", "");
        let other = mandate_for(&server, "send_email").await;
        let insufficient = call(&b.url, Some(&other)).await;
        assert_refused(&insufficient, 403, "mandate_insufficient", &other);
        assert_eq!(insufficient.1["required_capability"], "tool:call:search");
        let token = mandate_for(&server, "search").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        let response = reqwest::Client::new()
            .post(format!("{}/search", b.url))
            .with_mandate(&token)
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), format!("{id} hello"));
        // The layer's verifier serves a plain `Option<Mandate>` extractor too.
        let peeked = reqwest::Client::new()
            .get(format!("{}/peek", b.url))
            .with_mandate(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(peeked.text().await.unwrap(), format!("some {id}"));
        // The layer has no agent to give: the clear 500 that says how.
        let agent = reqwest::get(format!("{}/agent", b.url)).await.unwrap();
        assert_eq!(agent.status(), 500);
        let body: Value = agent.json().await.unwrap();
        assert_eq!(body["error"], "governance_misconfigured");
        assert!(
            body["message"].as_str().unwrap().contains("API key"),
            "{body}"
        );

        // Opening sessions reports them, which needs a key.
        let err = tappass::TapPassLayer::builder()
            .mandates(verifier(&server).build().unwrap())
            .auto_open_session(true)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("needs an API key"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn capability_combines_with_auto_open_session() {
    bounded(async {
        let server = default_server().await;
        let layer = tappass::TapPassLayer::builder()
            .tappass_url(server.url())
            .api_key("tp_b")
            .mandates(verifier(&server).build().unwrap())
            .build()
            .unwrap();
        let app = Router::new()
            .route("/search", post(governed_opened))
            .layer(layer.clone());
        let b = serve(app).await;
        let missing = call(&b.url, None).await;
        assert_refused(&missing, 403, "mandate_missing", "");
        // Refused before the route resolves its session: none is opened.
        assert!(missing.2.get("x-tappass-session-id").is_none());
        let token = mandate_for(&server, "search").await;
        let response = reqwest::Client::new()
            .post(format!("{}/search", b.url))
            .with_mandate(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let opened = response.headers()["x-tappass-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(opened.starts_with("ses_"));
        assert_eq!(response.text().await.unwrap(), opened);
        layer.flush().await;
        let kinds: Vec<Value> = server
            .events_for_session(&opened)
            .iter()
            .map(|event| event["event_type"].clone())
            .collect();
        assert_eq!(kinds, [json!("session_open"), json!("session_close")]);
    })
    .await;
}

#[tokio::test]
async fn capability_is_checked_before_the_body_and_requires_every_capability() {
    bounded(async {
        let server = dev_server(
            Policy::from_toml(
                r#"
                [[rule]]
                name = "research"
                match.tool_regex = "^research$"
                decision = "allow"
                capabilities = ["tool:call:search", "tool:call:fetch"]
                "#,
            )
            .unwrap(),
        )
        .await;
        // Without the layer: the verifier from an `Extension`.
        let app = Router::new()
            .route("/json", post(governed_json))
            .layer(Extension(verifier(&server).build().unwrap()));
        let b = serve(app).await;
        // A body the `Json` extractor refuses, and no mandate: the mandate
        // check answers first.
        let response = post_with(&b.url, "/json", None, "{not json").await;
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "mandate_missing");
        // One of the two capabilities is not enough.
        let search_only = mandate_for(&server, "search").await;
        let response = post_with(&b.url, "/json", Some(&search_only), "{not json").await;
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "mandate_insufficient");
        assert_eq!(body["required_capability"], "tool:call:fetch");
        // Both: the body extractor runs, and refuses the bad body.
        let both = mandate_for(&server, "research").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        let response = post_with(&b.url, "/json", Some(&both), "{not json").await;
        assert_eq!(response.status(), 400);
        let response = post_with(&b.url, "/json", Some(&both), r#"{"q":1}"#).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), format!(r#"{id} {{"q":1}}"#));
    })
    .await;
}

#[tokio::test]
async fn require_mandate_from_extension_uses_the_layers_verifier() {
    bounded(async {
        let server = default_server().await;
        let layer = tappass::TapPassLayer::builder()
            .agent(agent(&server))
            .mandates(verifier(&server).build().unwrap())
            .build()
            .unwrap();
        let app = Router::new()
            .route(
                "/search",
                post(search)
                    .route_layer(RequireMandate::from_extension().capability("tool:call:search")),
            )
            .layer(layer);
        let b = serve(app).await;
        assert_refused(&call(&b.url, None).await, 403, "mandate_missing", "");
        let other = mandate_for(&server, "send_email").await;
        assert_refused(
            &call(&b.url, Some(&other)).await,
            403,
            "mandate_insufficient",
            &other,
        );
        let token = mandate_for(&server, "search").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        let granted = call(&b.url, Some(&token)).await;
        assert_eq!(granted.0, 200, "{}", granted.1);
        assert_eq!(granted.1, Value::String(id));
    })
    .await;
}

/// A router state that holds the verifier.
#[derive(Clone)]
struct WithVerifier {
    verifier: MandateVerifier,
    greeting: &'static str,
}

impl axum::extract::FromRef<WithVerifier> for MandateVerifier {
    fn from_ref(state: &WithVerifier) -> MandateVerifier {
        state.verifier.clone()
    }
}

#[tappass::governed(capability = "tool:call:search")]
async fn governed_with_state(
    axum::extract::State(state): axum::extract::State<WithVerifier>,
    mandate: Mandate,
) -> String {
    format!("{} {}", state.greeting, mandate.id().unwrap_or("-"))
}

/// A state without a verifier: the route falls back to the `Extension`.
#[tappass::governed(capability = "tool:call:search")]
async fn governed_with_other_state(
    axum::extract::State(greeting): axum::extract::State<&'static str>,
    mandate: Mandate,
) -> String {
    format!("{greeting} {}", mandate.id().unwrap_or("-"))
}

#[tokio::test]
async fn capability_finds_the_verifier_in_the_routers_state() {
    bounded(async {
        let server = default_server().await;
        let state = WithVerifier {
            verifier: verifier(&server).build().unwrap(),
            greeting: "hi",
        };
        let b = serve(
            Router::new()
                .route("/search", post(governed_with_state))
                .with_state(state),
        )
        .await;
        assert_refused(&call(&b.url, None).await, 403, "mandate_missing", "");
        let other = mandate_for(&server, "send_email").await;
        assert_refused(
            &call(&b.url, Some(&other)).await,
            403,
            "mandate_insufficient",
            &other,
        );
        let token = mandate_for(&server, "search").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        let granted = call(&b.url, Some(&token)).await;
        assert_eq!(granted.0, 200, "{}", granted.1);
        assert_eq!(granted.1, Value::String(format!("hi {id}")));

        // A state that holds none: the `Extension`'s; with neither, the 500.
        let with_extension = serve(
            Router::new()
                .route("/search", post(governed_with_other_state))
                .layer(Extension(verifier(&server).build().unwrap()))
                .with_state("hello"),
        )
        .await;
        let granted = call(&with_extension.url, Some(&token)).await;
        assert_eq!(granted.1, Value::String(format!("hello {id}")));
        let neither = serve(
            Router::new()
                .route("/search", post(governed_with_other_state))
                .with_state("hello"),
        )
        .await;
        let refused = call(&neither.url, Some(&token)).await;
        assert_eq!(refused.0, 500, "{}", refused.1);
        assert_eq!(refused.1["error"], "governance_misconfigured");
    })
    .await;
}

#[tokio::test]
async fn a_verdicts_debug_never_shows_its_mandate() {
    let server = default_server().await;
    let verdict = agent(&server)
        .govern_tool("search", json!({"q": "rust"}))
        .await
        .expect("the dev server allows it");
    let token = verdict.mandate().expect("an allow carries a mandate");
    assert!(token.len() > 100, "{token}");
    let debug = format!("{verdict:?}");
    assert!(!debug.contains(token), "{debug}");
    // Nor any of its three parts (header, claims, signature).
    for part in token.split('.') {
        assert!(!debug.contains(part), "{debug}");
    }
    assert!(
        debug.contains("\"mandate\": String(\"<redacted>\")"),
        "{debug}"
    );
    assert!(
        debug.contains(&verdict.behavior_id),
        "the rest is shown: {debug}"
    );
}
