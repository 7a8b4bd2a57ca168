//! Keys: fetched once, re-fetched once for an unknown `kid` and never in a
//! flood; a key server down cold fails closed and warm keeps verifying; a
//! withdrawn key stops being trusted; a pinned key; the dev server's signing
//! key; configuration mistakes that say what to do.

use super::*;

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
        assert_eq!(call(b.url(), Some(&first)).await.0, 200);

        let new_kid = server.rotate_signing_key();
        assert_ne!(new_kid, server.url());
        let rotated = mandate_for(&server, "search").await;
        let header: Value =
            serde_json::from_slice(&B64.decode(rotated.split('.').next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(header["kid"], new_kid);
        // The verifier did not know the new kid: it re-fetched and accepts it.
        assert_eq!(call(b.url(), Some(&rotated)).await.0, 200);
        // The old key is still published: the first mandate still verifies.
        assert_eq!(call(b.url(), Some(&first)).await.0, 200);
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
                .post(format!("{}/search", b.url()))
                .with_mandate(&tokens[i % tokens.len()]);
            async move { request.send().await.unwrap().status().as_u16() }
        });
        let statuses = futures_util::future::join_all(calls).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        assert_eq!(keys.hits(JWKS_PATH), 1);

        // A flood of random kids within the re-fetch interval of that fetch:
        // every one is refused, none fetches. None is called forged (403):
        // until the next fetch, any of them could be a rotation
        // (`recovery.rs` has the rotation).
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
            &call(b.url(), Some(&token)).await,
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
        assert_eq!(call(b.url(), Some(&token)).await.0, 200);
        keys.always(JWKS_PATH, Reply::status(503));
        let another = mandate_for(&server, "search").await;
        assert_eq!(call(b.url(), Some(&another)).await.0, 200);
        // A key it never saw while the server is down: it cannot tell, so 503.
        server.rotate_signing_key();
        let rotated = mandate_for(&server, "search").await;
        assert_refused(
            &call(b.url(), Some(&rotated)).await,
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

#[test]
fn configuration_mistakes_say_what_to_do() {
    let both = MandateVerifier::builder()
        .jwks_url(format!(
            "{}/.well-known/jwks.json",
            crate::support::sockets::refused_url()
        ))
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
        .jwks_url(format!(
            "{}/.well-known/jwks.json",
            crate::support::sockets::refused_url()
        ))
        .header("bad header")
        .no_revocation()
        .build()
        .unwrap_err();
    assert!(header.to_string().contains("header name"), "{header}");
    let v = MandateVerifier::builder()
        .jwks_url(format!(
            "{}/.well-known/jwks.json",
            crate::support::sockets::refused_url()
        ))
        .no_revocation()
        .build()
        .unwrap();
    assert!(format!("{v:?}").contains("jwks_url"));
}
