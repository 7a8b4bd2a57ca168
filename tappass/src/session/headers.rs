//! The headers: the one table of correlation header names, reading a caller's
//! session from them (with the checks the [layer](crate::layer) documents),
//! and writing a session
//! back into them.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

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
/// `X-TapPass-Resume-Token`: the `resume_token` of a `428
/// approval_required`, sent by a client that repeats the request after a
/// human approved it. It belongs to one request, not to the session: the
/// layer checks it like an id and the agent sends it upstream with the
/// governed calls made in that request (never downstream with the session).
pub const RESUME_TOKEN: HeaderName = HeaderName::from_static("x-tappass-resume-token");

/// The longest id header value accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// The longest audit-url header value accepted, in bytes (after normalisation).
pub const MAX_AUDIT_URL_LEN: usize = 2048;

/// The correlation headers, one row each: its name and its canonical
/// spelling (for errors and logs). A `static`, not a `const`: a `const` would
/// be built and dropped on every use.
static HEADERS: [Header; 6] = [
    Header::new(SESSION_ID, "X-TapPass-Session-Id"),
    Header::new(SESSION_ALIAS, "X-TapPass-Session"),
    Header::new(AGENT_UUID, "X-TapPass-Agent-Uuid"),
    Header::new(PIPELINE_UUID, "X-TapPass-Pipeline-Uuid"),
    Header::new(AUDIT_URL, "X-TapPass-Audit-Url"),
    Header::new(RESUME_TOKEN, "X-TapPass-Resume-Token"),
];

/// Rows of [`HEADERS`], by name.
const ID: usize = 0;
const ALIAS: usize = 1;
const AGENT: usize = 2;
const PIPELINE: usize = 3;
const AUDIT: usize = 4;
const RESUME: usize = 5;

/// What every correlation header name starts with: one comparison skips the
/// request's other headers.
const PREFIX: &str = "x-tappass-";

struct Header {
    name: HeaderName,
    canonical: &'static str,
}

impl Header {
    const fn new(name: HeaderName, canonical: &'static str) -> Header {
        Header { name, canonical }
    }

    /// The error for this header.
    fn refused(&self, problem: HeaderProblem) -> InvalidHeader {
        InvalidHeader {
            header: self.canonical,
            problem,
        }
    }
}

/// A field of a session, with the rule its value must follow.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Field {
    Id,
    AgentUuid,
    PipelineUuid,
    AuditUrl,
}

impl Field {
    /// The row that names this field when it is sent.
    fn header(self) -> &'static Header {
        &HEADERS[match self {
            Field::Id => ID,
            Field::AgentUuid => AGENT,
            Field::PipelineUuid => PIPELINE,
            Field::AuditUrl => AUDIT,
        }]
    }

    /// Checks `value` for this field and gives the header value it travels
    /// as (an audit URL in its normalised form); the error names the field's
    /// header.
    pub(crate) fn check(self, value: &[u8]) -> Result<HeaderValue, InvalidHeader> {
        let header = self.header();
        match self {
            Field::AuditUrl => check_audit_url(value, None).map_err(|p| header.refused(p)),
            _ => {
                check_id(value).map_err(|p| header.refused(p))?;
                // Checked: visible ASCII only.
                HeaderValue::from_bytes(value)
                    .map_err(|_| header.refused(HeaderProblem::InvalidCharacter))
            }
        }
    }
}

/// Why a correlation header (or a [`SessionBuilder`](super::SessionBuilder)
/// value) was refused.
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
    /// The audit url holds user info (`user:password@`), which must never
    /// travel in a correlation header.
    UserInfo,
    /// The id is `.` or `..`, which a URL that carries it would read as a
    /// step of its path (`…/sessions/..` is `…/`).
    DotSegment,
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
            HeaderProblem::UserInfo => "holds user info (user:password@)",
            HeaderProblem::DotSegment => "is `.` or `..`, which is no id",
        }
    }
}

/// A correlation header that was refused: `400 invalid_correlation_header`,
/// with a body naming the header and never its value.
///
/// The layer answers it for a malformed request header, the `Session`
/// extractors reject with it ([`SessionRejection::Invalid`](crate::extract::SessionRejection::Invalid)),
/// and [`SessionBuilder::build`](super::SessionBuilder::build) returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHeader {
    /// The header's canonical name, e.g. `X-TapPass-Session-Id`.
    pub header: &'static str,
    /// What is wrong with it.
    pub problem: HeaderProblem,
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "header `{}` {}; send session and agent ids (and a resume token) of at most 128 characters from [A-Za-z0-9._:-], and an absolute http(s) audit url without user info, or leave the headers out",
            self.header,
            self.problem.describe()
        )
    }
}

