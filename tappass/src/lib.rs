#![doc = include_str!("docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

extern crate self as tappass;

pub mod agent;
#[cfg(feature = "capability")]
#[cfg_attr(docsrs, doc(cfg(feature = "capability")))]
pub mod capability;
pub mod decision;
mod error;
pub mod extract;
mod key;
pub mod layer;
#[cfg(feature = "mandate")]
#[cfg_attr(docsrs, doc(cfg(feature = "mandate")))]
pub mod mandate;
#[cfg(feature = "mcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "mcp")))]
pub mod mcp;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
pub mod propagate;
pub mod resilience;
pub mod response;
pub mod session;
#[cfg(feature = "signing")]
#[cfg_attr(docsrs, doc(cfg(feature = "signing")))]
pub mod signing;
mod timestamp;
#[cfg(feature = "otel")]
mod trace_context;

#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;

pub use agent::{Agent, ChatChunk, ChatResponse};
pub use decision::GovernanceDecision;
pub use error::{BoxError, Error};
pub use layer::TapPassLayer;
pub use response::GovernanceError;
pub use session::{current_session, Session};
pub use timestamp::{ParseTimestampError, Timestamp};

#[doc = include_str!("docs/governed.md")]
#[doc(inline)]
pub use tappass_macros::governed;

#[cfg_attr(feature = "capability", doc = include_str!("docs/guard.md"))]
#[cfg_attr(
    not(feature = "capability"),
    doc = "Checks each call of an async tool function against the capability token in scope (feature `capability`: its documentation is that build's)."
)]
#[doc(inline)]
pub use tappass_macros::guard;

#[doc = include_str!("docs/derive.md")]
#[doc(inline)]
pub use tappass_macros::GovernanceError;
