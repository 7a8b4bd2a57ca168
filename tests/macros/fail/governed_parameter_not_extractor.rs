//! A parameter that is not an extractor, and a body extractor that is not last.
struct Settings {
    verbose: bool,
}

#[tappass::governed]
async fn chat(settings: Settings, agent: tappass::Agent) -> String {
    let _ = agent;
    settings.verbose.to_string()
}

#[tappass::governed]
async fn body_first(body: String, axum::extract::Path(id): axum::extract::Path<u32>) -> String {
    format!("{body}{id}")
}

fn main() {}
