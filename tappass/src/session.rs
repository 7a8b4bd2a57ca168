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
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let session = Session::builder("ses_abc").agent_uuid("agt-1").build();
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
//! # }
//! ```

use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use rand::RngExt;

/// `X-TapPass-Session-Id`: the session id.
pub const SESSION_ID: HeaderName = HeaderName::from_static("x-tappass-session-id");
/// `X-TapPass-Session`: an alias of [`SESSION_ID`] that some senders use.
pub const SESSION_ALIAS: HeaderName = HeaderName::from_static("x-tappass-session");
/// `X-TapPass-Agent-Uuid`: the agent UUID.
pub const AGENT_UUID: HeaderName = HeaderName::from_static("x-tappass-agent-uuid");
/// `X-TapPass-Pipeline-Uuid`: the pipeline UUID.
pub const PIPELINE_UUID: HeaderName = HeaderName::from_static("x-tappass-pipeline-uuid");
/// `X-TapPass-Audit-Url`: the dashboard link of the session.
pub const AUDIT_URL: HeaderName = HeaderName::from_static("x-tappass-audit-url");

/// The longest id header value accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// The longest audit-url header value accepted, in bytes.
pub const MAX_AUDIT_URL_LEN: usize = 2048;

tokio::task_local! {
    static CURRENT: Current;
}

/// What a task runs in: its session (or explicitly none), and, inside
/// [`TapPassLayer`](crate::TapPassLayer), what the layer resolved for the
/// request. The extractors read the layer's part from here, so the layer puts
/// nothing in the request's extensions.
pub(crate) struct Current {
    pub(crate) session: Option<Session>,
    pub(crate) layer: Option<LayerContext>,
}

/// What the layer resolved for a request, beside its session.
pub(crate) struct LayerContext {
    /// The layer's agent, for the `Agent` extractor.
    pub(crate) agent: crate::Agent,
    /// Whether the layer opened the session (rather than joined the caller's).
    pub(crate) opened: bool,
}

impl Current {
    /// A session (or none), outside any layer.
    pub(crate) fn bare(session: Option<Session>) -> Current {
        Current {
            session,
            layer: None,
        }
    }
}

/// One run of an agent: its id and the correlation that travels with it.
///
/// Cheap to clone (one reference count) and `Send + Sync`.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    inner: Arc<Inner>,
}

/// Id, agent, pipeline and audit url, in the order of [`HEADER_NAMES`].
#[derive(PartialEq, Eq)]
struct Inner {
    fields: [Option<Field>; 4],
    opened_here: bool,
}

/// One correlation value. A value that can travel in a header is kept as the
/// header value itself (a joined session reuses the request's bytes, no copy);
/// any other is kept as text and never sent.
#[derive(PartialEq, Eq)]
enum Field {
    Header(HeaderValue),
    Text(Box<str>),
}

impl Field {
    fn new(text: String) -> Field {
        match HeaderValue::from_str(&text) {
            Ok(value) => Field::Header(value),
            Err(_) => Field::Text(text.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // `HeaderValue::from_str` and the header checks only admit ASCII.
            Field::Header(value) => value.to_str().unwrap_or_default(),
            Field::Text(text) => text,
        }
    }
}

impl Session {
    /// Starts a session with the given id; add the rest with the builder's methods.
    pub fn builder(id: impl Into<String>) -> SessionBuilder {
        SessionBuilder {
            id: id.into(),
            agent_uuid: None,
            pipeline_uuid: None,
            audit_url: None,
            opened_here: false,
        }
    }

    /// A fresh session with a locally minted id: `ses_` followed by 24 URL-safe
    /// random characters (over 140 bits). No network round trip: a session
    /// exists on the server through the calls and events that carry its id.
    pub fn open() -> Session {
        let mut builder = Session::builder(mint_id());
        builder.opened_here = true;
        builder.build()
    }

    /// The session id.
    pub fn id(&self) -> &str {
        self.field(0).unwrap_or_default()
    }

    /// The agent UUID, when known.
    pub fn agent_uuid(&self) -> Option<&str> {
        self.field(1)
    }

    /// The pipeline UUID, when known.
    pub fn pipeline_uuid(&self) -> Option<&str> {
        self.field(2)
    }

