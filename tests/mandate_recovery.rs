//! The mandate verifier recovers: from a runtime that ends under a shared
//! verifier, from a key or revocation server that fails at a cold start, and
//! from a flood of unknown `kid`s during a real rotation; it follows no
//! redirect to another origin, and a verifier that could never reach its
//! revocation list does not build.
//!
//! The key and revocation servers are scripted stand-ins (`tests/support`):
//! these tests need answers the dev server never gives (failures on cue,
//! redirects, a set that changes between two fetches). Tokens are signed here
//! with a fixed test key.

#![cfg(feature = "mandate")]

mod support;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::{bounded, Reply, TapPass};
use tappass::mandate::{MandateRejection, MandateVerifier};

/// The test key (P-256, PKCS#8) and its public half.
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgV8cWmpQNihQX0Q21
/TP4/lqRZlvWo5D2gK9tysL9uyyhRANCAAQDHjbBfCxeX8OBbUnyZ+FkBcN6AWD0
if2nuYbOz3GYBV3mlgTHvqr21pAeiCraXWKVoZs/V9ypO6G+TYqPCFC+
-----END PRIVATE KEY-----
";
const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAx42wXwsXl/DgW1J8mfhZAXDegFg
9In9p7mGzs9xmAVd5pYEx76q9taQHogq2l1ilaGbP1fcqTuhvk2KjwhQvg==
-----END PUBLIC KEY-----
";

const JWKS_PATH: &str = "/.well-known/jwks.json";
const REVOKED_PATH: &str = "/v1/mandates/revoked";

/// The test key as a JWK under `kid`.
fn jwk(kid: &str) -> Value {
    let der: String = PUBLIC_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(der).unwrap();
    // SPKI of a P-256 key ends in the uncompressed point 0x04 || x || y.
    let point = &der[der.len() - 65..];
    assert_eq!(point[0], 4);
    json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    })
}

