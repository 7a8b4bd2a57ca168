//! The modes' edges: what `fail_open_cached` reuses (the same tool,
//! arguments and session, never its mandate), the cap of degraded calls of
//! one outage, and `X-TapPass-Degraded` on a `#[governed]` route without the
//! layer and for work spawned in the request's session.

use std::time::Duration;

use axum::routing::post;
use axum::{Extension, Router};
use serde_json::json;
use tappass::resilience::{DegradedReason, Resilience};
use tappass::{Agent, Session};
use tappass_dev::DevServer;

use super::support::bounded;
use super::support::services::serve;
use super::{resilient_agent, MS};

fn in_session<F: std::future::Future>(
    id: &str,
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    tappass::session::scope(Session::builder(id).build().unwrap(), future)
}

#[tokio::test]
async fn a_cached_allow_is_the_same_tool_arguments_and_session_without_its_mandate() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let agent = resilient_agent(
            &dev.url(),
            Resilience::fail_open_cached(Duration::from_secs(60)).failure_threshold(1),
            None,
        );
        let args = json!({"q": "revenue", "page": 1});
        let allowed = in_session("ses_cache_a", agent.govern_tool("search", args.clone()))
            .await
            .unwrap();
        assert!(allowed.mandate().is_some());
        dev.set_available(false);

        // Keys in another order are the same arguments.
        let reused = in_session(
            "ses_cache_a",
            agent.govern_tool("search", json!({"page": 1, "q": "revenue"})),
        )
        .await
        .expect("the last allow of the same call");
        assert!(matches!(
            reused.degraded(),
            Some(DegradedReason::Cached { .. })
        ));
        assert_eq!(reused.reason, allowed.reason);
        assert_eq!(reused.mandate(), None, "a mandate is never reused");

        let other_args = in_session(
            "ses_cache_a",
            agent.govern_tool("search", json!({"q": "x"})),
        )
        .await;
        assert!(
            other_args.unwrap_err().is_unavailable(),
            "other arguments: fail closed"
        );
        let other_session =
            in_session("ses_cache_b", agent.govern_tool("search", args.clone())).await;
        assert!(
            other_session.unwrap_err().is_unavailable(),
            "another session: fail closed"
        );
        let never_seen = in_session("ses_cache_a", agent.chat("hello")).await;
        assert!(never_seen.unwrap_err().is_unavailable());
    })
    .await;
}

#[tokio::test]
async fn the_cap_of_degraded_calls_fails_the_rest_closed_until_tappass_answers() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let agent = resilient_agent(
            &dev.url(),
            Resilience::fail_open_logged()
                .max_degraded_calls(5)
                .failure_threshold(100),
            None,
        );
        dev.set_available(false);
        for _ in 0..5 {
            assert_eq!(
                agent.chat("hello").await.unwrap().degraded(),
                Some(DegradedReason::Ungoverned)
            );
        }
        for _ in 0..3 {
            assert!(
                agent.chat("hello").await.unwrap_err().is_unavailable(),
                "past the cap"
            );
        }
        dev.set_available(true);
        assert_eq!(agent.chat("hello").await.unwrap().degraded(), None);
        dev.set_available(false);
        assert!(
            agent.chat("hello").await.unwrap().degraded().is_some(),
            "a new outage, a new count"
        );
    })
    .await;
}

#[tappass::governed]
async fn governed_chat(agent: Agent) -> Result<String, tappass::Error> {
    Ok(agent.chat("hello").await?.content)
}

async fn spawned_chat(agent: Agent) -> Result<String, tappass::Error> {
    let session = tappass::current_session().expect("the layer's session");
    let work = tokio::spawn(tappass::session::scope(session, async move {
        agent.chat("hello").await.map(|answer| answer.content)
    }));
    work.await.expect("joined")
}

#[tokio::test]
async fn the_header_marks_a_governed_route_without_the_layer_and_spawned_work() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let agent = resilient_agent(&dev.url(), Resilience::fail_open_logged(), None);
        dev.set_available(false);
        let layer = tappass::TapPassLayer::builder()
            .agent(agent.clone())
            .auto_open_session(true)
            .build()
            .unwrap();
        let spawning = agent.clone();
        let app = Router::new()
            .route("/governed", post(governed_chat))
            .layer(Extension(agent.clone()))
            .merge(
                Router::new()
                    .route("/spawned", post(move || spawned_chat(spawning.clone())))
                    .layer(layer),
            );
        let served = serve(app).await;
        for path in ["/governed", "/spawned"] {
            let response = served
                .client()
                .post(format!("{}{path}", served.url()))
                .timeout(5000 * MS)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(
                response.headers()["x-tappass-degraded"],
                "ungoverned",
                "{path}"
            );
        }
    })
    .await;
}
