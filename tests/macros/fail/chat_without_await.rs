//! `?` on a call that was not awaited: the compiler says to add `.await`.
#[tappass::governed]
async fn chat(agent: tappass::Agent) -> Result<String, tappass::Error> {
    let answer = agent.chat("Summarize Q4 revenue")?;
    Ok(answer.content)
}

fn main() {}
