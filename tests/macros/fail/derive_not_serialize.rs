#[derive(Debug)]
struct Opaque;

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("rejected")]
    #[governance(status = 403)]
    Rejected { reason: String, details: Opaque },
}

fn main() {}
