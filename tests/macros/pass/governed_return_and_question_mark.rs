//! `return` and `?` in the body keep their meaning: they leave the handler
//! with its own return type.
use axum::routing::get;
use axum::Router;

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("too long")]
    #[governance(status = 413)]
    TooLong,

    #[error(transparent)]
    #[governance(transparent)]
    TapPass(#[from] tappass::Error),
}

fn check(prompt: &str) -> Result<(), tappass::Error> {
    if prompt.is_empty() {
        return Err(tappass::Error::Protocol("empty".into()));
    }
    Ok(())
}

#[tappass::governed]
async fn chat(agent: tappass::Agent, prompt: String) -> Result<String, ChatError> {
    if prompt.len() > 100 {
        return Err(ChatError::TooLong);
    }
    check(&prompt)?;
    let answer = agent.chat(&prompt).await?;
    Ok(answer.content)
}

#[tappass::governed]
async fn early(prompt: String) -> &'static str {
    if prompt.is_empty() {
        return "empty";
    }
    "full"
}

fn main() {
    let _app: Router = Router::new()
        .route("/chat", get(chat))
        .route("/early", get(early));
}
