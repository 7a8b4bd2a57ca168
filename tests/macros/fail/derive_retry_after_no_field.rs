#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("maintenance")]
    #[governance(status = 503, retry_after = untill)]
    Maintenance {
        until: tappass::Timestamp,
        reason: String,
    },

    #[error("closed")]
    #[governance(status = 503, retry_after = until)]
    Closed(std::time::SystemTime),
}

fn main() {}
