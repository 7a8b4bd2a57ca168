#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("rejected")]
    #[governance(status = 403, x = 1, reason = "why", retry_afer = until)]
    Rejected {
        #[governance(hide)]
        reason: String,
        #[governance(status = 500)]
        until: std::time::Duration,
    },

    #[error("other")]
    #[governance(status = 403, skip)]
    Other,
}

fn main() {}
