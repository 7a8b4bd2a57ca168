//! The value: [`Session`] and its builder.

use std::fmt;
use std::sync::{Arc, OnceLock};

use http::{HeaderMap, HeaderValue};
use rand::RngExt;

use super::headers::{self, Field, InvalidHeader};

/// One run of an agent: its id and the correlation that travels with it.
///
/// Cheap to clone (one reference count) and `Send + Sync`. Every value it
/// holds passed the checks the layer applies to a caller's headers, so what a
/// service sends on ([`Session::headers`]) is always accepted by the next
/// service's layer.
///
/// # Learning from the server
///
/// A session opened here ([`Session::open`], or by the layer) knows only its
/// id. The first answer of the TapPass server inside it (a chat's `tappass`
/// envelope, a stream's first chunk, a `/v1/govern` decision, or a decision
/// that blocks or pauses a chat or a stream) names the agent UUID, the pipeline UUID
/// and the audit URL; an [`Agent`](crate::Agent) call records them on the
/// session in scope, so that [`Session::agent_uuid`],
/// [`Session::pipeline_uuid`], [`Session::audit_url`], the response's
/// correlation headers and propagation show them from then on. What the
/// caller supplied (headers or builder) is never overwritten; clones share
/// what is learned; each field is learned once.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    inner: Arc<Inner>,
}

/// The correlation values, each kept as the header value it travels as (a
/// joined session reuses the request's bytes: a reference count, no copy).
#[derive(PartialEq, Eq)]
pub(crate) struct Inner {
    pub(crate) id: HeaderValue,
    pub(crate) agent_uuid: Option<HeaderValue>,
    pub(crate) pipeline_uuid: Option<HeaderValue>,
    /// In its normalised form (the `url` crate's serialisation).
    pub(crate) audit_url: Option<HeaderValue>,
    pub(crate) opened_here: bool,
    /// What the server's answers named for the fields the caller left out:
    /// made by the first answer that teaches something, so that a session
    /// that never learns (most joined ones) carries one empty cell, not three.
    pub(crate) learned: OnceLock<Box<Learned>>,
}

/// The fields a session learns from the server's first answer that names
/// them, each set at most once (the first answer wins) and read without a
/// lock: shared by every clone of the session, so the response echo and
/// propagation see what a call inside the session learned.
#[derive(Default, PartialEq, Eq)]
pub(crate) struct Learned {
    agent_uuid: OnceLock<HeaderValue>,
    pipeline_uuid: OnceLock<HeaderValue>,
    audit_url: OnceLock<HeaderValue>,
}

impl Inner {
    /// The agent UUID: the caller's, else the one learned.
    pub(crate) fn agent_uuid(&self) -> Option<&HeaderValue> {
        self.agent_uuid
            .as_ref()
            .or_else(|| self.learned.get()?.agent_uuid.get())
    }

    /// The pipeline UUID: the caller's, else the one learned.
    pub(crate) fn pipeline_uuid(&self) -> Option<&HeaderValue> {
        self.pipeline_uuid
            .as_ref()
            .or_else(|| self.learned.get()?.pipeline_uuid.get())
    }

    /// The audit URL: the caller's, else the one learned.
    pub(crate) fn audit_url(&self) -> Option<&HeaderValue> {
        self.audit_url
            .as_ref()
            .or_else(|| self.learned.get()?.audit_url.get())
    }
}

/// Where a field is learned, in a session's [`Learned`].
type LearnedCell = fn(&Learned) -> &OnceLock<HeaderValue>;

/// What a server's answer says about the session it was made in: the
/// `tappass` envelope of a chat, the top level of a `/v1/govern` decision.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Answered<'a> {
    /// The session the server says the answer belongs to, when it says.
    pub(crate) session_id: Option<&'a str>,
    pub(crate) agent_uuid: Option<&'a str>,
    pub(crate) pipeline_uuid: Option<&'a str>,
    pub(crate) audit_url: Option<&'a str>,
}

