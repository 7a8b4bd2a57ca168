#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("rejected")]
    #[governance(code = "prompt_rejected")]
    Rejected { reason: String },

    #[error("no attribute at all")]
    Plain,
}

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[error("quota")]
struct QuotaExceeded {
    tenant: String,
}

fn main() {}
