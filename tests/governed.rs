//! `#[tappass::governed]` handlers in real axum routers, driven with
//! `tower::ServiceExt::oneshot`: the route-flag table of DESIGN.md, injected
//! extractors, correlation on responses (errors and streamed bodies included),
//! and `?`/`return` in the body.

mod support;

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tappass::{current_session, Agent, Session, TapPassLayer};
use tower::ServiceExt;

const CALLER: &str = "ses_caller";

/// What a handler saw: the `Option<Session>` it was given and the current
/// session of its body.
fn seen(session: Option<Session>) -> Json<Value> {
    Json(json!({
        "extracted": session.map(|s| s.id().to_owned()),
        "current": current_session().map(|s| s.id().to_owned()),
    }))
}

#[tappass::governed]
async fn inherit(session: Option<Session>) -> Json<Value> {
    seen(session)
}

#[tappass::governed(auto_open_session = true)]
async fn open(session: Option<Session>) -> Json<Value> {
    seen(session)
}

#[tappass::governed(auto_open_session = false)]
async fn join_only(session: Option<Session>) -> Json<Value> {
    seen(session)
}

#[derive(Clone, Copy, Debug)]
enum Layer {
    Absent,
    /// The layer with its default, `auto_open_session(false)`.
    Joins,
    /// The layer with `auto_open_session(true)`.
    Opens,
}

fn layer(auto_open_session: bool) -> TapPassLayer {
    TapPassLayer::builder()
        // Nothing listens there: opened sessions report their events off the
        // hot path, and their failure never reaches the response.
        .tappass_url(support::refused_url())
        .api_key("tp_test")
        .auto_open_session(auto_open_session)
        .build()
        .unwrap()
}

fn with(layer_kind: Layer, router: Router) -> Router {
    match layer_kind {
        Layer::Absent => router,
        Layer::Joins => router.layer(layer(false)),
        Layer::Opens => router.layer(layer(true)),
    }
}

fn flag_routes() -> Router {
    Router::new()
        .route("/inherit", get(inherit))
        .route("/open", get(open))
        .route("/join_only", get(join_only))
}

#[derive(Debug, PartialEq)]
enum Expect {
    None,
    Joined,
    Fresh,
}

