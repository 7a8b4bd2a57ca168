//! A return type that is not `IntoResponse`, bare and inside a `Result`.
struct Summary {
    text: String,
}

#[tappass::governed]
async fn summarize(agent: tappass::Agent) -> Summary {
    let _ = agent;
    Summary { text: String::new() }
}

#[tappass::governed]
async fn summarize_or_fail(agent: tappass::Agent) -> Result<Summary, tappass::Error> {
    let _ = agent;
    Ok(Summary { text: String::new() })
}

fn main() {
    // Registered as a route: no second error (axum's `Handler<_, _>`).
    let _app: axum::Router = axum::Router::new()
        .route("/summary", axum::routing::post(summarize))
        .route("/summary-or-fail", axum::routing::post(summarize_or_fail));
}
