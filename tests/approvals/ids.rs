//! Approval ids in URL paths stay one segment, whatever they hold; ids a
//! URL would resolve to another route are refused before anything is sent.

use proptest::prelude::*;

use super::*;

/// A server with the approval routes, which records the id its router
/// extracted (percent-decoded) from the one path segment.
async fn approvals_server() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tokio::task::JoinHandle<()>,
) {
    use axum::extract::{Path, State};
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    async fn row(
        State(seen): State<Arc<Mutex<Vec<String>>>>,
        Path(id): Path<String>,
    ) -> axum::Json<Value> {
        seen.lock().unwrap().push(id.clone());
        axum::Json(json!({"request_id": id, "state": "approved"}))
    }
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(|| async { axum::Json(json!({"version": "0.6.3"})) }),
        )
        .route("/v1/me/approvals/{id}", axum::routing::get(row))
        .route("/v1/me/approvals/{id}/wait", axum::routing::get(row))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (url, seen, task)
}

/// Any id (slashes, `%`, `?`, `#`, dots, spaces, non-ASCII, controls) reaches
/// the server as exactly one path segment that decodes to the whole id.
#[test]
fn any_approval_id_is_exactly_one_path_segment() {
    let runtime = runtime();
    let (url, seen, _task) = runtime.block_on(approvals_server());
    let agent = agent(&url);
    let check = |id: &str| {
        seen.lock().unwrap().clear();
        let approval = runtime
            .block_on(bounded(agent.approval(id)))
            .unwrap_or_else(|err| panic!("{id:?}: {err}"));
        assert_eq!(approval.state, tappass::agent::ApprovalState::Approved);
        let waited = runtime
            .block_on(bounded(agent.wait_for_approval(id, Duration::from_secs(1))))
            .unwrap_or_else(|err| panic!("{id:?}: {err}"));
        assert_eq!(waited.request_id, id);
        assert_eq!(*seen.lock().unwrap(), [id, id], "the server saw another id");
    };
    for id in [
        "a/b", "../admin", "%2e%2e", "..%2F..", "a?b#c", "a b", ".x", "x..", "...", "é✓", "apr_1",
    ] {
        check(id);
    }
    proptest!(ProptestConfig::with_cases(64), |(id in any::<String>())| {
        prop_assume!(!matches!(id.as_str(), "" | "." | ".."));
        check(&id);
    });
}

/// Ids a URL would resolve to another route are refused with a clear error,
/// and nothing is sent.
#[tokio::test]
async fn empty_dot_and_dot_dot_ids_are_refused_before_sending() {
    bounded(async {
        let tappass = TapPass::start().await;
        let agent = agent(tappass.url());
        for id in ["", ".", ".."] {
            let err = agent.approval(id).await.expect_err("refused");
            assert!(matches!(err, Error::Config(_)), "{id:?}: {err:?}");
            assert!(
                err.to_string().contains("cannot be put in a URL path"),
                "{err}"
            );
            let err = agent
                .wait_for_approval(id, Duration::from_secs(1))
                .await
                .expect_err("refused");
            assert!(matches!(err, Error::Config(_)), "{id:?}: {err:?}");
        }
        assert!(tappass.requests().is_empty(), "{:?}", tappass.requests());
    })
    .await
}

/// The default approval link of a `needs_approval` verdict names the id as
/// one segment too.
#[tokio::test]
async fn the_default_approval_url_encodes_the_id() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "needs_approval", "reason": "ask", "approval": {"request_id": "a/../b?c"}})),
        );
        let err = agent(tappass.url())
            .govern_tool("t", json!({}))
            .await
            .expect_err("an approval decision");
        let Some(tappass::GovernanceDecision::ApprovalRequired(approval)) = err.decision() else {
            panic!("{err:?}");
        };
        assert_eq!(
            approval.approval_url.as_deref(),
            Some(format!("{}/v1/me/approvals/a%2F..%2Fb%3Fc", tappass.url()).as_str())
        );
        assert_eq!(approval.resume_token.as_deref(), Some("a/../b?c"));
    })
    .await
}
