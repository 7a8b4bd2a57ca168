// The JSON body's members are the route layer's: the macro's check runs
// before the body is read.

#[tappass::governed(tool = "create_ticket", body = ["title"])]
async fn create(axum::Json(body): axum::Json<serde_json::Value>) -> String {
    body.to_string()
}

fn main() {
    let _app: axum::Router = axum::Router::new().route("/", axum::routing::post(create));
}
