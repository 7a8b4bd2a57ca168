//! Propagation downstream: stamp outgoing requests with the current session so
//! that the next service joins the same chain.
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
