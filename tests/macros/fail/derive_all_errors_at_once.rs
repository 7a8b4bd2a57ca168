// Every attribute mistake of an item is reported in one build, and the stub
// impl keeps the uses of the type free of follow-up errors.
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("a")]
    #[governance(status = 99)]
    A,

    #[error("b")]
    #[governance(statuss = 403)]
    B,

    #[error("c")]
    #[governance(status = 503, retry_after = nope)]
    C { until: std::time::Duration },
}

fn handler() -> Result<(), ChatError> {
    Ok(())
}

fn main() {
    let _ = handler();
    let _ = axum::response::IntoResponse::into_response(ChatError::A);
}