impl std::error::Error for InvalidHeader {}

/// What a request's TapPass headers carry, each checked: the caller's
/// session fields (the ids borrowed from the request, the audit URL in its
/// normalised form) and the `X-TapPass-Resume-Token` ([`RESUME_TOKEN`]).
/// [`Session`](super::Session) is built from it.
pub(crate) struct Carried<'a> {
    pub(crate) id: Option<&'a HeaderValue>,
    pub(crate) agent_uuid: Option<&'a HeaderValue>,
    pub(crate) pipeline_uuid: Option<&'a HeaderValue>,
    pub(crate) audit_url: Option<HeaderValue>,
    pub(crate) resume_token: Option<&'a HeaderValue>,
}

/// Reads and checks a request's TapPass headers in one pass over them: an id
/// is at most 128 bytes of `[A-Za-z0-9._:-]`; the audit url is an absolute
/// `http(s)` URL without user info, of at most 2,048 bytes, kept in its
/// normalised form; a repeated header must repeat the same value.
pub(crate) fn carried(headers: &HeaderMap) -> Result<Carried<'_>, InvalidHeader> {
    let found = scan(headers);
    // An id header, checked; its value is borrowed until the session is built.
    let id_header = |row: usize| -> Result<Option<&HeaderValue>, InvalidHeader> {
        match found[row] {
            Seen::Absent => Ok(None),
            Seen::Conflict => Err(HEADERS[row].refused(HeaderProblem::Conflicting)),
            Seen::One(value) => match check_id(value.as_bytes()) {
                Ok(()) => Ok(Some(value)),
                Err(problem) => Err(HEADERS[row].refused(problem)),
            },
        }
    };
    let id = match id_header(ID)? {
        Some(id) => {
            // The alias may come along; it must then agree.
            if let Some(alias) = id_header(ALIAS)? {
                if alias != id {
                    return Err(HEADERS[ID].refused(HeaderProblem::Conflicting));
                }
            }
            Some(id)
        }
        None => id_header(ALIAS)?,
    };
    // The optional fields: an empty one is absent (a service built on the
    // Python SDK sends `""` for what it does not know); an empty session id
    // or resume token stays malformed.
    let optional = |row: usize| match found[row] {
        Seen::One(value) if value.is_empty() => Ok(None),
        _ => id_header(row),
    };
    let agent_uuid = optional(AGENT)?;
    let pipeline_uuid = optional(PIPELINE)?;
    let resume_token = id_header(RESUME)?;
    let audit_url = match found[AUDIT] {
        Seen::Absent => None,
        Seen::One(value) if value.is_empty() => None,
        Seen::Conflict => return Err(HEADERS[AUDIT].refused(HeaderProblem::Conflicting)),
        Seen::One(value) => Some(
            check_audit_url(value.as_bytes(), Some(value))
                .map_err(|p| HEADERS[AUDIT].refused(p))?,
        ),
    };
    Ok(Carried {
        id,
        agent_uuid,
        pipeline_uuid,
        audit_url,
        resume_token,
    })
}

/// Writes a session's fields under their headers, replacing any value. The
/// id goes under both spellings, so that a service built on the Python SDK,
/// which reads only `X-TapPass-Session`, joins the same session
/// (`docs/protocol.md`, Interoperating).
pub(crate) fn write(
    headers: &mut HeaderMap,
    id: &HeaderValue,
    agent_uuid: Option<&HeaderValue>,
    pipeline_uuid: Option<&HeaderValue>,
    audit_url: Option<&HeaderValue>,
) {
    headers.insert(HEADERS[ID].name.clone(), id.clone());
    headers.insert(HEADERS[ALIAS].name.clone(), id.clone());
    let rest = [
        (AGENT, agent_uuid),
        (PIPELINE, pipeline_uuid),
        (AUDIT, audit_url),
    ];
    for (row, value) in rest {
        if let Some(value) = value {
            headers.insert(HEADERS[row].name.clone(), value.clone());
        }
    }
}

