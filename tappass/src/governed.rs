//! Runtime support for `#[governed]` handlers (used by the generated code).

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http_body::Body as _;

use crate::events::AuditEvent;
use crate::extract::{RouteContext, RouteSession, SessionRejection};
use crate::layer::ResponseBody;
use crate::session::{self, Session};
use crate::Agent;

/// The route flag is absent: the layer's setting applies.
pub const INHERIT: u8 = 0;
/// `auto_open_session = true`.
pub const OPEN: u8 = 1;
/// `auto_open_session = false`.
pub const JOIN_ONLY: u8 = 2;

/// Resolves a `#[governed]` route's session by its flag and hands it to the
/// extractors that follow. A joined session always wins.
#[derive(Debug)]
pub struct GovernedContext<const MODE: u8> {
    session: Option<Session>,
    /// Set when this route opened the session and reports its close.
    reporter: Option<Agent>,
    /// The layer already runs the request in this very session (and echoes
    /// it): nothing is left to do here.
    layer_has_it: bool,
}

impl<S: Send + Sync, const MODE: u8> FromRequestParts<S> for GovernedContext<MODE> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Behind the layer, the flag changes nothing when the layer joined a
        // session, or opened one for a route that wants one, or has none for a
        // route that does not open: the layer's scope is the route's. Only a
        // route that overrides the layer takes copies of what it resolved.
        let layer = session::with_layer(|session, layer| {
            let keeps = match MODE {
                OPEN => session.is_some(),
                JOIN_ONLY => !layer.opened,
                _ => true,
            };
            (!keeps).then(|| (session.cloned(), layer.opened, layer.agent.clone()))
        });
        let (resolved, opened_by_layer, agent) = match layer {
            Some(None) => {
                return Ok(GovernedContext {
                    session: None,
                    reporter: None,
                    layer_has_it: true,
                })
            }
            Some(Some((session, opened, agent))) => (session, opened, Some(agent)),
            None => (
                session::from_headers(&parts.headers)?,
                false,
                parts.extensions.get::<Agent>().cloned(),
            ),
        };
        let mut reporter = None;
        let session = match MODE {
            OPEN => match resolved {
                Some(s) => Some(s),
                None => {
                    let s = Session::open();
                    if let Some(agent) = &agent {
                        agent.report(AuditEvent::new(
                            "session_open",
                            &s,
                            serde_json::json!({
                                "method": parts.method.as_str(),
                                "path": parts.uri.path(),
                            }),
                        ));
                        reporter = Some(agent.clone());
                    }
                    Some(s)
                }
            },
            JOIN_ONLY if opened_by_layer => None,
            _ => resolved,
        };
        parts.extensions.insert(RouteContext(session.clone()));
        Ok(GovernedContext {
            session,
            reporter,
            layer_has_it: false,
        })
    }
}

impl<const MODE: u8> GovernedContext<MODE> {
    /// Runs the handler's body inside the route's session.
    pub async fn run<F: Future>(self, body: F) -> Governed<F::Output> {
        if self.layer_has_it {
            return Governed {
                inner: body.await,
                session: None,
                reporter: None,
                layer_has_it: true,
            };
        }
        // Scoped even without a session: a route that turned the flag off must
        // not see a session the layer opened.
        let output = session::scoped(session::Current::bare(self.session.clone()), body).await;
        Governed {
            inner: output,
            session: self.session,
            reporter: self.reporter,
            layer_has_it: false,
        }
    }
}

/// Pins the output type of a handler body, so that `?` inside it infers.
pub fn typed<R, F: Future<Output = R>>(future: F) -> F {
    future
}

/// A `#[governed]` handler's response: the handler's own, with the session's
/// correlation headers, and its body polled inside the session.
#[derive(Debug)]
pub struct Governed<R> {
    inner: R,
    session: Option<Session>,
    reporter: Option<Agent>,
    layer_has_it: bool,
}

impl<R: IntoResponse> IntoResponse for Governed<R> {
    fn into_response(self) -> Response {
        if self.layer_has_it {
            return self.inner.into_response();
        }
        let response = session::sync_scope_opt(self.session.clone(), || self.inner.into_response());
        if let (Some(agent), Some(s)) = (&self.reporter, &self.session) {
            agent.report(AuditEvent::new(
                "session_close",
                s,
                serde_json::json!({ "status": response.status().as_u16() }),
            ));
        }
        let (mut parts, body) = response.into_parts();
        if let Some(s) = &self.session {
            s.write_headers(&mut parts.headers);
        }
        parts.extensions.insert(RouteSession(self.session.clone()));
        // Only a streamed body (SSE, chunked) is polled after this: it needs the
        // session while it is; a body of known length is already made.
        let body = match self.session {
            Some(s) if body.size_hint().exact().is_none() => {
                axum::body::Body::new(ResponseBody::new(body, s))
            }
            _ => body,
        };
        Response::from_parts(parts, body)
    }
}

/// Where a `#[governed]` handler with a `State<T>` parameter finds an `Agent`
/// in `T`: implemented by the macro for a hidden type, per handler.
pub trait AgentSource<T> {
    /// The agent held by the state, if the state holds one.
    fn agent(state: &T) -> Option<Agent>;
}

/// Probes at compile time whether `Agent: FromRef<T>` (autoref specialization:
/// the macro calls `(&&Probe::<T>::new()).agent_from_state(state)` with a
/// concrete `T`).
pub struct Probe<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// A probe for `T`.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Probe(std::marker::PhantomData)
    }
}

/// Chosen when the state provides an agent through `FromRef`.
pub trait ViaFromRef<T> {
    /// The state's agent.
    fn agent_from_state(&self, state: &T) -> Option<Agent>;
}

impl<T> ViaFromRef<T> for &Probe<T>
where
    Agent: axum::extract::FromRef<T>,
{
    fn agent_from_state(&self, state: &T) -> Option<Agent> {
        Some(<Agent as axum::extract::FromRef<T>>::from_ref(state))
    }
}

/// Chosen when it does not.
pub trait ViaNothing<T> {
    /// No agent.
    fn agent_from_state(&self, state: &T) -> Option<Agent> {
        let _ = state;
        None
    }
}

impl<T> ViaNothing<T> for Probe<T> {}

/// The `Agent` parameter of a `#[governed]` handler that also takes
/// `State<T>`: the layer's agent, else the state's (through `FromRef`), else
/// the environment's, else a clear 500.
pub struct InjectedAgent<T, Src>(pub Agent, pub std::marker::PhantomData<fn() -> (T, Src)>);

impl<S, T, Src> FromRequestParts<S> for InjectedAgent<T, Src>
where
    S: Send + Sync,
    T: axum::extract::FromRef<S>,
    Src: AgentSource<T>,
{
    type Rejection = crate::extract::AgentRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let agent = match crate::extract::request_agent(parts) {
            Some(agent) => agent,
            None => match Src::agent(&T::from_ref(state)) {
                Some(agent) => agent,
                None => crate::extract::env_agent()?,
            },
        };
        Ok(InjectedAgent(agent, std::marker::PhantomData))
    }
}
