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
//! A mandate travels the same way: after `agent.govern_tool(..)` allowed a
//! call, `.with_mandate(token)` puts the verdict's
//! [`mandate()`](crate::agent::ToolVerdict::mandate) in `X-TapPass-Mandate`
//! for the service that performs the action:
//!
//! ```no_run
//! use tappass::propagate::PropagateSession;
//!
//! # async fn run(agent: tappass::Agent, client: reqwest::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let verdict = agent.govern_tool("search", serde_json::json!({"q": "rust"})).await?;
//! let mut request = client.post("http://search.internal/search").propagate_session();
//! if let Some(mandate) = verdict.mandate() {
//!     request = request.with_mandate(mandate);
//! }
//! request.send().await?;
//! # Ok(()) }
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

    /// Adds a mandate ([`ToolVerdict::mandate`](crate::agent::ToolVerdict::mandate))
    /// in `X-TapPass-Mandate`, marked sensitive, replacing one already there.
    /// A value that cannot be a header (never the case for a token TapPass
    /// issued) adds nothing, so the next service answers `mandate_missing`.
    fn with_mandate(self, mandate: &str) -> Self;
}

/// The mandate as a header value, marked sensitive (kept out of debug output
/// and HTTP/2 header compression).
fn mandate_value(mandate: &str) -> Option<http::HeaderValue> {
    let mut value = http::HeaderValue::from_str(mandate).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `X-TapPass-Mandate`.
const MANDATE: http::HeaderName = http::HeaderName::from_static("x-tappass-mandate");

fn put_mandate(headers: &mut http::HeaderMap, mandate: &str) {
    match mandate_value(mandate) {
        Some(value) => {
            headers.insert(MANDATE, value);
        }
        None => tracing::warn!("a mandate that is not a valid header value was not sent"),
    }
}

impl PropagateSession for reqwest::RequestBuilder {
    fn with_session(self, session: &crate::Session) -> Self {
        self.headers(session.headers())
    }

    fn with_mandate(self, mandate: &str) -> Self {
        let mut headers = http::HeaderMap::new();
        put_mandate(&mut headers, mandate);
        self.headers(headers)
    }
}

impl<B> PropagateSession for http::Request<B> {
    fn with_session(mut self, session: &crate::Session) -> Self {
        session.write_headers(self.headers_mut());
        self
    }

    fn with_mandate(mut self, mandate: &str) -> Self {
        put_mandate(self.headers_mut(), mandate);
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

    fn with_mandate(mut self, mandate: &str) -> Self {
        if let Some(headers) = self.headers_mut() {
            put_mandate(headers, mandate);
        }
        self
    }
}

impl PropagateSession for http::HeaderMap {
    fn with_session(mut self, session: &crate::Session) -> Self {
        session.write_headers(&mut self);
        self
    }

    fn with_mandate(mut self, mandate: &str) -> Self {
        put_mandate(&mut self, mandate);
        self
    }
}
