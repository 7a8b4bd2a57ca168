//! The enum of DESIGN.md compiles as written, and works where axum expects a
//! response.
use tappass::Timestamp;

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("prompt rejected: {reason}")]
    #[governance(status = 403, code = "prompt_rejected")]
    Rejected {
        reason: String,
        audit_url: Option<String>,
    },

    #[error("maintenance window")]
    #[governance(status = 503, retry_after = until)]
    Maintenance { until: Timestamp },

    #[error(transparent)]
    #[governance(transparent)] // use the inner error's own mapping
    TapPass(#[from] tappass::Error),

    #[error("storage failed")]
    #[governance(status = 500)]
    Storage(#[source] std::io::Error), // unnamed fields never reach the body
}

async fn handler() -> Result<String, ChatError> {
    Err(ChatError::Storage(std::io::Error::other("disk full")))
}

fn main() {
    let _app: axum::Router = axum::Router::new().route("/", axum::routing::get(handler));
}
