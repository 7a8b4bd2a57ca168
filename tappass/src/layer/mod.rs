//! [`TapPassLayer`]: the tower layer that puts every request in its TapPass session.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tappass::Error> {
//! async fn whoami() -> String {
//!     tappass::current_session().map(|s| s.id().to_owned()).unwrap_or_default()
//! }
//!
//! let layer = tappass::TapPassLayer::builder()
//!     .tappass_url("http://127.0.0.1:9620")
//!     .api_key("tp_example")
//!     .build()?;
//! let app = Router::new().route("/whoami", get(whoami)).layer(layer);
//!
//! let request = http::Request::get("/whoami")
//!     .header("X-TapPass-Session-Id", "ses_caller")
//!     .body(axum::body::Body::empty())
//!     .unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["x-tappass-session-id"], "ses_caller");
//! # Ok(()) }
//! ```
//!
//! Per request the layer
//! 1. joins the caller's session from `X-TapPass-Session-Id` (or the alias
//!    `X-TapPass-Session`), with `X-TapPass-Agent-Uuid`,
//!    `X-TapPass-Pipeline-Uuid` and `X-TapPass-Audit-Url` when present;
//! 2. otherwise, with `auto_open_session(true)`, opens a fresh session locally;
//! 3. keeps the session in scope ([`current_session`](crate::current_session))
//!    while the inner service runs and while the response body is polled, and
//!    makes it and the layer's [`Agent`](crate::Agent) available as extractors;
//! 4. puts the correlation headers on the response, error responses included;
//! 5. answers `400` to a malformed correlation header without calling the
//!    inner service, naming the header and never echoing its value.
//!
//! A session the layer opened reports `session_open` and `session_close` (with
//! the response status) as audit events, off the hot path.
//!
//! The layer holds no logic of its own about sessions: it asks the crate's
//! one resolver (the private `session::resolve`, shared with `#[governed]`)
//! what the request's session is, runs the inner service in the scope it
//! returns, and has it finish the response.

mod body;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub(crate) use layer::Shared;
pub use layer::{TapPassLayer, TapPassLayerBuilder};
pub use service::TapPassService;