/// The text of a value the header checks admitted (visible ASCII only).
fn text(value: &HeaderValue) -> &str {
    value.to_str().unwrap_or_default()
}

impl Session {
    /// Starts a session with the given id; add the rest with the builder's
    /// methods, then [`build`](SessionBuilder::build) it.
    pub fn builder(id: impl Into<String>) -> SessionBuilder {
        SessionBuilder {
            id: id.into(),
            agent_uuid: None,
            pipeline_uuid: None,
            audit_url: None,
        }
    }

    /// A fresh session with a locally minted id: `ses_` followed by 24 URL-safe
    /// random characters (over 140 bits). No network round trip: a session
    /// exists on the server through the calls and events that carry its id.
    pub fn open() -> Session {
        Session::from_inner(Inner {
            id: HeaderValue::from_str(&mint_id()).expect("a minted id is visible ASCII"),
            agent_uuid: None,
            pipeline_uuid: None,
            audit_url: None,
            opened_here: true,
            learned: OnceLock::new(),
        })
    }

    #[inline]
    pub(crate) fn from_inner(inner: Inner) -> Session {
        Session {
            inner: Arc::new(inner),
        }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        text(&self.inner.id)
    }

    /// The agent UUID, when known: the caller's (from its headers or the
    /// builder), else the one the server named in its first answer inside
    /// this session (see [learning from the server](Session#learning-from-the-server)).
    pub fn agent_uuid(&self) -> Option<&str> {
        self.inner.agent_uuid().map(text)
    }

    /// The pipeline UUID, when known: the caller's, else the one the server
    /// named in its first answer inside this session.
    pub fn pipeline_uuid(&self) -> Option<&str> {
        self.inner.pipeline_uuid().map(text)
    }

    /// The dashboard link of the session, when known: the caller's, else the
    /// one the server named in its first answer inside this session. In its
    /// normalised form (as the `url` crate serialises it:
    /// `https://Dash.example:443/s` reads `https://dash.example/s`).
    pub fn audit_url(&self) -> Option<&str> {
        self.inner.audit_url().map(text)
    }

    /// Records what a server's answer names for the fields this session does
    /// not know yet. A field the caller supplied is never overwritten, a field
    /// already learned stays as first learned, an answer that names another
    /// session teaches nothing, and a value that fails the correlation-header
    /// checks is ignored (logged at debug, never its value).
    ///
    /// Costs two atomic loads per field when there is nothing to learn.
    pub(crate) fn learn(&self, answer: Answered<'_>) {
        if answer.session_id.is_some_and(|id| id != self.id()) {
            return;
        }
        let inner = &*self.inner;
        let fields: [(Field, _, LearnedCell, _); 3] = [
            (
                Field::AgentUuid,
                &inner.agent_uuid,
                |l| &l.agent_uuid,
                answer.agent_uuid,
            ),
            (
                Field::PipelineUuid,
                &inner.pipeline_uuid,
                |l| &l.pipeline_uuid,
                answer.pipeline_uuid,
            ),
            (
                Field::AuditUrl,
                &inner.audit_url,
                |l| &l.audit_url,
                answer.audit_url,
            ),
        ];
        for (field, supplied, learned, value) in fields {
            let Some(value) = value else { continue };
            if supplied.is_some()
                || inner
                    .learned
                    .get()
                    .is_some_and(|l| learned(l).get().is_some())
            {
                continue;
            }
            match field.check(value.as_bytes()) {
                // A concurrent answer may have set it first: the first stays.
                Ok(value) => {
                    let cells = inner.learned.get_or_init(Box::default);
                    let _first_wins = learned(cells).set(value);
                }
                Err(refused) => tracing::debug!(
                    header = refused.header,
                    problem = refused.problem.describe(),
                    "TapPass answered a correlation value this session cannot keep; ignored"
                ),
            }
        }
    }