/// A mandate `id` for `tool:call:search`, signed with the test key under `kid`.
fn token(kid: &str, id: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({
        "mandate_id": id, "capabilities": [{"id": "tool:call:search"}],
        "iat": now, "exp": now + 300, "sub": "agt-test", "session_id": "ses_test",
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ec_pem(KEY_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A stand-in that publishes the test key as `k1` and revokes nothing.
async fn keys_and_list() -> TapPass {
    let server = TapPass::start().await;
    server.always(JWKS_PATH, Reply::ok(json!({"keys": [jwk("k1")]})));
    server.always(REVOKED_PATH, Reply::ok(json!({"revoked": []})));
    server
}

fn verifier(server: &TapPass) -> tappass::mandate::MandateVerifierBuilder {
    MandateVerifier::builder()
        .jwks_url(format!("{}{JWKS_PATH}", server.url()))
        .api_key("tp_downstream")
}

fn code(rejection: &MandateRejection) -> String {
    use tappass::GovernanceError as _;
    rejection.code().to_owned()
}

/// A verifier built outside any runtime and used from two runtimes in turn,
/// the first of which ends (as `#[tokio::test]`s sharing a verifier do):
/// the second still sees a revocation, instead of a list that is never
/// refreshed again.
#[test]
fn a_verifier_shared_across_runtimes_keeps_refreshing_after_one_ends() {
    // The stand-in runs on a runtime of its own, alive for the whole test.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = servers.block_on(keys_and_list());
    let verifier = verifier(&server)
        .revocation_refresh(Duration::from_millis(20))
        .build()
        .unwrap();
    let mandate = token("k1", "m_shared");

    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    first.block_on(async {
        verifier.verify(&mandate).await.unwrap();
        // Past the refresh interval: this call starts a refresh on `first`.
        tokio::time::sleep(Duration::from_millis(30)).await;
        verifier.verify(&mandate).await.unwrap();
    });
    drop(first); // the refresh it started (if any) ends with it

    server.always(REVOKED_PATH, Reply::ok(json!({"revoked": ["m_shared"]})));
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = second.block_on(bounded(async {
        loop {
            match verifier.verify(&mandate).await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(rejection) => break rejection,
            }
        }
    }));
    assert_eq!(code(&refused), "mandate_revoked", "{refused}");
}

/// A revocation list that fails at a cold start: the request waits, the
/// verifier retries with backoff, and the mandate is accepted within 2 s of
/// the list answering (instead of every mandate being refused for a whole
/// refresh interval).
#[tokio::test]
async fn a_cold_start_failure_of_the_revocation_list_is_retried() {
    bounded(async {
        let server = keys_and_list().await;
        server.always(REVOKED_PATH, Reply::status(503));
        let verifier = verifier(&server)
            .cold_start_wait(Duration::from_secs(8))
            .build()
            .unwrap();
        let mandate = token("k1", "m_cold");
        let waiting = tokio::spawn({
            let verifier = verifier.clone();
            let mandate = mandate.clone();
            async move { verifier.verify(&mandate).await.map(|_| Instant::now()) }
        });
        // Let a few fetches fail, then bring the list up.
        while server.hits(REVOKED_PATH) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.always(REVOKED_PATH, Reply::ok(json!({"revoked": []})));
        let up = Instant::now();
        let accepted = waiting
            .await
            .unwrap()
            .expect("accepted once the list answers");
        assert!(
            accepted.duration_since(up) < Duration::from_secs(2),
            "accepted {:?} after the list came up",
            accepted.duration_since(up)
        );
    })
    .await;
}

/// The same for the JWK Set, and a cold start that never gets an answer is
/// a `503` after the wait, never a `403`.
#[tokio::test]
async fn a_cold_start_failure_of_the_key_server_is_retried() {
    bounded(async {
        let server = keys_and_list().await;
        server.always(JWKS_PATH, Reply::status(502));
        let verifier = verifier(&server)
            .no_revocation()
            .cold_start_wait(Duration::from_secs(8))
            .build()
            .unwrap();
        let mandate = token("k1", "m_cold_keys");
        let waiting = tokio::spawn({
            let verifier = verifier.clone();
            let mandate = mandate.clone();
            async move { verifier.verify(&mandate).await.map(|_| Instant::now()) }
        });
        while server.hits(JWKS_PATH) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.always(JWKS_PATH, Reply::ok(json!({"keys": [jwk("k1")]})));
        let up = Instant::now();
        let accepted = waiting
            .await
            .unwrap()
            .expect("accepted once the keys answer");
        assert!(accepted.duration_since(up) < Duration::from_secs(2));

        let down = keys_and_list().await;
        down.always(JWKS_PATH, Reply::status(503));
        let impatient = verifier_for(&down)
            .no_revocation()
            .cold_start_wait(Duration::from_millis(300))
            .build()
            .unwrap();
        let refused = impatient.verify(&mandate).await.unwrap_err();
        assert_eq!(code(&refused), "governance_unavailable", "{refused}");
        assert!(down.hits(JWKS_PATH) >= 2, "it retried within the wait");
    })
    .await;
}

fn verifier_for(server: &TapPass) -> tappass::mandate::MandateVerifierBuilder {
    verifier(server)
}

/// A flood of tokens naming random `kid`s right after a fetch cannot make a
/// genuinely rotated key look forged: while the flood guard holds the next
/// fetch back, the rotated key is `503` (it cannot be told yet), never `403`,
/// and the next fetch brings it in. A `kid` that a later fetch confirmed
/// absent is `403` at once, without fetching again.
#[tokio::test]
async fn a_kid_flood_during_a_rotation_is_never_refused_as_forged() {
    bounded(async {
        let server = keys_and_list().await;
        // Long enough that the flood and the rotated token surely arrive
        // inside it, on a loaded machine too; the tokens are signed first.
        let window = Duration::from_secs(4);
        let verifier = verifier(&server)
            .no_revocation()
            .min_jwks_refetch(window)
            .build()
            .unwrap();
        let flood: Vec<String> = (0..200)
            .map(|i| token(&format!("random-{i}"), "m_x"))
            .collect();
        let rotated_token = token("k2", "m_rotated");
        verifier.verify(&token("k1", "m_warm")).await.unwrap();
        let fetched = Instant::now();
        assert_eq!(server.hits(JWKS_PATH), 1);

        // The flood, and TapPass publishing a second key meanwhile.
        let flood = flood.iter().map(|t| {
            let verifier = verifier.clone();
            async move { verifier.verify(t).await }
        });
        let flooded = futures_util::future::join_all(flood).await;
        server.always(
            JWKS_PATH,
            Reply::ok(json!({"keys": [jwk("k1"), jwk("k2")]})),
        );
        let rotated = verifier.verify(&rotated_token).await;
        assert!(
            fetched.elapsed() < window,
            "the machine was too slow to test inside the window"
        );
        for result in flooded.iter().chain([&rotated]) {
            let refused = result.as_ref().unwrap_err();
            assert_eq!(code(refused), "governance_unavailable", "{refused}");
        }
        assert_eq!(server.hits(JWKS_PATH), 1, "the flood fetched nothing");

        // Once the guard lets a fetch through, the rotated key verifies.
        tokio::time::sleep(window.saturating_sub(fetched.elapsed())).await;
        verifier.verify(&rotated_token).await.unwrap();
        assert_eq!(server.hits(JWKS_PATH), 2);
    })
    .await;
}

/// A `kid` that a fetch made after it arrived did not hold is forged: `403`,
/// and remembered as absent, so asking again fetches nothing more.
#[tokio::test]
async fn a_kid_the_fresh_set_lacks_is_forged_once_fetched_for() {
    bounded(async {
        let server = keys_and_list().await;
        let verifier = verifier(&server)
            .no_revocation()
            .min_jwks_refetch(Duration::ZERO)
            .build()
            .unwrap();
        verifier.verify(&token("k1", "m_warm")).await.unwrap();
        for _ in 0..3 {
            let refused = verifier
                .verify(&token("forged", "m_forged"))
                .await
                .unwrap_err();
            assert_eq!(code(&refused), "mandate_invalid", "{refused}");
            assert!(
                refused.to_string().contains("does not publish"),
                "{refused}"
            );
        }
        assert_eq!(
            server.hits(JWKS_PATH),
            2,
            "one fetch for the forged kid, then none"
        );
    })
    .await;
}

/// Key and revocation fetches follow a redirect to the same origin only:
/// a server cannot send the verifier to another host.
#[tokio::test]
async fn fetches_follow_no_redirect_to_another_origin() {
    bounded(async {
        let elsewhere = keys_and_list().await;
        let redirecting = TapPass::start().await;
        redirecting.always(
            JWKS_PATH,
            Reply::status(302).header("location", format!("{}{JWKS_PATH}", elsewhere.url())),
        );
        let verifier = verifier(&redirecting)
            .no_revocation()
            .cold_start_wait(Duration::ZERO)
            .build()
            .unwrap();
        let refused = verifier
            .verify(&token("k1", "m_redirect"))
            .await
            .unwrap_err();
        assert_eq!(code(&refused), "governance_unavailable", "{refused}");
        assert_eq!(elsewhere.hits(JWKS_PATH), 0, "it followed the redirect");

        redirecting.always(
            REVOKED_PATH,
            Reply::status(307).header("location", format!("{}{REVOKED_PATH}", elsewhere.url())),
        );
        redirecting.always(
            JWKS_PATH,
            Reply::status(301).header("location", format!("{}/keys/current", redirecting.url())),
        );
        redirecting.always("/keys/current", Reply::ok(json!({"keys": [jwk("k1")]})));
        let same_origin = MandateVerifier::builder()
            .jwks_url(format!("{}{JWKS_PATH}", redirecting.url()))
            .revocation_url(format!("{}{REVOKED_PATH}", redirecting.url()))
            .api_key("tp_downstream")
            .cold_start_wait(Duration::ZERO)
            .build()
            .unwrap();
        // The keys come through a same-origin redirect; the list does not.
        let refused = same_origin
            .verify(&token("k1", "m_redirect"))
            .await
            .unwrap_err();
        assert_eq!(code(&refused), "governance_unavailable", "{refused}");
        assert!(refused.to_string().contains("revoked"), "{refused}");
        assert_eq!(redirecting.hits("/keys/current"), 1);
        assert_eq!(elsewhere.hits(REVOKED_PATH), 0);
    })
    .await;
}

/// Without `TAPPASS_URL` or `.revocation_url(..)`, the list is read beside
/// the JWK Set the verifier was given; a JWK Set elsewhere than its
/// well-known path is a configuration error naming the setting.
#[tokio::test]
async fn the_revocation_list_defaults_beside_the_jwk_set() {
    bounded(async {
        let server = keys_and_list().await;
        let verifier = verifier(&server).build().unwrap();
        verifier.verify(&token("k1", "m_beside")).await.unwrap();
        assert_eq!(server.hits(REVOKED_PATH), 1);
        assert_eq!(
            server.requests_to(REVOKED_PATH)[0].header("authorization"),
            Some("Bearer tp_downstream")
        );

        let elsewhere = MandateVerifier::builder()
            .jwks_url(format!("{}/keys.json", server.url()))
            .api_key("tp_downstream")
            .build()
            .unwrap_err();
        let message = elsewhere.to_string();
        assert!(message.contains(".revocation_url("), "{message}");
        assert!(message.contains(".no_revocation()"), "{message}");
    })
    .await;
}

// ---- the edges of verification --------------------------------------------------

/// A token over `claims` as they are, signed with the test key as `k1`.
fn signed(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(KEY_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn claims_with(id: &str, extra: Value) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "mandate_id": id, "capabilities": [{"id": "tool:call:search"}],
        "iat": now, "exp": now + 300, "sub": "agt-test", "session_id": "ses_test",
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

/// The 8 KiB bound, both ways: a token of exactly 8,192 bytes is verified,
/// one byte more is refused before it is parsed.
#[tokio::test]
async fn a_token_of_exactly_8_kib_is_read_and_one_byte_more_is_not() {
    bounded(async {
        let server = keys_and_list().await;
        let verifier = verifier(&server).no_revocation().build().unwrap();
        assert_eq!(tappass::mandate::MAX_TOKEN_BYTES, 8 * 1024);
        // Pad a claim, and the header's `cty`, until the token is exactly
        // 8 KiB: base64 cannot hit every length from the payload alone.
        let sign = |cty: usize, pad: usize| {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some("k1".to_owned());
            header.cty = (cty > 0).then(|| "c".repeat(cty));
            jsonwebtoken::encode(
                &header,
                &claims_with("m_8k", json!({"pad": "x".repeat(pad)})),
                &EncodingKey::from_ec_pem(KEY_PEM.as_bytes()).unwrap(),
            )
            .unwrap()
        };
        let exact = (0..4)
            .find_map(|cty| {
                let bare = sign(cty, 0);
                let parts: Vec<&str> = bare.split('.').collect();
                let payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap().len();
                let wanted = 8 * 1024 - parts[0].len() - parts[2].len() - 2;
                // base64 of n bytes, unpadded, is ceil(4n / 3) characters.
                let n = (payload..payload + 8000).find(|n| (4 * n).div_ceil(3) == wanted)?;
                Some(sign(cty, n - payload))
            })
            .expect("some pad gives exactly 8 KiB");
        assert_eq!(exact.len(), 8 * 1024);
        verifier.verify(&exact).await.expect("8 KiB is read");
        let over = format!("{exact}A");
        let refused = verifier.verify(&over).await.unwrap_err();
        assert!(refused.to_string().contains("over 8 KiB"), "{refused}");
    })
    .await;
}

/// `leeway` is honoured: a token that expired 3 s ago verifies with a
/// leeway of 10 s and not with none; the same for `nbf` in the future.
#[tokio::test]
async fn the_leeway_is_honoured_on_exp_and_nbf() {
    bounded(async {
        let server = keys_and_list().await;
        let now = jsonwebtoken::get_current_timestamp();
        let expired = signed(&claims_with("m_late", json!({"exp": now - 3})));
        let early = signed(&claims_with("m_early", json!({"nbf": now + 3})));
        let lenient = verifier(&server)
            .no_revocation()
            .leeway(Duration::from_secs(10))
            .build()
            .unwrap();
        lenient.verify(&expired).await.expect("within the leeway");
        lenient.verify(&early).await.expect("within the leeway");
        let strict = verifier(&server)
            .no_revocation()
            .leeway(Duration::ZERO)
            .build()
            .unwrap();
        for token in [&expired, &early] {
            let refused = strict.verify(token).await.unwrap_err();
            assert_eq!(code(&refused), "mandate_expired", "{refused}");
        }
    })
    .await;
}

/// A verified token is remembered until its `exp` (plus leeway), and no
/// longer: it is served again without a signature check (a key withdrawn
/// after it was verified does not touch it), and refused once it expires.
#[tokio::test]
async fn a_remembered_mandate_is_served_until_it_expires_and_not_after() {
    bounded(async {
        let server = keys_and_list().await;
        let verifier = verifier(&server)
            .no_revocation()
            .leeway(Duration::ZERO)
            .jwks_max_age(Duration::ZERO)
            .min_jwks_refetch(Duration::ZERO)
            .build()
            .unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let short = signed(&claims_with("m_short", json!({"exp": now + 2})));
        verifier.verify(&short).await.unwrap();
        // TapPass withdraws the key; a fresh token under it stops verifying
        // once the set is fetched again.
        server.always(JWKS_PATH, Reply::ok(json!({"keys": [jwk("k2")]})));
        let mut n = 0;
        let refused = loop {
            // A fresh token each time: a verified one would be remembered.
            n += 1;
            let fresh = signed(&claims_with(&format!("m_fresh_{n}"), json!({})));
            match verifier.verify(&fresh).await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(rejection) => break rejection,
            }
        };
        assert_eq!(code(&refused), "mandate_invalid", "{refused}");
        // The remembered token is served from memory, key or no key...
        verifier.verify(&short).await.expect("remembered until exp");
        // ...until its `exp` has passed: then it is refused, not served.
        while jsonwebtoken::get_current_timestamp() <= now + 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let refused = verifier.verify(&short).await.unwrap_err();
        assert!(
            matches!(
                code(&refused).as_str(),
                "mandate_expired" | "mandate_invalid"
            ),
            "{refused}"
        );
    })
    .await;
}

/// Each way a token fails verification has its own message, so a service's
/// logs say what was wrong (the client gets the same code, `mandate_invalid`
/// or `mandate_expired`).
#[tokio::test]
async fn each_rejection_says_what_was_wrong() {
    bounded(async {
        let server = keys_and_list().await;
        let verifier = verifier(&server)
            .no_revocation()
            .audience("svc-b")
            .issuer("https://tappass.example.com")
            .leeway(Duration::ZERO)
            .build()
            .unwrap();
        let good = json!({"aud": "svc-b", "iss": "https://tappass.example.com"});
        let with = |extra: Value| {
            let mut claims = claims_with("m_edge", good.clone());
            for (k, v) in extra.as_object().unwrap() {
                claims[k] = v.clone();
            }
            claims
        };
        verifier.verify(&signed(&with(json!({})))).await.unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let mut no_aud = with(json!({}));
        no_aud.as_object_mut().unwrap().remove("aud");
        // Another signature of the right length: a character in its middle
        // changed (the last one's spare bits would make it malformed instead).
        let good_token = signed(&with(json!({})));
        let at = good_token.rfind('.').unwrap() + 20;
        let mut tampered = good_token.clone();
        let swapped = if &good_token[at..=at] == "A" {
            "B"
        } else {
            "A"
        };
        tampered.replace_range(at..=at, swapped);
        let cases = [
            (
                signed(&with(json!({"aud": "svc-c"}))),
                "mandate_invalid",
                "another audience",
            ),
            (
                signed(&with(json!({"iss": "https://evil.example"}))),
                "mandate_invalid",
                "another issuer",
            ),
            (signed(&no_aud), "mandate_invalid", "lacks a required claim"),
            (tampered, "mandate_invalid", "signature does not verify"),
            (
                signed(&with(json!({"exp": now - 60}))),
                "mandate_expired",
                "expired",
            ),
            ("not.a.jwt".to_owned(), "mandate_invalid", "not a JWS"),
            (
                signed(&with(json!({"capabilities": "all"}))),
                "mandate_invalid",
                "not a mandate",
            ),
        ];
        for (token, expected, says) in cases {
            let refused = verifier.verify(&token).await.unwrap_err();
            assert_eq!(code(&refused), expected, "{refused}");
            assert!(
                refused.to_string().contains(says),
                "{refused} should say {says}"
            );
        }
    })
    .await;
}
