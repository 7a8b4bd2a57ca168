//! Sessions: one run of an agent, and the correlation that follows it across services.
//!
//! A [`Session`] is the id of a run plus the agent, pipeline and audit link that
//! belong to it. Inside a request handled by [`TapPassLayer`](crate::TapPassLayer)
//! (or a `#[governed]` handler) the request's session is in scope and
//! [`current_session()`] returns it; [`scope`] puts a session in scope for any
//! other future, such as work a handler spawns.
//!
//! ```
//! use tappass::Session;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tappass::session::InvalidHeader> {
//! let session = Session::builder("ses_abc").agent_uuid("agt-1").build()?;
//! assert!(tappass::current_session().is_none());
//! let seen = tappass::session::scope(session.clone(), async {
//!     tappass::current_session().map(|s| s.id().to_owned())
//! })
//! .await;
//! assert_eq!(seen.as_deref(), Some("ses_abc"));
//!
//! // The same correlation, as headers for a call to the next service.
//! let headers = session.headers();
//! assert_eq!(headers["x-tappass-session-id"], "ses_abc");
//! assert_eq!(headers["x-tappass-agent-uuid"], "agt-1");
//! # Ok(()) }
//! ```
//!
//! The module has three parts: the value ([`Session`], [`SessionBuilder`]),
//! the scope (the task-local behind [`current_session()`] and [`scope`]) and
//! the headers (the names, [`from_headers`] and its [`InvalidHeader`]). It is
//! the ground floor of the crate and names nothing above it: how a request's
//! session is decided, by the layer and by `#[governed]`, is the layer's
//! resolver (a private module, `layer/resolve.rs`, whose documentation tells
//! the whole scheme), and the rendering of an [`InvalidHeader`] as a `400` is
//! the extractors' ([`crate::extract`]).

mod headers;
pub(crate) mod scope;
mod value;

pub(crate) use headers::is_id;
pub use headers::{
    HeaderProblem, InvalidHeader, AGENT_UUID, AUDIT_URL, MAX_AUDIT_URL_LEN, MAX_ID_LEN,
    PIPELINE_UUID, RESUME_TOKEN, SESSION_ALIAS, SESSION_ID,
};
pub(crate) use scope::with_current;
pub use scope::{current_session, scope};
pub(crate) use value::read;
pub(crate) use value::Answered;
pub use value::{from_headers, Session, SessionBuilder};
