//! One estate, Rust and Python, with the real Python SDK: a FastAPI service
//! (`tests/python/estate_app.py`, the SDK's own `TapPassMiddleware`, served
//! by uvicorn) beside a Rust service behind `TapPassLayer`, both governed by
//! one development server. What the estate guide claims the two share is
//! what these tests prove, in both directions:
//!
//! - Rust calls Python after its session has had a TapPass answer: the
//!   middleware joins the Rust session, and the Python chat (sent with the
//!   session in `metadata`, as the guide says) lands in it;
//! - Rust calls Python before any TapPass answer: the middleware does not
//!   join (it needs all four headers), and the Python chat still lands in the
//!   Rust session through the session header the guide reads;
//! - Python calls Rust from a session it opened (empty agent, pipeline and
//!   audit URL, sent as the SDK has them): the Rust layer joins it, and the
//!   Rust chat lands in the Python session.

use std::time::Duration;

use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tappass::propagate::PropagateSession;
use tappass::{Agent, TapPassLayer};
use tappass_dev::DevServer;

use crate::support::python::Uvicorn;

const KEY: &str = "tp_estate";

/// The FastAPI app (`tests/python/estate_app.py`) on `dev`.
fn python_service(dev: &DevServer) -> Uvicorn {
    Uvicorn::start(
        "estate_app:app",
        &[("TAPPASS_URL", dev.url()), ("TAPPASS_API_KEY", KEY.into())],
    )
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The Rust service: `/relay` (chats first when asked, then calls the Python
/// service in its session) and `/chat` (chats once, answers its session).
async fn rust_service(dev: &DevServer, python: &str) -> String {
    let python = python.to_owned();
    #[derive(serde::Deserialize)]
    struct Relay {
        chat_first: bool,
    }
    let relay = move |agent: Agent, axum::Json(relay): axum::Json<Relay>| {
        let python = python.clone();
        async move {
            if relay.chat_first {
                agent.chat("hello from Rust").await.unwrap();
            }
            let answer: Value = reqwest::Client::new()
                .post(format!("{python}/chat"))
                .propagate_session()
                .json(&json!({"prompt": "hello from Python"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let session = tappass::current_session().unwrap();
            axum::Json(json!({"session": session.id(), "python": answer}))
        }
    };
    let chat = |agent: Agent| async move {
        agent.chat("hello from Rust").await.unwrap();
        let session = tappass::current_session().unwrap();
        axum::Json(json!({"session": session.id()}))
    };
    let layer = TapPassLayer::builder()
        .tappass_url(dev.url())
        .api_key(KEY)
        .auto_open_session(true)
        .build()
        .unwrap();
    serve(
        Router::new()
            .route("/relay", post(relay))
            .route("/chat", post(chat))
            .layer(layer),
    )
    .await
}

/// The prompts of the chats the dev server recorded in `session`.
fn chats_in(dev: &DevServer, session: &str) -> Vec<String> {
    dev.events_for_session(session)
        .into_iter()
        .filter(|e| e["event_type"] == "chat_call")
        .map(|e| e["details"].to_string())
        .collect()
}

async fn post_json(url: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn rust_to_python_after_an_answer_one_session_two_chats() {
    let dev = DevServer::start().await.unwrap();
    let python = python_service(&dev);
    let rust = rust_service(&dev, &python.url).await;
    let answer = post_json(&format!("{rust}/relay"), json!({"chat_first": true})).await;
    let session = answer["session"].as_str().unwrap();
    assert_eq!(
        answer["python"]["joined"], session,
        "the middleware joined: {answer}"
    );
    assert_eq!(answer["python"]["session_id"], session);
    assert_eq!(
        chats_in(&dev, session).len(),
        2,
        "the Rust and the Python chat"
    );
}

#[tokio::test]
async fn rust_to_python_before_any_answer_still_lands_in_the_rust_session() {
    let dev = DevServer::start().await.unwrap();
    let python = python_service(&dev);
    let rust = rust_service(&dev, &python.url).await;
    let answer = post_json(&format!("{rust}/relay"), json!({"chat_first": false})).await;
    let session = answer["session"].as_str().unwrap();
    // Only the id was known: the SDK's middleware joins with all four only.
    assert_eq!(answer["python"]["joined"], Value::Null, "{answer}");
    // The service reads the id from the header, as the guide says.
    assert_eq!(answer["python"]["session_id"], session, "{answer}");
    assert_eq!(chats_in(&dev, session).len(), 1, "the Python chat");
}

#[tokio::test]
async fn python_to_rust_from_a_session_opened_in_python() {
    let dev = DevServer::start().await.unwrap();
    let python = python_service(&dev);
    let rust = rust_service(&dev, &python.url).await;
    let answer = post_json(
        &format!("{}/call-rust", python.url),
        json!({"url": format!("{rust}/chat")}),
    )
    .await;
    assert_eq!(
        answer["status"], 200,
        "the Rust layer took the SDK's headers: {answer}"
    );
    let session = answer["python_session"].as_str().unwrap();
    assert_eq!(answer["rust"]["session"], session, "{answer}");
    assert_eq!(
        chats_in(&dev, session).len(),
        1,
        "the Rust chat, in the Python session"
    );
}
