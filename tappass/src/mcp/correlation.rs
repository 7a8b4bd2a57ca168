//! The caller's session and resume token for one `tools/call`, read from
//! where MCP clients put them: the call's params (`tappass-correlation`, as
//! the Python SDK's `with_correlation` stamps a message), its `_meta`
//! (`tappass-correlation`, `tappass-resume-token`) and the HTTP request's
//! `X-TapPass-*` headers. Every value passes the checks the layer applies to
//! a header; a malformed one refuses the call, naming where it was, never
//! showing its value.

use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};

use crate::session::{self, InvalidHeader, Session};

/// The member that carries the caller's session, in the params or `_meta`.
pub const CORRELATION_KEY: &str = "tappass-correlation";
/// The `_meta` member that carries the resume token of an approval.
pub const RESUME_TOKEN_KEY: &str = "tappass-resume-token";

/// What the params of a call said, as the HTTP wrapper read them
/// ([`super::http`]); absent when the call did not come through it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FromParams {
    /// The params carry no `tappass-correlation`.
    Absent,
    /// The value of `params["tappass-correlation"]`.
    Value(Value),
    /// The body names `tappass-correlation` in a way that has no one
    /// meaning (a member repeated, params that are not an object).
    Unreadable(&'static str),
}

/// What a call carries: the caller's session and the resume token.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    pub(crate) session: Option<Session>,
    pub(crate) resume_token: Option<HeaderValue>,
}

/// A correlation the call cannot be made in: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// Where the value was: `params.tappass-correlation.session_id`,
    /// `X-TapPass-Session-Id`, ….
    pub(crate) field: String,
    pub(crate) message: String,
}

impl Refused {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Refused {
        Refused {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The JSON-RPC error (`-32602`, invalid params) the call is answered with.
    pub(crate) fn into_error(self) -> rmcp::ErrorData {
        rmcp::ErrorData::invalid_params(
            self.message,
            Some(serde_json::json!({"error": "invalid_correlation", "field": self.field})),
        )
    }
}

/// Reads a call's correlation from its three places. One session at most:
/// two places that name different sessions refuse the call, and so do two
/// different resume tokens.
pub(crate) fn read(
    params: &FromParams,
    meta: &Map<String, Value>,
    headers: Option<&HeaderMap>,
) -> Result<Carried, Refused> {
    let from_params = match params {
        FromParams::Absent => None,
        FromParams::Value(value) => object_session("params.tappass-correlation", value)?,
        FromParams::Unreadable(why) => {
            return Err(Refused::new(
                "params.tappass-correlation",
                format!("the call's `params.tappass-correlation` cannot be read: {why}; send it once, as a JSON object"),
            ))
        }
    };
    let from_meta = match meta.get(CORRELATION_KEY) {
        Some(value) => object_session("_meta.tappass-correlation", value)?,
        None => None,
    };
    let (from_headers, header_token) = match headers {
        Some(headers) => session::read(headers).map_err(header_refused)?,
        None => (None, None),
    };
    let meta_token = match meta.get(RESUME_TOKEN_KEY) {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) if session::is_id(token.as_bytes()) => {
            HeaderValue::from_str(token).ok()
        }
        Some(Value::String(_)) => {
            return Err(Refused::new(
                "_meta.tappass-resume-token",
                "`_meta.tappass-resume-token` is not a resume token (1 to 128 characters of [A-Za-z0-9._:-]): send the `resume_token` of the approval as it came",
            ))
        }
        Some(_) => {
            return Err(Refused::new(
                "_meta.tappass-resume-token",
                "`_meta.tappass-resume-token` must be a string: the `resume_token` of the approval",
            ))
        }
    };

