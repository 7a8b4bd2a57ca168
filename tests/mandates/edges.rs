//! The edges of verification: the 8 KiB bound both ways, leeway on `exp`
//! and `nbf`, a remembered token served until it expires and refused after,
//! and a message per rejection; against the stand-in's key set
//! (`keyset.rs`).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::keyset::*;
use super::{JWKS_PATH, KEY_PEM};
use crate::support::bounded;
use crate::support::stand_in::Reply;

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
        // One character of the signature changed: its first, which carries
        // six bits of it. (The last carries two bits and four of padding: a
        // change there can leave the signature as it was, or make the token
        // malformed, depending on the random signature.)
        let mut tampered = signed(&with(json!({})));
        let at = tampered.rfind('.').unwrap() + 1;
        let first = &tampered[at..at + 1];
        let other = if first == "A" { "B" } else { "A" };
        tampered.replace_range(at..at + 1, other);
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

/// A key TapPass publishes whose coordinates are no point of P-256 (the
/// right lengths, the wrong numbers) verifies nothing, and the rejection
/// says so rather than calling the token malformed.
#[tokio::test]
async fn a_published_key_off_the_curve_is_named_as_such() {
    bounded(async {
        let server = keys_and_list().await;
        let mut off = jwk("k_off");
        off["y"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
        server.always(JWKS_PATH, Reply::ok(json!({"keys": [jwk("k1"), off]})));
        let verifier = verifier(&server).no_revocation().build().unwrap();
        verifier.verify(&token("k1", "m_on")).await.unwrap();
        let refused = verifier.verify(&token("k_off", "m_off")).await.unwrap_err();
        assert_eq!(code(&refused), "mandate_invalid", "{refused}");
        assert!(refused.to_string().contains("not a P-256 key"), "{refused}");
    })
    .await;
}
