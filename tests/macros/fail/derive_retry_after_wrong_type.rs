#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("maintenance")]
    #[governance(status = 503, retry_after = until)]
    Maintenance { until: String },
}

fn main() {}
