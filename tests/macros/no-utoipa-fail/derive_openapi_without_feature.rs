// Without tappass's `utoipa` feature, `#[governance(openapi)]` is one clear
// error that names the feature to turn on.
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[governance(openapi)]
enum ChatError {
    #[error("rejected")]
    #[governance(status = 403)]
    Rejected,
}

fn main() {}
