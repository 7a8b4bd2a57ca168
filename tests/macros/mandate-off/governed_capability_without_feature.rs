#[tappass::governed(capability = "tool:call:search")]
async fn search(body: String) -> String {
    body
}

fn main() {
    let _app: axum::Router = axum::Router::new().route("/", axum::routing::post(search));
}
