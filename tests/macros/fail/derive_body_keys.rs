#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("rejected")]
    #[governance(status = 403)]
    Rejected {
        message: String,
        #[governance(rename = "error")]
        kind: String,
        reason: String,
        #[governance(rename = "reason")]
        why: String,
    },

    #[error("storage")]
    #[governance(status = 500)]
    Storage(#[governance(rename = "io")] String),
}

fn main() {}
