#![doc = include_str!("docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

extern crate self as tappass;

pub mod decision;
mod error;
pub mod response;
pub mod session;
mod timestamp;

pub use decision::GovernanceDecision;
pub use error::{BoxError, Error};
pub use response::GovernanceError;
pub use session::{current_session, Session};
pub use timestamp::Timestamp;

/// Implementation details of the macros. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::response::{render, set_retry_after, RetryAfter};
    pub use axum;
    pub use http;
    pub use serde;
}
