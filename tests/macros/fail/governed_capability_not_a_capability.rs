#[tappass::governed(capability = 3)]
async fn a() {}

#[tappass::governed(capability = "tool::search", capability = "", capability)]
async fn b() {}

#[tappass::governed(capability = "tool:call:search now")]
async fn c() {}

fn main() {
    let _app: axum::Router = axum::Router::new()
        .route("/a", axum::routing::get(a))
        .route("/b", axum::routing::get(b))
        .route("/c", axum::routing::get(c));
}
