//! Every rejection code, never echoing the token; the attacks a verifier
//! must survive: `alg: none`, HS256 keyed with the public key, another
//! algorithm or key under the same `kid`, a rewritten payload; audience and
//! issuer.

use super::*;

#[tokio::test]
async fn every_rejection_has_its_code_and_never_echoes_the_token() {
    bounded(async {
        let server = default_server().await;
        let b = serve(service_b(verifier(&server).build().unwrap())).await;

        let missing = call(b.url(), None).await;
        assert_refused(&missing, 403, "mandate_missing", "");
        assert_eq!(missing.1["header"], "x-tappass-mandate");

        let garbage = "eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln";
        assert_refused(
            &call(b.url(), Some(garbage)).await,
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
            &call(b.url(), Some(&expired)).await,
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
            &call(b.url(), Some(&early)).await,
            403,
            "mandate_expired",
            &early,
        );

        let other = mandate_for(&server, "send_email").await;
        let insufficient = call(b.url(), Some(&other)).await;
        assert_refused(&insufficient, 403, "mandate_insufficient", &other);
        assert_eq!(insufficient.1["required_capability"], "tool:call:search");

        let token = mandate_for(&server, "search").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        assert!(server.revoke_mandate(&id));
        // A fresh verifier's first fill already holds the revocation.
        let fresh = serve(service_b(verifier(&server).build().unwrap())).await;
        let revoked = call(fresh.url(), Some(&token)).await;
        assert_refused(&revoked, 403, "mandate_revoked", &token);
        assert_eq!(revoked.1["mandate_id"], id);

        // Revocation on: a mandate without an id cannot be checked, so it is refused.
        let mut no_id = claims(&server, "x");
        no_id.as_object_mut().unwrap().remove("mandate_id");
        let no_id = sign(&server, &no_id);
        assert_refused(
            &call(b.url(), Some(&no_id)).await,
            403,
            "mandate_invalid",
            &no_id,
        );

        // Over 8 KiB: refused before parsing.
        let huge = format!("{}.{}.sig", b64(&json!({"alg": "ES256"})), "A".repeat(9000));
        assert_refused(
            &call(b.url(), Some(&huge)).await,
            403,
            "mandate_invalid",
            &huge,
        );
    })
    .await;
}

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
            &call(b.url(), Some(&none)).await,
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
            assert_refused(&call(b.url(), Some(&hs)).await, 403, "mandate_invalid", &hs);
        }

        // ES384 with another key under the same kid.
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(kid.clone());
        let key = EncodingKey::from_ec_pem(P384_PEM.as_bytes()).unwrap();
        let es384 = jsonwebtoken::encode(&header, &body, &key).unwrap();
        assert_refused(
            &call(b.url(), Some(&es384)).await,
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
            &call(b.url(), Some(&tampered)).await,
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
            &call(b.url(), Some(&foreign)).await,
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
