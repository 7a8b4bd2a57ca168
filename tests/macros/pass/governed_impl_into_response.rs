//! `-> impl IntoResponse` keeps working: the return type becomes
//! `Governed<impl IntoResponse>`.
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

#[tappass::governed]
async fn health(session: Option<tappass::Session>) -> impl IntoResponse {
    match session {
        Some(_) => (StatusCode::OK, "in a session"),
        None => (StatusCode::OK, "no session"),
    }
}

#[tappass::governed(auto_open_session = true)]
async fn nested() -> Result<impl IntoResponse, tappass::Error> {
    Ok("fine")
}

fn main() {
    let _app: Router = Router::new()
        .route("/health", get(health))
        .route("/nested", get(nested));
}