    /// The dashboard link of the session, when known.
    pub fn audit_url(&self) -> Option<&str> {
        self.field(3)
    }

    /// Whether this session was opened here ([`Session::open`]) rather than
    /// joined from a caller's headers.
    pub fn is_opened_here(&self) -> bool {
        self.inner.opened_here
    }

    /// The correlation headers of this session, to send to the next service so
    /// that it joins the same chain.
    pub fn headers(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(4);
        self.write_headers(&mut map);
        map
    }

    /// Puts the correlation headers of this session into `headers`, replacing
    /// any value they had.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        for (name, field) in HEADER_NAMES.iter().zip(&self.inner.fields) {
            if let Some(Field::Header(value)) = field {
                headers.insert(name.clone(), value.clone());
            }
        }
    }

    fn field(&self, index: usize) -> Option<&str> {
        self.inner.fields[index].as_ref().map(Field::as_str)
    }
}

// A `static`, not a `const`: a `const` array would be built and dropped on every use.
static HEADER_NAMES: [HeaderName; 4] = [SESSION_ID, AGENT_UUID, PIPELINE_UUID, AUDIT_URL];

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id())
            .field("agent_uuid", &self.agent_uuid())
            .field("pipeline_uuid", &self.pipeline_uuid())
            .field("audit_url", &self.audit_url())
            .finish()
    }
}

/// Builds a [`Session`]; see [`Session::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionBuilder {
    id: String,
    agent_uuid: Option<String>,
    pipeline_uuid: Option<String>,
    audit_url: Option<String>,
    opened_here: bool,
}

impl SessionBuilder {
    /// Sets the agent UUID.
    pub fn agent_uuid(mut self, agent_uuid: impl Into<String>) -> Self {
        self.agent_uuid = Some(agent_uuid.into());
        self
    }

    /// Sets the pipeline UUID.
    pub fn pipeline_uuid(mut self, pipeline_uuid: impl Into<String>) -> Self {
        self.pipeline_uuid = Some(pipeline_uuid.into());
        self
    }

    /// Sets the dashboard link.
    pub fn audit_url(mut self, audit_url: impl Into<String>) -> Self {
        self.audit_url = Some(audit_url.into());
        self
    }

    /// Builds the session. A value that cannot travel in an HTTP header is kept
    /// on the session but left out of [`Session::headers`].
    pub fn build(self) -> Session {
        Session {
            inner: Arc::new(Inner {
                fields: [
                    Some(Field::new(self.id)),
                    self.agent_uuid.map(Field::new),
                    self.pipeline_uuid.map(Field::new),
                    self.audit_url.map(Field::new),
                ],
                opened_here: self.opened_here,
            }),
        }
    }
}

/// The session of the current task, or `None` outside a session.
///
/// Inside a request served behind [`TapPassLayer`](crate::TapPassLayer), a
/// `#[governed]` handler, or a future run with [`scope`], this is the request's
/// session. It is a tokio task-local: concurrent requests never see each
/// other's session, and `tokio::spawn`ed work sees none unless it is wrapped in
/// [`scope`].
pub fn current_session() -> Option<Session> {
    CURRENT.try_with(|c| c.session.clone()).ok().flatten()
}

/// Runs `f` with the current session, without cloning it.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Session>) -> R) -> R {
    let mut f = Some(f);
    match CURRENT.try_with(|c| (f.take().expect("called once"))(c.session.as_ref())) {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called yet"))(None),
    }
}

/// Runs `f` with what the layer resolved for this task (the request's session,
/// or none, and the layer's part), borrowed; `None` when no layer runs it.
/// Callers clone only what they keep.
pub(crate) fn with_layer<R>(f: impl FnOnce(Option<&Session>, &LayerContext) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.layer.as_ref().map(|layer| f(c.session.as_ref(), layer)))
        .ok()
        .flatten()
}

/// Runs `future` inside `session`: [`current_session()`] returns it there.
///
/// Use it for work a handler spawns, since tokio does not carry task-locals
/// into `tokio::spawn`:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let session = tappass::current_session().unwrap_or_else(tappass::Session::open);
/// let task = tokio::spawn(tappass::session::scope(session, async {
///     tappass::current_session().is_some()
/// }));
/// assert!(task.await.unwrap());
/// # }
/// ```
pub fn scope<F: IntoFuture>(session: Session, future: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(Current::bare(Some(session)), future.into_future())
}

