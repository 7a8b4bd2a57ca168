//! A parameter that is not an extractor (the body extractor that is not last
//! is `governed_body_not_last.rs`).
struct Settings {
    verbose: bool,
}

#[tappass::governed]
async fn chat(settings: Settings, agent: tappass::Agent) -> String {
    let _ = agent;
    settings.verbose.to_string()
}

fn main() {}
