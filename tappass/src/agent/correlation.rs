//! The correlation a governed answer carries: [`Correlation`], read once for
//! a chat answer ([`ChatResponse`](super::ChatResponse)) and for a streamed
//! chunk ([`ChatChunk`](super::ChatChunk)).

use serde_json::{Map, Value};

use super::chat::str_field;

/// The correlation of a governed answer: the session, task, agent and
/// pipeline it was recorded under, and the session's dashboard link.
///
/// The server sends it in the answer's `tappass` envelope (or at the top
/// level); what it does not send is `None`. [`ChatResponse`](super::ChatResponse)
/// and [`ChatChunk`](super::ChatChunk) hold one in their `correlation` field
/// and dereference to it, so `response.session_id` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Correlation {
    /// The session the call belongs to.
    pub session_id: Option<String>,
    /// The task the call was recorded as.
    pub task_id: Option<String>,
    /// The agent UUID.
    pub agent_uuid: Option<String>,
    /// The pipeline UUID.
    pub pipeline_uuid: Option<String>,
    /// The dashboard link of the session.
    pub audit_url: Option<String>,
}

impl Correlation {
    /// Reads the fields from the answer's `tappass` envelope, else from the
    /// answer's top level.
    pub(crate) fn read(answer: &Map<String, Value>) -> Correlation {
        let envelope = answer.get("tappass").and_then(Value::as_object);
        let field = |key: &str| str_field(envelope, key).or_else(|| str_field(Some(answer), key));
        Correlation {
            session_id: field("session_id"),
            task_id: field("task_id"),
            agent_uuid: field("agent_uuid"),
            pipeline_uuid: field("pipeline_uuid"),
            audit_url: field("audit_url"),
        }
    }

    /// Teaches the session in scope what the server answered (see
    /// [learning from the server](crate::Session#learning-from-the-server)).
    pub(crate) fn teach_session(&self) {
        super::learn(crate::session::Answered {
            session_id: self.session_id.as_deref(),
            agent_uuid: self.agent_uuid.as_deref(),
            pipeline_uuid: self.pipeline_uuid.as_deref(),
            audit_url: self.audit_url.as_deref(),
        });
    }
}

/// `Deref` to the [`Correlation`] of an answer, so that `response.session_id`
/// reads it.
macro_rules! deref_to_correlation {
    ($($answer:ty),*) => {$(
        impl std::ops::Deref for $answer {
            type Target = Correlation;

            fn deref(&self) -> &Correlation {
                &self.correlation
            }
        }
    )*};
}

deref_to_correlation!(super::ChatResponse, super::ChatChunk);
