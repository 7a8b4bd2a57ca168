//! The five correlation fields of a governed call, resolved from the caller's
//! headers and body, and written into envelopes, decision bodies, the events
//! the server records and the answer's headers.
//!
//! [`Correlation`] is the server's side: every field resolved. The toolkit's
//! `tappass::agent::Correlation` is the client's reading of what a server
//! sent, every field optional; the dev server writes these fields itself (see
//! [`decide`](super)).

use http::HeaderMap;
use serde_json::{json, Map, Value};

use crate::ids;
use crate::reply::Failure;
use crate::state::Shared;
use tappass::{session, Timestamp};

/// `session_id`, `task_id`, `agent_uuid`, `pipeline_uuid` and `audit_url` of one call.
#[derive(Debug, Clone)]
pub(crate) struct Correlation {
    pub(crate) session_id: String,
    pub(crate) task_id: String,
    pub(crate) agent_uuid: String,
    pub(crate) pipeline_uuid: String,
    pub(crate) audit_url: String,
    /// The agent derived from the caller's API key (not a field of the wire:
    /// whom an approval was granted to, whatever agent id a call claims).
    pub(crate) caller: String,
    /// The session the caller named (header or body), or `""` when it named
    /// none and the server minted `session_id`: what an approval is bound
    /// to, so that a call outside any session (the Python SDK's `govern()`
    /// sends `session_id: ""`) resumes its approval by re-submitting it.
    pub(crate) bound_session: String,
    /// The agent whose registered key signed the call, when it was signed:
    /// recorded on the call's events.
    pub(crate) signed_by: Option<String>,
}

impl Correlation {
    /// Resolves the correlation of a call.
    ///
    /// The session is the caller's `X-TapPass-Session-Id` (or `X-TapPass-Session`),
    /// else `body_session` (from `metadata.session_id` or the behaviour), else a
    /// fresh `ses_…` id. The agent is `X-TapPass-Agent-Uuid`, else `body_agent`,
    /// else `key_agent_uuid`, the stable id derived from the caller's API key.
    /// A malformed header or id is a 400 that names it.
    pub(crate) fn resolve(
        shared: &Shared,
        key_agent_uuid: &str,
        signed_by: Option<&str>,
        headers: &HeaderMap,
        body_session: (&str, Option<&str>),
        body_agent: Option<&str>,
    ) -> Result<Correlation, Failure> {
        let joined = session::from_headers(headers).map_err(|e| {
            Failure::invalid(format_args!(
                "{e}; send ids of 1 to 128 characters of [A-Za-z0-9._:-]"
            ))
        })?;
        let header = |name: &http::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (field, body_session) = body_session;
        if let Some(id) = body_session {
            if !ids::is_valid_id(id) {
                return Err(Failure::invalid(format_args!(
                    "`{field}` must be 1 to 128 characters of [A-Za-z0-9._:-]"
                )));
            }
        }
        let (session_id, bound_session) = match (&joined, body_session) {
            (Some(s), _) => (s.id().to_owned(), s.id().to_owned()),
            (None, Some(id)) => (id.to_owned(), id.to_owned()),
            (None, None) => (tappass::Session::open().id().to_owned(), String::new()),
        };
        let agent_uuid = match header(&session::AGENT_UUID) {
            Some(agent) => agent,
            None => match body_agent {
                Some(agent) if ids::is_valid_id(agent) => agent.to_owned(),
                Some(_) => {
                    return Err(Failure::invalid(
                        "`agent_id` must be 1 to 128 characters of [A-Za-z0-9._:-]",
                    ))
                }
                None => key_agent_uuid.to_owned(),
            },
        };
        let pipeline_uuid =
            header(&session::PIPELINE_UUID).unwrap_or_else(|| ids::DEV_PIPELINE_UUID.to_owned());
        shared.saw_agent(&agent_uuid);
        Ok(Correlation {
            audit_url: shared.audit_url(&session_id),
            session_id,
            task_id: ids::random_id("tsk_", 24),
            agent_uuid,
            pipeline_uuid,
            caller: key_agent_uuid.to_owned(),
            bound_session,
            signed_by: signed_by.map(str::to_owned),
        })
    }

    /// Writes the five fields into a JSON object.
    pub(crate) fn write_fields(&self, map: &mut Map<String, Value>) {
        for (key, value) in [
            ("session_id", &self.session_id),
            ("task_id", &self.task_id),
            ("agent_uuid", &self.agent_uuid),
            ("pipeline_uuid", &self.pipeline_uuid),
            ("audit_url", &self.audit_url),
        ] {
            map.insert(key.to_owned(), Value::String(value.clone()));
        }
    }

    /// The correlation headers to answer with, so the caller continues the chain.
    pub(crate) fn headers(&self) -> HeaderMap {
        tappass::Session::builder(self.session_id.clone())
            .agent_uuid(self.agent_uuid.clone())
            .pipeline_uuid(self.pipeline_uuid.clone())
            .audit_url(self.audit_url.clone())
            .build()
            // Every field was checked when the call was resolved, so this is
            // `Ok`; were it not, the chain would stop rather than carry a
            // value the next layer refuses.
            .map(|session| session.headers())
            .unwrap_or_default()
    }
}

/// An event the server records itself, in the shape clients post.
pub(crate) fn server_event(event_type: &str, corr: &Correlation, mut details: Value) -> Value {
    if let Value::Object(map) = &mut details {
        map.insert("recorded_by".into(), "tappass-dev".into());
        if let Some(agent) = &corr.signed_by {
            map.insert("signed_by".into(), agent.clone().into());
        }
    }
    json!({
        "event_type": event_type,
        "agent_id": corr.agent_uuid,
        "occurred_at": Timestamp::now(),
        "session_id": corr.session_id,
        "task_id": corr.task_id,
        "details": details,
    })
}
