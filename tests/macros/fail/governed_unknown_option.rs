#[tappass::governed(auto_open = true)]
async fn chat(session: tappass::Session) -> String {
    session.id().to_owned()
}

#[tappass::governed(auto_open_session = true, join_only, fail_open = false)]
async fn other() {}

fn main() {
    let _app: axum::Router = axum::Router::new()
        .route("/", axum::routing::get(chat))
        .route("/other", axum::routing::get(other));
}
