#![doc = include_str!("docs/propagate.md")]

/// Adds the current session's correlation headers to an outgoing request.
pub trait PropagateSession: Sized {
    /// Adds the headers of [`current_session()`](crate::current_session);
    /// unchanged outside a session.
    ///
    /// With the `otel` feature it also adds the W3C trace context of the
    /// current span ([`with_trace_context`](Self::with_trace_context)), so
    /// that one trace follows the session across services.
    fn propagate_session(self) -> Self {
        let this = match crate::session::current_session() {
            Some(session) => self.with_session(&session),
            None => self,
        };
        this.with_trace_context()
    }

    /// Adds the W3C trace context (`traceparent`, `tracestate`) of the
    /// current span, replacing any already there (feature `otel`, with a
    /// `tracing-opentelemetry` layer installed). Unchanged without the
    /// feature, or outside a span that belongs to a trace.
    fn with_trace_context(self) -> Self;

    /// Adds the headers of `session`.
    fn with_session(self, session: &crate::session::Session) -> Self;

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

/// The current span's trace context as headers: `None` without the `otel`
/// feature or outside a span of a trace.
fn trace_context() -> Option<http::HeaderMap> {
    #[cfg(feature = "otel")]
    {
        let headers = crate::trace_context::current_headers();
        if !headers.is_empty() {
            return Some(headers);
        }
    }
    None
}

/// Puts `headers` into `own`, each replacing those of its name.
fn replace(own: &mut http::HeaderMap, headers: http::HeaderMap) {
    for (name, value) in headers {
        if let Some(name) = name {
            own.insert(name, value);
        }
    }
}

fn put_mandate(headers: &mut http::HeaderMap, mandate: &str) {
    match mandate_value(mandate) {
        Some(value) => {
            headers.insert(MANDATE, value);
        }
        None => tracing::warn!("a mandate that is not a valid header value was not sent"),
    }
}

impl PropagateSession for reqwest::RequestBuilder {
    fn with_session(self, session: &crate::session::Session) -> Self {
        self.headers(session.headers())
    }

    fn with_trace_context(self) -> Self {
        match trace_context() {
            Some(headers) => self.headers(headers),
            None => self,
        }
    }

    fn with_mandate(self, mandate: &str) -> Self {
        let mut headers = http::HeaderMap::new();
        put_mandate(&mut headers, mandate);
        self.headers(headers)
    }
}

impl<B> PropagateSession for http::Request<B> {
    fn with_session(mut self, session: &crate::session::Session) -> Self {
        session.write_headers(self.headers_mut());
        self
    }

    fn with_trace_context(mut self) -> Self {
        if let Some(headers) = trace_context() {
            replace(self.headers_mut(), headers);
        }
        self
    }

    fn with_mandate(mut self, mandate: &str) -> Self {
        put_mandate(self.headers_mut(), mandate);
        self
    }
}

impl PropagateSession for http::request::Builder {
    fn with_session(mut self, session: &crate::session::Session) -> Self {
        if let Some(headers) = self.headers_mut() {
            session.write_headers(headers);
        }
        self
    }

