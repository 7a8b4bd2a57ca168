#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("none")]
    #[governance(transparent)]
    NoField,

    #[error("two")]
    #[governance(transparent)]
    TwoFields(tappass::Error, String),

    #[error(transparent)]
    #[governance(transparent, status = 500)]
    WithStatus(tappass::Error),
}

fn main() {}