/// Calls `path` and checks that the handler's extractor, its body's current
/// session and the response's correlation header all agree on `expect`.
async fn check_row(layer_kind: Layer, path: &str, caller_headers: bool, expect: Expect) {
    let row = format!("layer {layer_kind:?}, route {path}, caller headers {caller_headers}");
    let mut request = Request::get(path);
    if caller_headers {
        request = request
            .header("x-tappass-session-id", CALLER)
            .header("x-tappass-agent-uuid", "agt-1");
    }
    let response = with(layer_kind, flag_routes())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{row}");
    let header = response
        .headers()
        .get("x-tappass-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let extracted = body["extracted"].as_str().map(str::to_owned);
    assert_eq!(extracted.as_deref(), body["current"].as_str(), "{row}");
    assert_eq!(
        extracted, header,
        "{row}: the response carries the handler's session"
    );
    match expect {
        Expect::None => assert_eq!(extracted, None, "{row}"),
        Expect::Joined => assert_eq!(extracted.as_deref(), Some(CALLER), "{row}"),
        Expect::Fresh => {
            let id = extracted.unwrap_or_else(|| panic!("{row}: expected a fresh session"));
            assert!(id.starts_with("ses_") && id != CALLER, "{row}: {id}");
        }
    }
}

// The route-flag table: layer (absent, joins, opens) × flag (absent, true,
// false) × caller headers (sent, not sent). A joined session always wins.

#[tokio::test]
async fn a_joined_session_always_wins() {
    for layer_kind in [Layer::Absent, Layer::Joins, Layer::Opens] {
        for path in ["/inherit", "/open", "/join_only"] {
            check_row(layer_kind, path, true, Expect::Joined).await;
        }
    }
}

#[tokio::test]
async fn without_the_layer_no_flag_means_no_session() {
    check_row(Layer::Absent, "/inherit", false, Expect::None).await;
}

#[tokio::test]
async fn without_the_layer_the_flag_on_opens_a_session() {
    check_row(Layer::Absent, "/open", false, Expect::Fresh).await;
}

#[tokio::test]
async fn without_the_layer_the_flag_off_opens_none() {
    check_row(Layer::Absent, "/join_only", false, Expect::None).await;
}

#[tokio::test]
async fn behind_a_joining_layer_no_flag_means_no_session() {
    check_row(Layer::Joins, "/inherit", false, Expect::None).await;
}

#[tokio::test]
async fn behind_a_joining_layer_the_flag_on_opens_a_session() {
    check_row(Layer::Joins, "/open", false, Expect::Fresh).await;
}

#[tokio::test]
async fn behind_a_joining_layer_the_flag_off_opens_none() {
    check_row(Layer::Joins, "/join_only", false, Expect::None).await;
}

#[tokio::test]
async fn behind_an_opening_layer_no_flag_gets_the_layers_session() {
    check_row(Layer::Opens, "/inherit", false, Expect::Fresh).await;
}

#[tokio::test]
async fn behind_an_opening_layer_the_flag_on_gets_a_session() {
    check_row(Layer::Opens, "/open", false, Expect::Fresh).await;
}

#[tokio::test]
async fn behind_an_opening_layer_the_flag_off_overrides_it() {
    check_row(Layer::Opens, "/join_only", false, Expect::None).await;
}

// ---- injected extractors ---------------------------------------------------

#[derive(Clone)]
struct App {
    greeting: &'static str,
}

#[derive(serde::Deserialize)]
struct ChatIn {
    prompt: String,
}

/// State first, the injected parameters in the middle, the body extractor last.
#[tappass::governed(auto_open_session = true)]
async fn start(
    State(app): State<App>,
    agent: Agent,
    session: Session,
    Json(req): Json<ChatIn>,
) -> Result<Json<Value>, tappass::Error> {
    Ok(Json(json!({
        "agent": agent.url(),
        "greeting": app.greeting,
        "prompt": req.prompt,
        "session": session.id(),
    })))
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn post_json(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn state_injected_parameters_and_the_body_extractor_work_together() {
    let app = Router::new()
        .route("/start", post(start))
        .with_state(App { greeting: "hello" })
        .layer(layer(false));
    let (status, headers, body) = send(app, post_json("/start", json!({"prompt": "hi"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["greeting"], "hello");
    assert_eq!(body["prompt"], "hi");
    let id = body["session"].as_str().unwrap();
    assert!(id.starts_with("ses_"));
    assert_eq!(headers["x-tappass-session-id"], id);
}

#[tokio::test]
async fn without_the_layer_an_agent_comes_from_an_extension() {
    let agent = Agent::new(support::refused_url(), "tp_test").unwrap();
    let app = Router::new()
        .route("/start", post(start))
        .with_state(App { greeting: "hello" })
        .layer(Extension(agent));
    let (status, _, body) = send(app, post_json("/start", json!({"prompt": "hi"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tappass::governed(auto_open_session = false)]
async fn needs_session(session: Session) -> String {
    session.id().to_owned()
}

#[tokio::test]
async fn a_required_session_that_is_missing_is_a_400_naming_the_headers() {
    let app = Router::new().route("/", get(needs_session));
    let (status, _, body) = send(app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "session_required");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("X-TapPass-Session-Id"));
}

#[tokio::test]
async fn a_malformed_correlation_header_is_a_400_without_the_layer_too() {
    let app = Router::new().route("/", get(inherit));
    let request = Request::get("/")
        .header("x-tappass-session-id", "bad id with spaces")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(app, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_correlation_header");
    assert!(!body.to_string().contains("bad id with spaces"));
}

// ---- the body: `?`, `return`, errors, streams -----------------------------

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

mod agent_from_state {
    use axum::extract::{FromRef, State};
    use axum::routing::get;
    use axum::Router;
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tappass::Agent;
    use tower::ServiceExt;

    #[derive(Clone)]
    struct WithAgent {
        agent: Agent,
        name: &'static str,
    }

    impl FromRef<WithAgent> for Agent {
        fn from_ref(state: &WithAgent) -> Agent {
            state.agent.clone()
        }
    }

    #[tappass::governed]
    async fn uses_state(State(app): State<WithAgent>, agent: Agent) -> String {
        format!("{} {}", app.name, agent.url())
    }

    async fn get_body(app: Router) -> (StatusCode, String) {
        let response = app
            .oneshot(Request::get("/").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn without_the_layer_the_agent_comes_from_state_through_from_ref() {
        let state = WithAgent {
            agent: Agent::new("https://state.example.com", "tp_state").unwrap(),
            name: "app",
        };
        let app = Router::new()
            .route("/", get(uses_state))
            .with_state(state.clone());
        assert_eq!(
            get_body(app).await,
            (StatusCode::OK, "app https://state.example.com".to_owned())
        );

        // The layer's agent wins over the state's.
        let layer = tappass::TapPassLayer::builder()
            .tappass_url("https://layer.example.com")
            .api_key("tp_layer")
            .build()
            .unwrap();
        let app = Router::new()
            .route("/", get(uses_state))
            .with_state(state)
            .layer(layer);
        assert_eq!(
            get_body(app).await,
            (StatusCode::OK, "app https://layer.example.com".to_owned())
        );
    }
}

/// Several session parameters all receive the route's one session, and a
/// required one that is missing is refused before the other extractors run.
#[tokio::test]
async fn every_session_parameter_gets_the_routes_session() {
    #[tappass::governed(auto_open_session = true)]
    async fn both(first: Session, second: Option<Session>, mut third: Session) -> String {
        third = third.clone();
        format!(
            "{}|{}|{}",
            first.id(),
            second.map(|s| s.id().to_owned()).unwrap_or_default(),
            third.id()
        )
    }
    #[tappass::governed(auto_open_session = false)]
    async fn required_then_body(session: Session, Json(body): Json<Value>) -> String {
        format!("{}|{body}", session.id())
    }
    for app in [
        Router::new().route("/", get(both)),
        Router::new().route("/", get(both)).layer(layer(false)),
    ] {
        let response = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let header = response.headers()["x-tappass-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            String::from_utf8(body.to_vec()).unwrap(),
            format!("{header}|{header}|{header}")
        );
    }
    // No session and a body that is not JSON: the session is what is reported.
    let app = Router::new().route("/", get(required_then_body));
    let request = Request::get("/").body(Body::from("not json")).unwrap();
    let (status, _, body) = send(app, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "session_required");
}
