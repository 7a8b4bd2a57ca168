//! Injected extractors: `State`, the injected `Agent` and `Session` and a
//! body extractor in one handler; the agent from the layer, an `Extension`
//! or the router's state; required sessions and malformed headers.

use super::*;
use crate::support::services::PromptIn;

#[derive(Clone)]
struct App {
    greeting: &'static str,
}

/// State first, the injected parameters in the middle, the body extractor last.
#[tappass::governed(auto_open_session = true)]
async fn start(
    State(app): State<App>,
    agent: Agent,
    session: Session,
    Json(req): Json<PromptIn>,
) -> Result<Json<Value>, tappass::Error> {
    Ok(Json(json!({
        "agent": agent.url(),
        "greeting": app.greeting,
        "prompt": req.prompt,
        "session": session.id(),
    })))
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
    let agent = Agent::new(refused_url(), "tp_test").unwrap();
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