    fn with_trace_context(mut self) -> Self {
        if let (Some(own), Some(headers)) = (self.headers_mut(), trace_context()) {
            replace(own, headers);
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
    fn with_session(mut self, session: &crate::session::Session) -> Self {
        session.write_headers(&mut self);
        self
    }

    fn with_trace_context(mut self) -> Self {
        if let Some(headers) = trace_context() {
            replace(&mut self, headers);
        }
        self
    }

    fn with_mandate(mut self, mandate: &str) -> Self {
        put_mandate(&mut self, mandate);
        self
    }
}

/// Presents a capability token to the tool service an outgoing request
/// calls: the token in `X-TapPass-Token` and, in `X-TapPass-PoP`, a fresh
/// proof of possession (the holder key's signature over this call's tool
/// and arguments, for the current 30-second window). Feature `capability`;
/// see [`tappass::capability`](crate::capability) for the service's side.
///
/// `args` are the arguments the service reads from the request, exactly:
/// for a `#[governed(tool = …)]` route, each path and query parameter it
/// names as a string (as the route decodes it: `"q3 report.pdf"`, not
/// `"q3%20report.pdf"`), and for a Python `TapPassGuard` route the same;
/// for [`RequireCapability::body`](crate::capability::RequireCapability::body),
/// the body's members with their JSON values. A proof over other arguments
/// is refused (`capability_pop_invalid`).
///
/// ```
/// use serde_json::json;
/// use tappass::capability::{CapabilityToken, SigningKey};
/// use tappass::propagate::PresentCapability;
///
/// # fn demo(token: CapabilityToken, agent_key: SigningKey) {
/// let args = json!({"path": "q3.pdf"});
/// let request = reqwest::Client::new()
///     .get("http://files.internal/files/q3.pdf")
///     .with_capability(&token, &agent_key, "read_file", args.as_object().unwrap());
/// # drop(request); }
/// ```
#[cfg(feature = "capability")]
#[cfg_attr(docsrs, doc(cfg(feature = "capability")))]
pub trait PresentCapability: Sized {
    /// Adds the token and a proof of possession for `tool(args)`, signed
    /// with `holder` (the token's holder key), replacing any already there.
    /// Arguments nested too deep to be signed (over 64 levels) add the
    /// token alone, so the service answers `capability_pop_missing`.
    fn with_capability(
        self,
        token: &crate::capability::CapabilityToken,
        holder: &crate::capability::SigningKey,
        tool: &str,
        args: &crate::capability::Args,
    ) -> Self;
}

/// The two headers of a presented token: the token (sensitive) and the
/// proof of possession, when it could be signed.
#[cfg(feature = "capability")]
fn capability_headers(
    token: &crate::capability::CapabilityToken,
    holder: &crate::capability::SigningKey,
    tool: &str,
    args: &crate::capability::Args,
) -> http::HeaderMap {
    use crate::capability::{Pop, POP_HEADER, TOKEN_HEADER};
    let mut headers = http::HeaderMap::new();
    if let Ok(mut value) = http::HeaderValue::from_str(&token.encode()) {
        value.set_sensitive(true);
        headers.insert(TOKEN_HEADER, value);
    }
    match Pop::sign(token, holder, tool, args) {
        Ok(pop) => {
            if let Ok(value) = http::HeaderValue::from_str(&pop.encode()) {
                headers.insert(POP_HEADER, value);
            }
        }
        Err(error) => tracing::warn!(%error, "no proof of possession was sent"),
    }
    headers
}

#[cfg(feature = "capability")]
fn put_capability(target: &mut http::HeaderMap, headers: http::HeaderMap) {
    for name in [
        crate::capability::TOKEN_HEADER,
        crate::capability::POP_HEADER,
    ] {
        target.remove(name);
    }
    target.extend(headers);
}

#[cfg(feature = "capability")]
impl PresentCapability for reqwest::RequestBuilder {
    fn with_capability(
        self,
        token: &crate::capability::CapabilityToken,
        holder: &crate::capability::SigningKey,
        tool: &str,
        args: &crate::capability::Args,
    ) -> Self {
        self.headers(capability_headers(token, holder, tool, args))
    }
}

#[cfg(feature = "capability")]
impl<B> PresentCapability for http::Request<B> {
    fn with_capability(
        mut self,
        token: &crate::capability::CapabilityToken,
        holder: &crate::capability::SigningKey,
        tool: &str,
        args: &crate::capability::Args,
    ) -> Self {
        put_capability(
            self.headers_mut(),
            capability_headers(token, holder, tool, args),
        );
        self
    }
}

#[cfg(feature = "capability")]
impl PresentCapability for http::request::Builder {
    fn with_capability(
        mut self,
        token: &crate::capability::CapabilityToken,
        holder: &crate::capability::SigningKey,
        tool: &str,
        args: &crate::capability::Args,
    ) -> Self {
        if let Some(headers) = self.headers_mut() {
            put_capability(headers, capability_headers(token, holder, tool, args));
        }
        self
    }
}

#[cfg(feature = "capability")]
impl PresentCapability for http::HeaderMap {
    fn with_capability(
        mut self,
        token: &crate::capability::CapabilityToken,
        holder: &crate::capability::SigningKey,
        tool: &str,
        args: &crate::capability::Args,
    ) -> Self {
        put_capability(&mut self, capability_headers(token, holder, tool, args));
        self
    }
}
