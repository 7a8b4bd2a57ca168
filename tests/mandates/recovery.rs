//! The mandate verifier recovers: from a runtime that ends under a shared
//! verifier, from a key or revocation server that fails at a cold start, and
//! from a flood of unknown `kid`s during a real rotation; it follows no
//! redirect to another origin, and a verifier that could never reach its
//! revocation list does not build.
//!
//! The key and revocation servers are scripted stand-ins (`keyset.rs`): these
//! tests need answers the dev server never gives (failures on cue,
//! redirects, a set that changes between two fetches).

use std::time::{Duration, Instant};

use serde_json::json;
use tappass::mandate::MandateVerifier;

use super::keyset::*;
use super::{JWKS_PATH, REVOKED_PATH};
use crate::support::bounded;
use crate::support::stand_in::{Reply, TapPass};

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
        let impatient = self::verifier(&down)
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