/// `future` run in `current`, as a nameable future type that gives `current`
/// back when it is done ([`TaskLocalFuture::take_value`]).
///
/// [`TaskLocalFuture::take_value`]: tokio::task::futures::TaskLocalFuture::take_value
pub(crate) fn scoped<F: Future>(
    current: Current,
    future: F,
) -> tokio::task::futures::TaskLocalFuture<Current, F> {
    CURRENT.scope(current, future)
}

/// Runs `f` synchronously inside `session`.
pub fn sync_scope<R>(session: Session, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(Current::bare(Some(session)), f)
}

/// Runs `f` synchronously inside `session`, or outside any session for `None`.
pub(crate) fn sync_scope_opt<R>(session: Option<Session>, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(Current::bare(session), f)
}

fn mint_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    let mut id = String::with_capacity(28);
    id.push_str("ses_");
    for _ in 0..24 {
        id.push(ALPHABET[rng.random_range(0..64)] as char);
    }
    id
}

/// Why a correlation header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// The header is present but empty.
    Empty,
    /// The value is longer than allowed.
    TooLong,
    /// The value holds a character outside `[A-Za-z0-9._:-]`.
    InvalidCharacter,
    /// The header is repeated with different values.
    Conflicting,
    /// The audit url is not an absolute `http` or `https` URL.
    NotHttpUrl,
}

impl HeaderProblem {
    /// A short description, safe to show to a client (it never holds the value).
    pub fn describe(self) -> &'static str {
        match self {
            HeaderProblem::Empty => "is empty",
            HeaderProblem::TooLong => "is too long",
            HeaderProblem::InvalidCharacter => "holds a character outside [A-Za-z0-9._:-]",
            HeaderProblem::Conflicting => "is repeated with different values",
            HeaderProblem::NotHttpUrl => "is not an absolute http or https URL",
        }
    }
}

/// A correlation header that the layer refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHeader {
    /// The header's canonical name, e.g. `X-TapPass-Session-Id`.
    pub header: &'static str,
    /// What is wrong with it.
    pub problem: HeaderProblem,
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "header `{}` {}", self.header, self.problem.describe())
    }
}

impl std::error::Error for InvalidHeader {}

/// Reads the caller's session from request headers.
///
/// Returns `Ok(None)` when the request carries no session id header, and an
/// [`InvalidHeader`] for a malformed correlation header (see `DESIGN.md`: an
/// id is at most 128 bytes of `[A-Za-z0-9._:-]`; the audit url is an absolute
/// `http(s)` URL of at most 2,048 bytes; a repeated header must repeat the
/// same value).
pub fn from_headers(headers: &HeaderMap) -> Result<Option<Session>, InvalidHeader> {
    let found = scan(headers);
    let slot = |i: usize| -> Result<Option<&HeaderValue>, InvalidHeader> {
        let (header, check) = SLOTS[i];
        let fail = |problem| InvalidHeader { header, problem };
        match found[i] {
            Slot::Absent => Ok(None),
            Slot::Conflict(_) => Err(fail(HeaderProblem::Conflicting)),
            Slot::One(value) => {
                check(value.as_bytes()).map_err(fail)?;
                Ok(Some(value))
            }
        }
    };
    let id = match slot(0)? {
        Some(id) => {
            // The alias may come along; it must then agree.
            if let Some(alias) = slot(1)? {
                if alias != id {
                    return Err(InvalidHeader {
                        header: SLOTS[0].0,
                        problem: HeaderProblem::Conflicting,
                    });
                }
            }
            Some(id)
        }
        None => slot(1)?,
    };
    let agent = slot(2)?;
    let pipeline = slot(3)?;
    let audit = slot(4)?;
    let Some(id) = id else {
        return Ok(None);
    };
    // The values were checked to be visible ASCII: the session keeps the
    // request's header values as they are (a reference count, no copy).
    let keep = |v: Option<&HeaderValue>| v.cloned().map(Field::Header);
    Ok(Some(Session {
        inner: Arc::new(Inner {
            fields: [keep(Some(id)), keep(agent), keep(pipeline), keep(audit)],
            opened_here: false,
        }),
    }))
}