    /// Whether this session was opened here ([`Session::open`]) rather than
    /// joined from a caller's headers or built.
    pub fn is_opened_here(&self) -> bool {
        self.inner.opened_here
    }

    /// The correlation headers of this session, to send to the next service so
    /// that it joins the same chain.
    pub fn headers(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(5);
        self.write_headers(&mut map);
        map
    }

    /// Puts the correlation headers of this session into `headers`, replacing
    /// any value they had.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let inner = &self.inner;
        headers::write(
            headers,
            &inner.id,
            inner.agent_uuid(),
            inner.pipeline_uuid(),
            inner.audit_url(),
        );
    }
}

/// Reads the caller's session from request headers.
///
/// Returns `Ok(None)` when the request carries no session id header, and an
/// [`InvalidHeader`] for a malformed correlation header (an id is at most
/// 128 bytes of `[A-Za-z0-9._:-]`; the audit url is an absolute `http(s)` URL
/// without user info, of at most 2,048 bytes, kept in its normalised form; a
/// repeated header must repeat the same value).
pub fn from_headers(headers: &HeaderMap) -> Result<Option<Session>, InvalidHeader> {
    read(headers).map(|(session, _)| session)
}

/// What a request's TapPass headers carry: the caller's session (as
/// [`from_headers`]) and the `X-TapPass-Resume-Token`
/// ([`RESUME_TOKEN`](super::RESUME_TOKEN)), both checked, in one pass over the
/// headers.
pub(crate) fn read(
    headers: &HeaderMap,
) -> Result<(Option<Session>, Option<HeaderValue>), InvalidHeader> {
    let carried = headers::carried(headers)?;
    let resume_token = carried.resume_token.cloned();
    let Some(id) = carried.id else {
        return Ok((None, resume_token));
    };
    // The ids are kept as the request's header values (a reference count,
    // no copy).
    let session = Session::from_inner(Inner {
        id: id.clone(),
        agent_uuid: carried.agent_uuid.cloned(),
        pipeline_uuid: carried.pipeline_uuid.cloned(),
        audit_url: carried.audit_url,
        opened_here: false,
        learned: Default::default(),
    });
    Ok((Some(session), resume_token))
}

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
///
/// [`build`](SessionBuilder::build) applies the rules the layer applies to a
/// caller's correlation headers, so a session you build is one the next
/// service accepts:
///
/// ```
/// use tappass::session::{HeaderProblem, Session};
///
/// let session = Session::builder("ses_abc")
///     .agent_uuid("agt-1")
///     .audit_url("https://Dash.example:443/sessions/ses_abc")
///     .build()?;
/// assert_eq!(session.audit_url(), Some("https://dash.example/sessions/ses_abc"));
///
/// let refused = Session::builder("ses abc").build().unwrap_err();
/// assert_eq!(refused.header, "X-TapPass-Session-Id");
/// assert_eq!(refused.problem, HeaderProblem::InvalidCharacter);
/// # Ok::<(), tappass::session::InvalidHeader>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionBuilder {
    id: String,
    agent_uuid: Option<String>,
    pipeline_uuid: Option<String>,
    audit_url: Option<String>,
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

    /// Builds the session, checking each value as the layer checks a caller's
    /// header: ids of 1 to 128 bytes of `[A-Za-z0-9._:-]`, an absolute
    /// `http(s)` audit URL without user info, of at most 2,048 bytes once
    /// normalised. The error names the field's header and never holds its value.
    pub fn build(self) -> Result<Session, InvalidHeader> {
        Ok(Session::from_inner(Inner {
            id: Field::Id.check(self.id.as_bytes())?,
            agent_uuid: self
                .agent_uuid
                .map(|v| Field::AgentUuid.check(v.as_bytes()))
                .transpose()?,
            pipeline_uuid: self
                .pipeline_uuid
                .map(|v| Field::PipelineUuid.check(v.as_bytes()))
                .transpose()?,
            audit_url: self
                .audit_url
                .map(|v| Field::AuditUrl.check(v.as_bytes()))
                .transpose()?,
            opened_here: false,
            learned: OnceLock::new(),
        }))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer<'a>(agent: &'a str, pipeline: &'a str, audit: &'a str) -> Answered<'a> {
        Answered {
            session_id: None,
            agent_uuid: Some(agent),
            pipeline_uuid: Some(pipeline),
            audit_url: Some(audit),
        }
    }

    #[test]
    fn racing_answers_teach_one_value_that_every_clone_sees() {
        let session = Session::open();
        let barrier = std::sync::Barrier::new(64);
        std::thread::scope(|threads| {
            for i in 0..64 {
                let (session, barrier) = (session.clone(), &barrier);
                threads.spawn(move || {
                    let (agent, pipeline) = (format!("agt-{i}"), format!("pip-{i}"));
                    let audit = format!("https://dash.example/s/{i}");
                    barrier.wait();
                    session.learn(answer(&agent, &pipeline, &audit));
                    // Whatever won, it is there and it stays.
                    let seen = session.agent_uuid().map(str::to_owned);
                    assert!(seen.is_some());
                    session.learn(answer("agt-late", "pip-late", "https://late.example/"));
                    assert_eq!(session.agent_uuid().map(str::to_owned), seen);
                });
            }
        });
        let winner: usize = session.agent_uuid().unwrap()["agt-".len()..]
            .parse()
            .unwrap();
        // The three fields may come from different answers, each from one.
        assert!(winner < 64);
        assert!(session.pipeline_uuid().unwrap().starts_with("pip-"));
        assert!(session
            .audit_url()
            .unwrap()
            .starts_with("https://dash.example/s/"));
        assert_eq!(
            session.headers()["x-tappass-agent-uuid"],
            session.agent_uuid().unwrap()
        );
    }

    #[test]
    fn the_callers_values_are_never_overwritten() {
        let session = Session::builder("ses_1")
            .agent_uuid("agt-caller")
            .audit_url("https://caller.example/s")
            .build()
            .unwrap();
        session.learn(answer("agt-srv", "pip-srv", "https://srv.example/s"));
        assert_eq!(session.agent_uuid(), Some("agt-caller"));
        assert_eq!(session.pipeline_uuid(), Some("pip-srv"));
        assert_eq!(session.audit_url(), Some("https://caller.example/s"));
    }

    #[test]
    fn hostile_or_foreign_answers_teach_nothing() {
        let session = Session::builder("ses_1").build().unwrap();
        // Values that fail the header checks are ignored, one by one.
        session.learn(answer("agt 1", &"p".repeat(129), "javascript:alert(1)"));
        session.learn(answer("", "pip\r\n", "https://user:pw@dash.example/"));
        assert_eq!(session.agent_uuid(), None);
        assert_eq!(session.pipeline_uuid(), None);
        assert_eq!(session.audit_url(), None);
        // An answer about another session is not about this one.
        session.learn(Answered {
            session_id: Some("ses_other"),
            ..answer("agt-1", "pip-1", "https://dash.example/")
        });
        assert_eq!(session.agent_uuid(), None);
        // The same session, named: learned.
        session.learn(Answered {
            session_id: Some("ses_1"),
            ..answer("agt-1", "pip-1", "https://Dash.example:443/")
        });
        assert_eq!(session.agent_uuid(), Some("agt-1"));
        assert_eq!(session.audit_url(), Some("https://dash.example/"));
    }

    #[test]
    fn minted_ids_are_long_unique_and_url_safe() {
        let a = Session::open();
        let b = Session::open();
        assert_ne!(a.id(), b.id());
        assert!(a.id().starts_with("ses_"));
        assert_eq!(a.id().len(), 28);
        assert!(Field::Id.check(a.id().as_bytes()).is_ok());
    }
}
