#[tappass::governed(auto_open_session = "yes")]
async fn a() {}

#[tappass::governed(auto_open_session = 1)]
async fn b() {}

#[tappass::governed(auto_open_session)]
async fn c() {}

fn main() {
    let _app: axum::Router = axum::Router::new()
        .route("/a", axum::routing::get(a))
        .route("/b", axum::routing::get(b))
        .route("/c", axum::routing::get(c));
}
