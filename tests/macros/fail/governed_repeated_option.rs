#[tappass::governed(auto_open_session = true, auto_open_session = false)]
async fn chat() {}

fn main() {
    let _app: axum::Router = axum::Router::new().route("/", axum::routing::get(chat));
}
