// `problem` and `openapi` belong to the type: on the enum (or the struct),
// not on a variant or a field.
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[governance(openapi = 3, problem = true)]
enum ChatError {
    #[error("rejected")]
    #[governance(status = 403, problem)]
    Rejected {
        #[governance(openapi)]
        reason: String,
    },
}

fn main() {}
