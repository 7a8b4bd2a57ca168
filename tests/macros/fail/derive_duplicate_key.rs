#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("rejected")]
    #[governance(status = 403, status = 404)]
    #[governance(code = "a", message = "m")]
    #[governance(code = "b")]
    Rejected {
        #[governance(skip, skip)]
        reason: String,
    },
}

fn main() {}
