//! Propagation downstream: stamp outgoing requests with the current session so
//! that the next service joins the same chain.
//!
//! Behind [`TapPassLayer`](crate::TapPassLayer), a handler runs inside its
//! request's session. [`PropagateSession::propagate_session`] adds that
//! session's `X-TapPass-Session-Id` (and the same id as `X-TapPass-Session`),
//! `X-TapPass-Agent-Uuid`, `X-TapPass-Pipeline-Uuid` and `X-TapPass-Audit-Url`
//! to a reqwest request (or an `http` request, builder or header map); the
//! next service, behind its own layer, joins the session, so its calls and
//! audit events land in the same chain. `examples/two_services.rs` runs two
//! such services. A service built on the Python SDK's FastAPI middleware
//! joins too, once the session knows all four fields: a session opened here
//! learns the agent, pipeline and audit URL from the server's first answer
//! inside it (see [learning from the server](crate::Session#learning-from-the-server)).
//!
//! ```no_run
//! use tappass::propagate::PropagateSession;
//!
//! # async fn handler(client: reqwest::Client) -> Result<String, reqwest::Error> {
//! // Inside a request behind TapPassLayer: the next service sees the same session.
//! let text = client
//!     .get("http://inventory.internal/stock")
//!     .propagate_session()
//!     .send()
//!     .await?
//!     .text()
//!     .await?;
//! # Ok(text) }
//! ```
//!
//! The same with an `http` request, and outside a session (where nothing is added):
//!
//! ```
//! use tappass::propagate::PropagateSession;
//! use tappass::Session;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tappass::session::InvalidHeader> {
//! let session = Session::builder("ses_chain").agent_uuid("agt-1").build()?;
//! let request = tappass::session::scope(session, async {
//!     http::Request::get("http://inventory.internal/stock")
//!         .body(())
//!         .unwrap()
//!         .propagate_session()
//! })
//! .await;
//! assert_eq!(request.headers()["x-tappass-session-id"], "ses_chain");
//! assert_eq!(request.headers()["x-tappass-session"], "ses_chain");
//! assert_eq!(request.headers()["x-tappass-agent-uuid"], "agt-1");
//!
//! let outside = http::Request::get("http://inventory.internal/stock")
//!     .body(())
//!     .unwrap()
//!     .propagate_session();
//! assert!(outside.headers().is_empty());
//! # Ok(()) }
//! ```

/// Adds the current session's correlation headers to an outgoing request.
pub trait PropagateSession: Sized {
    /// Adds the headers of [`current_session()`](crate::current_session);
    /// unchanged outside a session.
    fn propagate_session(self) -> Self {
        match crate::current_session() {
            Some(session) => self.with_session(&session),
            None => self,
        }
    }

    /// Adds the headers of `session`.
    fn with_session(self, session: &crate::Session) -> Self;
}

impl PropagateSession for reqwest::RequestBuilder {
    fn with_session(self, session: &crate::Session) -> Self {
        self.headers(session.headers())
    }
}

impl<B> PropagateSession for http::Request<B> {
    fn with_session(mut self, session: &crate::Session) -> Self {
        session.write_headers(self.headers_mut());
        self
    }
}

impl PropagateSession for http::request::Builder {
    fn with_session(mut self, session: &crate::Session) -> Self {
        if let Some(headers) = self.headers_mut() {
            session.write_headers(headers);
        }
        self
    }
}

impl PropagateSession for http::HeaderMap {
    fn with_session(mut self, session: &crate::Session) -> Self {
        session.write_headers(&mut self);
        self
    }
}
