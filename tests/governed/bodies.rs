//! The handler's body: `?` and `return` leave with the handler's own type,
//! an error response carries the correlation, a streamed body is polled
//! inside the session, concurrent requests keep their own.

use super::*;

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("the prompt is empty")]
    #[governance(status = 422)]
    EmptyPrompt,

    #[error(transparent)]
    #[governance(transparent)]
    TapPass(#[from] tappass::Error),
}

// `tappass::Error` is large; its size is the runtime's business, not this test's.
#[allow(clippy::result_large_err)]
fn upstream(prompt: &str) -> Result<String, tappass::Error> {
    if prompt == "protocol" {
        return Err(tappass::Error::Protocol("garbled".into()));
    }
    Ok(prompt.to_uppercase())
}

#[tappass::governed]
async fn shout(prompt: String) -> Result<String, ChatError> {
    if prompt.is_empty() {
        return Err(ChatError::EmptyPrompt);
    }
    let loud = upstream(&prompt)?;
    Ok(loud)
}

fn joined(path: &str, body: &'static str) -> Request<Body> {
    Request::post(path)
        .header("x-tappass-session-id", CALLER)
        .header(
            "x-tappass-audit-url",
            "https://tappass.example/s/ses_caller",
        )
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn question_mark_and_return_leave_with_the_handlers_own_type() {
    let app = || Router::new().route("/", post(shout));
    let response = app().oneshot(joined("/", "hey")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..], b"HEY");

    let (status, headers, body) = send(app(), joined("/", "")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "empty_prompt");
    assert_eq!(headers["x-tappass-session-id"], CALLER);

    let (status, _, body) = send(app(), joined("/", "protocol")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "governance_protocol_error");
}

#[tokio::test]
async fn an_error_response_carries_the_correlation_in_headers_and_body() {
    let app = Router::new().route("/", post(shout));
    let (status, headers, body) = send(app, joined("/", "")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(headers["x-tappass-session-id"], CALLER);
    assert_eq!(
        headers["x-tappass-audit-url"],
        "https://tappass.example/s/ses_caller"
    );
    assert_eq!(body["session_id"], CALLER);
    assert_eq!(body["audit_url"], "https://tappass.example/s/ses_caller");
}

/// A streamed body is polled after the handler returned: the session is still
/// in scope while it is.
#[tappass::governed(auto_open_session = true)]
async fn stream(session: Session) -> impl IntoResponse {
    let expected = session.id().to_owned();
    let chunks = futures_util::stream::once(async move {
        let now = current_session().map(|s| s.id().to_owned());
        let line = format!("expected={expected} polled_in={}", now.unwrap_or_default());
        Ok::<_, Infallible>(line)
    });
    Body::from_stream(chunks)
}

#[tokio::test]
async fn a_streamed_body_is_polled_inside_the_session() {
    for layer_kind in [Layer::Absent, Layer::Joins] {
        let app = with(layer_kind, Router::new().route("/", get(stream)));
        let response = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let id = response.headers()["x-tappass-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert_eq!(
            text,
            format!("expected={id} polled_in={id}"),
            "{layer_kind:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_requests_never_see_each_others_session() {
    let app = Router::new().route("/", get(inherit));
    let calls = (0..32).map(|i| {
        let app = app.clone();
        async move {
            let id = format!("ses_{i}");
            let request = Request::get("/")
                .header("x-tappass-session-id", &id)
                .body(Body::empty())
                .unwrap();
            let (_, _, body) = send(app, request).await;
            assert_eq!(body["current"], id.as_str());
            assert_eq!(body["extracted"], id.as_str());
        }
    });
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    for handle in handles {
        handle.await.unwrap();
    }
}
