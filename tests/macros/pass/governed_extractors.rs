//! `State`, other extractors and a body extractor around injected parameters,
//! in any order: the rewritten handler is still a plain axum handler.
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use tappass::{Agent, Session};

#[derive(Clone)]
struct App {
    greeting: &'static str,
}

#[derive(serde::Deserialize)]
struct ChatIn {
    prompt: String,
}

#[derive(serde::Serialize)]
struct ChatOut {
    answer: String,
}

#[tappass::governed(auto_open_session = true)]
async fn start(
    State(app): State<App>,
    agent: Agent,
    session: Session,
    Json(req): Json<ChatIn>,
) -> Result<Json<ChatOut>, tappass::Error> {
    let _ = agent;
    Ok(Json(ChatOut {
        answer: format!("{} {} in {}", app.greeting, req.prompt, session.id()),
    }))
}

#[tappass::governed]
async fn chat(
    Path(id): Path<u32>,
    session: Option<tappass::Session>,
    mut body: String,
    agent: tappass::Agent,
) -> String {
    body.push_str(&id.to_string());
    let _ = (session, agent);
    body
}

#[tappass::governed(auto_open_session = false)]
async fn nothing() {}

fn main() {
    let _app: Router = Router::new()
        .route("/start", post(start))
        .route("/chat/{id}", post(chat))
        .route("/nothing", get(nothing))
        .with_state(App { greeting: "hello" });
}
