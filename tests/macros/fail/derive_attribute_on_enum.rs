#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[governance(status = 403)]
enum ChatError {
    #[error("rejected")]
    #[governance(status = 403)]
    Rejected,
}

fn main() {}
