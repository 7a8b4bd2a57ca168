//! Revocation: a revoked mandate is refused within the refresh interval, a
//! list past its staleness fails closed, and the dev server lists
//! revocations to key holders only.

use super::*;

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
        assert_eq!(call(b.url(), Some(&token)).await.0, 200);
        let id = server.mandates()[0].mandate_id.clone();
        assert!(server.revoke_mandate(&id));
        // Wait on the condition (the background refresh), not on a clock.
        let mut answer = call(b.url(), Some(&token)).await;
        while answer.0 == 200 {
            tokio::task::yield_now().await;
            answer = call(b.url(), Some(&token)).await;
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
        assert_eq!(call(b.url(), Some(&token)).await.0, 200);
        assert_eq!(
            list.requests_to("/v1/mandates/revoked")[0].header("authorization"),
            Some("Bearer tp_downstream")
        );
        list.always("/v1/mandates/revoked", Reply::status(503));
        let mut answer = call(b.url(), Some(&token)).await;
        while answer.0 == 200 {
            tokio::task::yield_now().await;
            answer = call(b.url(), Some(&token)).await;
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