#[derive(Clone, Copy)]
enum Seen<'a> {
    Absent,
    One(&'a HeaderValue),
    Conflict,
}

/// Finds the correlation headers in one pass over the request's headers
/// (cheaper than one hash lookup per name, and free when there are none).
fn scan(headers: &HeaderMap) -> [Seen<'_>; 6] {
    let mut found = [Seen::Absent; 6];
    for (name, value) in headers {
        let name = name.as_str();
        let Some(row) = row(name) else {
            continue;
        };
        found[row] = match found[row] {
            Seen::Absent => Seen::One(value),
            Seen::One(first) if first == value => Seen::One(first),
            Seen::One(_) | Seen::Conflict => Seen::Conflict,
        };
    }
    found
}

/// Each row's name length and the letter after the prefix, read from the
/// table: together they tell the rows apart, so a request's header is
/// compared in full with one row at most.
static KEYS: [(usize, u8); 6] = {
    let mut keys = [(0, 0); 6];
    let mut row = 0;
    while row < HEADERS.len() {
        let name = HEADERS[row].canonical.as_bytes();
        keys[row] = (name.len(), name[PREFIX.len()].to_ascii_lowercase());
        row += 1;
    }
    keys
};

/// The table's row of a request's header name, if it is one of ours.
#[inline]
fn row(name: &str) -> Option<usize> {
    let key = (name.len(), *name.as_bytes().get(PREFIX.len())?);
    let row = KEYS.iter().position(|&k| k == key)?;
    (HEADERS[row].name.as_str() == name).then_some(row)
}

/// Whether `value` passes the checks of an id header.
pub(crate) fn is_id(value: &[u8]) -> bool {
    check_id(value).is_ok()
}

