//! A body extractor that is not the last parameter, registered as a route:
//! one error, at the body extractor, that says to move it.
#[derive(serde::Deserialize)]
struct In {
    text: String,
}

#[tappass::governed]
async fn submit(
    axum::Json(input): axum::Json<In>,
    axum::extract::Path(id): axum::extract::Path<u32>,
) -> String {
    format!("{}{id}", input.text)
}

fn main() {
    let _app: axum::Router = axum::Router::new().route("/{id}", axum::routing::post(submit));
}