    let mut session: Option<(&str, Session)> = None;
    for (place, found) in [
        ("params.tappass-correlation", from_params),
        ("_meta.tappass-correlation", from_meta),
        ("the X-TapPass-Session-Id header", from_headers),
    ] {
        let Some(found) = found else { continue };
        match &session {
            Some((first, kept)) if kept.id() != found.id() => {
                return Err(Refused::new(
                    place,
                    format!("the call names two different sessions, in {first} and in {place}: name the caller's session once"),
                ))
            }
            Some(_) => {}
            None => session = Some((place, found)),
        }
    }
    let resume_token = match (meta_token, header_token) {
        (Some(meta), Some(header)) if meta != header => {
            return Err(Refused::new(
                "_meta.tappass-resume-token",
                "the call carries two different resume tokens, in `_meta.tappass-resume-token` and in the X-TapPass-Resume-Token header: send one",
            ))
        }
        (Some(token), _) | (None, Some(token)) => Some(token),
        (None, None) => None,
    };
    Ok(Carried {
        session: session.map(|(_, session)| session),
        resume_token,
    })
}

/// A session from a `tappass-correlation` object, as the Python SDK writes
/// it: `session_id` (required), `agent_uuid`, `pipeline_uuid`, `audit_url`
/// (strings; empty or `null` mean unknown, as the SDK sends them). Other
/// members are left for later versions to define. `null` is no session.
fn object_session(place: &str, value: &Value) -> Result<Option<Session>, Refused> {
    let fields = match value {
        Value::Null => return Ok(None),
        Value::Object(fields) => fields,
        _ => {
            return Err(Refused::new(
                place,
                format!("`{place}` must be a JSON object: {{\"session_id\": \"ses_…\", \"agent_uuid\": …, \"pipeline_uuid\": …, \"audit_url\": …}}"),
            ))
        }
    };
    let text = |member: &str| -> Result<Option<&str>, Refused> {
        match fields.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Refused::new(
                format!("{place}.{member}"),
                format!("`{place}.{member}` must be a string"),
            )),
        }
    };
    let Some(id) = text("session_id")? else {
        return Err(Refused::new(
            format!("{place}.session_id"),
            format!("`{place}` names no `session_id`: send the caller's session id, or leave `tappass-correlation` out"),
        ));
    };
    let mut builder = Session::builder(id);
    if let Some(agent) = text("agent_uuid")? {
        builder = builder.agent_uuid(agent);
    }
    if let Some(pipeline) = text("pipeline_uuid")? {
        builder = builder.pipeline_uuid(pipeline);
    }
    if let Some(audit) = text("audit_url")? {
        builder = builder.audit_url(audit);
    }
    builder
        .build()
        .map(Some)
        .map_err(|invalid| member_refused(place, invalid))
}

/// The member of a correlation object that a header's check names.
fn member_refused(place: &str, invalid: InvalidHeader) -> Refused {
    let member = match invalid.header {
        "X-TapPass-Agent-Uuid" => "agent_uuid",
        "X-TapPass-Pipeline-Uuid" => "pipeline_uuid",
        "X-TapPass-Audit-Url" => "audit_url",
        _ => "session_id",
    };
    let rule = if member == "audit_url" {
        "an absolute http(s) URL without user info, of at most 2,048 bytes"
    } else {
        "1 to 128 characters of [A-Za-z0-9._:-], not `.` or `..`"
    };
    Refused::new(
        format!("{place}.{member}"),
        format!(
            "`{place}.{member}` {}: it must be {rule}",
            invalid.problem.describe()
        ),
    )
}

fn header_refused(invalid: InvalidHeader) -> Refused {
    Refused::new(
        invalid.header,
        format!(
            "the {} header {}: send the caller's correlation as the TapPass SDKs write it, or none",
            invalid.header,
            invalid.problem.describe()
        ),
    )
}

