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

fn main() {}