type Check = fn(&[u8]) -> Result<(), HeaderProblem>;

/// The correlation headers in the order they are read and checked.
const SLOTS: [(&str, Check); 5] = [
    ("X-TapPass-Session-Id", check_id),
    ("X-TapPass-Session", check_id),
    ("X-TapPass-Agent-Uuid", check_id),
    ("X-TapPass-Pipeline-Uuid", check_id),
    ("X-TapPass-Audit-Url", check_audit_url),
];

#[derive(Clone, Copy)]
enum Slot<'a> {
    Absent,
    One(&'a HeaderValue),
    Conflict(&'a HeaderValue),
}

/// Finds the correlation headers in one pass over the request's headers
/// (cheaper than one hash lookup per name, and free when there are none).
fn scan(headers: &HeaderMap) -> [Slot<'_>; 5] {
    let mut found = [Slot::Absent; 5];
    for (name, value) in headers {
        let Some(rest) = name.as_str().strip_prefix("x-tappass-") else {
            continue;
        };
        let index = match rest {
            "session-id" => 0,
            "session" => 1,
            "agent-uuid" => 2,
            "pipeline-uuid" => 3,
            "audit-url" => 4,
            _ => continue,
        };
        found[index] = match found[index] {
            Slot::Absent => Slot::One(value),
            Slot::One(first) if first == value => Slot::One(first),
            Slot::One(first) | Slot::Conflict(first) => Slot::Conflict(first),
        };
    }
    found
}

fn check_id(value: &[u8]) -> Result<(), HeaderProblem> {
    if value.is_empty() {
        return Err(HeaderProblem::Empty);
    }
    if value.len() > MAX_ID_LEN {
        return Err(HeaderProblem::TooLong);
    }
    if !value.iter().all(|&b| ID_BYTES[usize::from(b)]) {
        return Err(HeaderProblem::InvalidCharacter);
    }
    Ok(())
}

/// The bytes an id may hold, `[A-Za-z0-9._:-]`, as a table: one load per byte
/// on the hot path of every joined request.
const ID_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-');
        b += 1;
    }
    table
};

fn check_audit_url(value: &[u8]) -> Result<(), HeaderProblem> {
    if value.is_empty() {
        return Err(HeaderProblem::Empty);
    }
    if value.len() > MAX_AUDIT_URL_LEN {
        return Err(HeaderProblem::TooLong);
    }
    let text = std::str::from_utf8(value).map_err(|_| HeaderProblem::NotHttpUrl)?;
    if text.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(HeaderProblem::NotHttpUrl);
    }
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(()),
        _ => Err(HeaderProblem::NotHttpUrl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn minted_ids_are_long_unique_and_url_safe() {
        let a = Session::open();
        let b = Session::open();
        assert_ne!(a.id(), b.id());
        assert!(a.id().starts_with("ses_"));
        assert_eq!(a.id().len(), 28);
        assert!(check_id(a.id().as_bytes()).is_ok());
    }

    #[test]
    fn repeated_identical_values_are_accepted() {
        let h = headers(&[
            ("x-tappass-session-id", "ses_1"),
            ("x-tappass-session-id", "ses_1"),
        ]);
        assert_eq!(from_headers(&h).unwrap().unwrap().id(), "ses_1");
    }

    #[test]
    fn alias_disagreeing_with_id_is_refused() {
        let h = headers(&[
            ("x-tappass-session-id", "ses_1"),
            ("x-tappass-session", "ses_2"),
        ]);
        assert_eq!(
            from_headers(&h).unwrap_err().problem,
            HeaderProblem::Conflicting
        );
    }

    #[test]
    fn id_byte_table_is_the_documented_class() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"._:-".contains(&b);
            assert_eq!(ID_BYTES[usize::from(b)], expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn audit_url_must_be_http() {
        for bad in ["ftp://x/y", "/relative", "javascript:alert(1)", "http://"] {
            let h = headers(&[("x-tappass-session-id", "s"), ("x-tappass-audit-url", bad)]);
            assert_eq!(
                from_headers(&h).unwrap_err().header,
                "X-TapPass-Audit-Url",
                "{bad}"
            );
        }
    }
}