/// The `tappass-correlation` of a session, as a result's `_meta` carries it
/// back to the caller: what the session is known by now.
pub(crate) fn of_session(session: &Session) -> Value {
    serde_json::json!({
        "session_id": session.id(),
        "agent_uuid": session.agent_uuid(),
        "pipeline_uuid": session.pipeline_uuid(),
        "audit_url": session.audit_url(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_python_sdks_stamp_is_a_session_with_empty_fields_absent() {
        let stamp = json!({"session_id": "ses_py", "agent_uuid": "", "pipeline_uuid": null, "audit_url": ""});
        let carried = read(&FromParams::Value(stamp), &Map::new(), None).unwrap();
        let session = carried.session.unwrap();
        assert_eq!(session.id(), "ses_py");
        assert_eq!(session.agent_uuid(), None);
        assert_eq!(session.audit_url(), None);
        assert!(!session.is_opened_here());
    }

    #[test]
    fn each_place_is_read_and_agreeing_places_are_one_session() {
        let stamp = json!({"session_id": "ses_1", "agent_uuid": "agt-1"});
        let from_meta = read(
            &FromParams::Absent,
            &meta(json!({"tappass-correlation": stamp, "tappass-resume-token": "rt_1"})),
            None,
        )
        .unwrap();
        assert_eq!(from_meta.session.unwrap().agent_uuid(), Some("agt-1"));
        assert_eq!(from_meta.resume_token.unwrap(), "rt_1");
        let from_headers = read(
            &FromParams::Absent,
            &Map::new(),
            Some(&headers(&[
                ("x-tappass-session-id", "ses_1"),
                ("x-tappass-resume-token", "rt_1"),
            ])),
        )
        .unwrap();
        assert_eq!(from_headers.session.unwrap().id(), "ses_1");
        let all = read(
            &FromParams::Value(json!({"session_id": "ses_1"})),
            &meta(json!({"tappass-correlation": {"session_id": "ses_1"}, "tappass-resume-token": "rt_1"})),
            Some(&headers(&[("x-tappass-session-id", "ses_1"), ("x-tappass-resume-token", "rt_1")])),
        )
        .unwrap();
        assert_eq!(all.session.unwrap().id(), "ses_1");
    }

    #[test]
    fn malformed_or_conflicting_correlation_is_refused_without_its_value() {
        const SECRET: &str = "ses_<script>alert(1)</script>";
        type Case = (
            FromParams,
            Value,
            Vec<(&'static str, &'static str)>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                FromParams::Value(json!("ses_1")),
                json!({}),
                vec![],
                "params.tappass-correlation",
            ),
            (
                FromParams::Value(json!({})),
                json!({}),
                vec![],
                "params.tappass-correlation.session_id",
            ),
            (
                FromParams::Value(json!({"session_id": SECRET})),
                json!({}),
                vec![],
                "params.tappass-correlation.session_id",
            ),
            (
                FromParams::Value(json!({"session_id": 7})),
                json!({}),
                vec![],
                "params.tappass-correlation.session_id",
            ),
            (
                FromParams::Value(json!({"session_id": ".."})),
                json!({}),
                vec![],
                "params.tappass-correlation.session_id",
            ),
            (
                FromParams::Value(json!({"session_id": "s", "audit_url": "javascript:alert(1)"})),
                json!({}),
                vec![],
                "params.tappass-correlation.audit_url",
            ),
            (
                FromParams::Value(json!({"session_id": "s", "agent_uuid": ["a"]})),
                json!({}),
                vec![],
                "params.tappass-correlation.agent_uuid",
            ),
            (
                FromParams::Unreadable("a member is repeated"),
                json!({}),
                vec![],
                "params.tappass-correlation",
            ),
            (
                FromParams::Absent,
                json!({"tappass-correlation": {"session_id": "a:b", "agent_uuid": "x y"}}),
                vec![],
                "_meta.tappass-correlation.agent_uuid",
            ),
            (
                FromParams::Absent,
                json!({"tappass-resume-token": SECRET}),
                vec![],
                "_meta.tappass-resume-token",
            ),
            (
                FromParams::Absent,
                json!({"tappass-resume-token": 1}),
                vec![],
                "_meta.tappass-resume-token",
            ),
            (
                FromParams::Absent,
                json!({}),
                vec![("x-tappass-session-id", "a b")],
                "X-TapPass-Session-Id",
            ),
            (
                FromParams::Value(json!({"session_id": "ses_1"})),
                json!({"tappass-correlation": {"session_id": "ses_2"}}),
                vec![],
                "_meta.tappass-correlation",
            ),
            (
                FromParams::Absent,
                json!({"tappass-correlation": {"session_id": "ses_1"}}),
                vec![("x-tappass-session-id", "ses_2")],
                "the X-TapPass-Session-Id header",
            ),
            (
                FromParams::Absent,
                json!({"tappass-resume-token": "rt_1"}),
                vec![("x-tappass-resume-token", "rt_2")],
                "_meta.tappass-resume-token",
            ),
        ];
        for (params, meta_value, header_pairs, field) in cases {
            let refused =
                read(&params, &meta(meta_value), Some(&headers(&header_pairs))).expect_err(field);
            assert_eq!(refused.field, field, "{refused:?}");
            assert!(!refused.message.contains("<script>"), "{refused:?}");
            let error = refused.into_error();
            assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        }
    }

    #[test]
    fn null_correlation_is_no_session() {
        let carried = read(
            &FromParams::Value(Value::Null),
            &meta(json!({"tappass-correlation": null, "tappass-resume-token": null})),
            Some(&HeaderMap::new()),
        )
        .unwrap();
        assert!(carried.session.is_none());
        assert!(carried.resume_token.is_none());
    }
}