fn check_id(value: &[u8]) -> Result<(), HeaderProblem> {
    if value.is_empty() {
        return Err(HeaderProblem::Empty);
    }
    if value.len() > MAX_ID_LEN {
        return Err(HeaderProblem::TooLong);
    }
    // Every byte, without an early exit: a loop LLVM unrolls, and ids are
    // short and almost always valid.
    if !value
        .iter()
        .fold(true, |valid, &b| valid & ID_BYTES[usize::from(b)])
    {
        return Err(HeaderProblem::InvalidCharacter);
    }
    if matches!(value, b"." | b"..") {
        return Err(HeaderProblem::DotSegment);
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

/// Checks an audit URL and gives it in its normalised form: the `url` crate's
/// serialisation, which is what is stored, echoed and sent on. `raw` (the
/// request's own header value) is reused when it already is that form.
fn check_audit_url(value: &[u8], raw: Option<&HeaderValue>) -> Result<HeaderValue, HeaderProblem> {
    if value.is_empty() {
        return Err(HeaderProblem::Empty);
    }
    if value.len() > MAX_AUDIT_URL_LEN {
        return Err(HeaderProblem::TooLong);
    }
    if !value.iter().all(u8::is_ascii_graphic) {
        return Err(HeaderProblem::NotHttpUrl);
    }
    // Visible ASCII, so UTF-8.
    let text = std::str::from_utf8(value).map_err(|_| HeaderProblem::NotHttpUrl)?;
    let url = match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url,
        _ => return Err(HeaderProblem::NotHttpUrl),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HeaderProblem::UserInfo);
    }
    let normal = url.as_str();
    if normal.len() > MAX_AUDIT_URL_LEN {
        return Err(HeaderProblem::TooLong);
    }
    match raw {
        Some(raw) if raw.as_bytes() == normal.as_bytes() => Ok(raw.clone()),
        // The serialisation of an http(s) URL is visible ASCII.
        _ => HeaderValue::from_str(normal).map_err(|_| HeaderProblem::NotHttpUrl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{from_headers, Session};

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

    #[test]
    fn each_row_has_a_key_of_its_own_and_every_name_finds_its_row() {
        for (row, header) in HEADERS.iter().enumerate() {
            assert_eq!(KEYS.iter().filter(|&&k| k == KEYS[row]).count(), 1);
            assert_eq!(super::row(header.name.as_str()), Some(row));
        }
        for other in [
            "host",
            "x-tappass-session-ix",
            "x-tappass-",
            "x-tappass-sessions",
            "y-tappass-session-id",
        ] {
            assert_eq!(super::row(other), None, "{other}");
        }
    }

    /// The problem `from_headers` finds in `pairs`, with the header it names.
    fn refused(pairs: &[(&str, &str)]) -> (&'static str, HeaderProblem) {
        let e = from_headers(&headers(pairs)).unwrap_err();
        (e.header, e.problem)
    }

    #[test]
    fn a_header_repeated_with_another_value_conflicts() {
        for (name, canonical, value) in [
            ("x-tappass-session-id", "X-TapPass-Session-Id", "s"),
            ("x-tappass-session", "X-TapPass-Session", "s"),
            ("x-tappass-agent-uuid", "X-TapPass-Agent-Uuid", "a"),
            (
                "x-tappass-audit-url",
                "X-TapPass-Audit-Url",
                "http://x.example/",
            ),
            ("x-tappass-resume-token", "X-TapPass-Resume-Token", "r"),
        ] {
            let other = format!("{value}2");
            assert_eq!(
                refused(&[("x-tappass-session-id", "s"), (name, value), (name, &other),]),
                (canonical, HeaderProblem::Conflicting),
                "{name}"
            );
        }
        // The alias may repeat the id; then it is one session.
        let same = [("x-tappass-session-id", "s1"), ("x-tappass-session", "s1")];
        assert_eq!(from_headers(&headers(&same)).unwrap().unwrap().id(), "s1");
    }

    #[test]
    fn ids_are_read_exactly_up_to_128_bytes_of_the_class() {
        let longest = "a".repeat(MAX_ID_LEN);
        let session = from_headers(&headers(&[("x-tappass-session-id", &longest)]));
        assert_eq!(session.unwrap().unwrap().id(), longest);
        let over = "a".repeat(MAX_ID_LEN + 1);
        for (value, problem) in [
            (over.as_str(), HeaderProblem::TooLong),
            ("", HeaderProblem::Empty),
            ("a b", HeaderProblem::InvalidCharacter),
            ("a/b", HeaderProblem::InvalidCharacter),
            (".", HeaderProblem::DotSegment),
            ("..", HeaderProblem::DotSegment),
        ] {
            assert_eq!(
                refused(&[("x-tappass-session-id", value)]),
                ("X-TapPass-Session-Id", problem),
                "{value:?}"
            );
            assert!(!is_id(value.as_bytes()), "{value:?}");
        }
        assert!(is_id(b"ses_1.a:b-C"));
        assert!(is_id(b"..."));
        assert!(!is_id("é".as_bytes()));
    }

    /// An audit URL of `len` bytes: `http://x.example/` and a path of `a`s.
    fn audit_url_of(len: usize) -> String {
        let base = "http://x.example/";
        format!("{base}{}", "a".repeat(len - base.len()))
    }

    #[test]
    fn audit_urls_are_read_up_to_2048_bytes_after_normalisation() {
        let audit = |url: &str| {
            from_headers(&headers(&[
                ("x-tappass-session-id", "s"),
                ("x-tappass-audit-url", url),
            ]))
        };
        let longest = audit_url_of(MAX_AUDIT_URL_LEN);
        let session = audit(&longest).unwrap().unwrap();
        assert_eq!(session.audit_url(), Some(longest.as_str()));
        let over = audit_url_of(MAX_AUDIT_URL_LEN + 1);
        assert_eq!(audit(&over).unwrap_err().problem, HeaderProblem::TooLong);
        // 2,048 bytes as sent, 2,049 once normalised (the path's `/`).
        let grows = format!("http://x.example?{}", "a".repeat(MAX_AUDIT_URL_LEN - 17));
        assert_eq!(grows.len(), MAX_AUDIT_URL_LEN);
        assert_eq!(audit(&grows).unwrap_err().problem, HeaderProblem::TooLong);
        // What is kept is the normalised form, never the raw one.
        let session = audit("HTTP://X.Example").unwrap().unwrap();
        assert_eq!(session.audit_url(), Some("http://x.example/"));
        // User info, a user or a password alone, is refused.
        for url in [
            "http://user@x.example/",
            "http://:pw@x.example/",
            "http://u:p@x.example/",
        ] {
            assert_eq!(
                audit(url).unwrap_err().problem,
                HeaderProblem::UserInfo,
                "{url}"
            );
        }
        assert_eq!(
            audit("http://x.example/a b").unwrap_err().problem,
            HeaderProblem::NotHttpUrl
        );
    }

    #[test]
    fn a_built_session_checks_each_field_by_its_own_rule() {
        let session = Session::builder("s")
            .agent_uuid("a")
            .audit_url("HTTPS://X.example/a/../b")
            .build()
            .unwrap();
        assert_eq!(session.audit_url(), Some("https://x.example/b"));
        let e = Session::builder("s")
            .audit_url("ftp://x/")
            .build()
            .unwrap_err();
        assert_eq!(
            (e.header, e.problem),
            ("X-TapPass-Audit-Url", HeaderProblem::NotHttpUrl)
        );
        let e = Session::builder("s").agent_uuid("a/b").build().unwrap_err();
        assert_eq!(
            (e.header, e.problem),
            ("X-TapPass-Agent-Uuid", HeaderProblem::InvalidCharacter)
        );
        let e = Session::builder("s").pipeline_uuid("").build().unwrap_err();
        assert_eq!(
            (e.header, e.problem),
            ("X-TapPass-Pipeline-Uuid", HeaderProblem::Empty)
        );
        let e = Session::builder("..").build().unwrap_err();
        assert_eq!(
            (e.header, e.problem),
            ("X-TapPass-Session-Id", HeaderProblem::DotSegment)
        );
    }

    #[test]
    fn a_refusal_names_the_header_and_says_what_is_wrong() {
        let problems = [
            HeaderProblem::Empty,
            HeaderProblem::TooLong,
            HeaderProblem::InvalidCharacter,
            HeaderProblem::Conflicting,
            HeaderProblem::NotHttpUrl,
            HeaderProblem::UserInfo,
            HeaderProblem::DotSegment,
        ];
        let said: std::collections::HashSet<_> = problems.iter().map(|p| p.describe()).collect();
        assert_eq!(said.len(), problems.len(), "one description each");
        for problem in problems {
            assert!(!problem.describe().trim().is_empty());
            let shown = HEADERS[AGENT].refused(problem).to_string();
            assert!(
                shown.starts_with("header `X-TapPass-Agent-Uuid` ")
                    && shown.contains(problem.describe()),
                "{shown}"
            );
        }
    }

    /// An empty agent, pipeline or audit-url header is absent (a service on
    /// the Python SDK sends `""` for what it does not know); an empty
    /// session id or resume token is malformed.
    #[test]
    fn empty_optional_headers_are_absent_and_an_empty_id_is_not() {
        let session = from_headers(&headers(&[
            ("x-tappass-session-id", "s"),
            ("x-tappass-agent-uuid", ""),
            ("x-tappass-pipeline-uuid", ""),
            ("x-tappass-audit-url", ""),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                session.agent_uuid(),
                session.pipeline_uuid(),
                session.audit_url()
            ),
            (None, None, None)
        );
        for (name, canonical) in [
            ("x-tappass-session-id", "X-TapPass-Session-Id"),
            ("x-tappass-resume-token", "X-TapPass-Resume-Token"),
        ] {
            assert_eq!(
                refused(&[("x-tappass-session", "s"), (name, "")]),
                (canonical, HeaderProblem::Empty)
            );
        }
    }

    #[test]
    fn written_headers_carry_the_session_under_both_spellings() {
        let mut map = headers(&[("x-tappass-session-id", "old")]);
        let id = HeaderValue::from_static("s");
        let audit = HeaderValue::from_static("http://x.example/");
        write(
            &mut map,
            &id,
            None,
            Some(&HeaderValue::from_static("p")),
            Some(&audit),
        );
        assert_eq!(map.get_all(SESSION_ID).iter().collect::<Vec<_>>(), [&id]);
        assert_eq!(map[SESSION_ALIAS], id);
        assert_eq!(map[PIPELINE_UUID], "p");
        assert_eq!(map[AUDIT_URL], audit);
        assert!(map.get(AGENT_UUID).is_none());
        let session = from_headers(&map).unwrap().unwrap();
        assert_eq!((session.id(), session.pipeline_uuid()), ("s", Some("p")));
    }

    #[test]
    fn the_table_spells_each_name_as_its_constant() {
        for header in &HEADERS {
            assert_eq!(header.canonical.to_ascii_lowercase(), header.name.as_str());
            assert!(header.name.as_str().starts_with(PREFIX));
        }
    }
}
