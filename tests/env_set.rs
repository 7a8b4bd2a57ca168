//! The agent from the environment (`TAPPASS_URL`, `TAPPASS_API_KEY`, the
//! default URL), with the variables set and cleared explicitly by the one test
//! of this binary: the environment and the extractor's process-wide cache are
//! one per process, so the cases run in order in one test rather than racing
//! each other. `tests/env_unset/` covers the environment without them.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tappass::Agent;
use tappass_dev::DevServer;
use tower::ServiceExt;

async fn chat(agent: Agent) -> Result<String, tappass::Error> {
    let answer = agent.chat("hello from the environment").await?;
    Ok(format!("{} {}", agent.url(), answer.content))
}

#[tokio::test]
async fn the_agent_comes_from_tappass_url_and_tappass_api_key() {
    let server = DevServer::start().await.expect("dev server");
    // SAFETY (edition 2024 wording): this binary has this one test, so no
    // other thread reads the environment while it changes.
    std::env::set_var("TAPPASS_API_KEY", "tp_from_the_environment");
    std::env::remove_var("TAPPASS_URL");

    // No URL: the documented default.
    let agent = Agent::from_env().expect("a key is set");
    assert_eq!(agent.url(), "http://localhost:9620");

    // The URL from TAPPASS_URL, the key from TAPPASS_API_KEY, for
    // Agent::from_env, the builder's defaults and the layer's.
    std::env::set_var("TAPPASS_URL", server.url());
    let agent = Agent::from_env().expect("configured");
    assert_eq!(agent.url(), server.url());
    let answer = agent
        .chat("hi")
        .await
        .expect("the dev server accepts tp_ keys");
    assert_eq!(answer.content, "Echo: hi");
    let built = Agent::builder(server.url()).build().expect("key from env");
    assert_eq!(
        built.chat("again").await.expect("chat").content,
        "Echo: again"
    );
    let layer = tappass::TapPassLayer::builder()
        .build()
        .expect("layer from env");
    assert_eq!(layer.agent().unwrap().url(), server.url());
    let explicit = Agent::builder(server.url())
        .api_key("tp_explicit")
        .build()
        .expect("explicit key");
    assert_eq!(explicit.url(), server.url());

    // A handler's `Agent` without the layer, from the environment.
    let app = Router::new().route("/", get(chat));
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8(body.to_vec()).unwrap(),
        format!("{} Echo: hello from the environment", server.url())
    );

    // A key that is only blanks is refused, naming the variable.
    std::env::set_var("TAPPASS_API_KEY", "   ");
    let err = Agent::from_env().expect_err("blank key");
    assert!(err.to_string().contains("TAPPASS_API_KEY"), "{err}");

    std::env::remove_var("TAPPASS_URL");
    std::env::remove_var("TAPPASS_API_KEY");
    let err = Agent::from_env().expect_err("no key");
    assert!(err.to_string().contains("TAPPASS_API_KEY"), "{err}");
    server.shutdown().await;
}
