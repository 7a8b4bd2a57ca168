//! `capability` (once or more, with `auto_open_session` or alone), a `Mandate`
//! parameter and a body extractor: still a plain axum handler.
use axum::routing::post;
use axum::{Json, Router};
use tappass::mandate::Mandate;
use tappass::Session;

#[tappass::governed(capability = "tool:call:search")]
async fn search(mandate: Mandate, Json(q): Json<serde_json::Value>) -> String {
    format!("{:?} {q}", mandate.id())
}

#[tappass::governed(auto_open_session = true, capability = "tool:call:search", capability = "data:read:*")]
pub async fn research(session: Session, body: String) -> Result<String, tappass::Error> {
    Ok(format!("{} {body}", session.id()))
}

fn main() {
    let _app: Router = Router::new()
        .route("/search", post(search))
        .route("/research", post(research));
}

/// With a `State<T>` parameter whose `T` holds no verifier: still compiles
/// (the verifier then comes from the layer or an `Extension`).
#[tappass::governed(capability = "tool:call:search")]
async fn stateful(axum::extract::State(n): axum::extract::State<u32>, mandate: Mandate) -> String {
    format!("{n} {:?}", mandate.id())
}

#[allow(dead_code)]
fn stateful_app() -> Router {
    Router::new().route("/s", post(stateful)).with_state(7)
}
