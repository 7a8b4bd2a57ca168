//! The resolver: the one place that decides a request's session and owns what
//! follows from it.
//!
//! A request meets TapPass at one or two points: [`TapPassLayer`] (around a
//! router or a route) and `#[governed]` (on a handler). Both call this
//! module. The layer calls [`for_layer`] before the inner service: it joins
//! the caller's session from the correlation headers, or opens one when
//! `auto_open_session` is on and reports `session_open`, or has none; a
//! malformed header (`X-TapPass-Resume-Token` included) is refused there
//! with `400`. What it decided is a [`Scope`], the task-local the inner
//! service (its `call` and its future) runs in: it is the only channel a
//! request's session travels through, and
//! `current_session()`, the `Session` and `Agent` extractors and the error
//! renderer (which reads the layer's `problem_json` choice from it) all read
//! it. A `#[governed]` handler calls [`for_route`] as its first extractor.
//! Behind the layer ([`Route::Layered`]) the route's `auto_open_session` flag
//! overrides the layer's choice by changing that same scope in place (a
//! joined session always wins; `true` opens one when there is none, `false`
//! drops one the layer opened), and the layer finishes the response. On its
//! own ([`Route::Own`]) it resolves from the headers the same way and runs
//! the handler's body in a scope of its own, then finishes the response
//! itself. Finishing ([`finish`]) is one function for both: report
//! `session_close` (with the status) for a session opened for this request,
//! echo the session's correlation headers, and keep a streamed body polled
//! inside the session. The agent that reports and that handlers receive is
//! the layer's; without the layer (or behind a layer that only verifies
//! mandates, which has no agent), a handler's `Agent` comes from an
//! `Extension<Agent>`, else from the router's state through
//! `FromRef` (a `#[governed]` handler with a `State<T>` parameter), else from
//! the environment (`TAPPASS_URL`, `TAPPASS_API_KEY`), and a session a
//! `#[governed]` route opens is reported by an `Extension<Agent>` when there
//! is one (else it is not reported).
//!
//! The layer's mandate verifier (feature `mandate`) travels the same way:
//! it is part of the layer the scope holds, so a layer without one costs
//! nothing more per request, and the `Mandate` extractor,
//! `RequireMandate::from_extension()` and a `#[governed(capability = "…")]`
//! route find it there (before an `Extension<MandateVerifier>`).
//!
//! [`TapPassLayer`]: crate::TapPassLayer

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Response, Uri};

use super::layer::Shared;
use super::ResponseBody;
use crate::agent::Agent;
use crate::agent::AuditEvent;
use crate::error::BoxError;
use crate::session::scope::{self, OnClose, Scope};
use crate::session::{read, InvalidHeader, Session};

/// A route's `auto_open_session` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// No flag: the layer's choice stands (without the layer: join only).
    Inherit,
    /// `auto_open_session = true`: open a session when the caller sent none.
    Open,
    /// `auto_open_session = false`: never a session the caller did not send.
    JoinOnly,
}

/// Where a `#[governed]` route runs.
pub(crate) enum Route {
    /// Behind the layer: its scope holds the route's session and the layer
    /// finishes the response.
    Layered,
    /// On its own: the route runs its body in this scope and finishes the
    /// response itself.
    Own(Scope),
}

/// The layer's decision for a request, before the inner service runs.
pub(crate) fn for_layer<B>(
    shared: &Arc<Shared>,
    parts: &http::Request<B>,
) -> Result<Scope, InvalidHeader> {
    let (joined, resume_token) = read(parts.headers())?;
    let (session, on_close) = match joined {
        Some(joined) => (Some(joined), None),
        None if shared.auto_open_session => {
            let (session, on_close) = open(shared.agent(), parts.method(), parts.uri().path());
            (Some(session), on_close)
        }
        None => (None, None),
    };
    let scope = Scope::new(session, on_close, Some(shared.lent.clone()), resume_token);
    // The route the request matched, for the metrics' `http.route`.
    #[cfg(feature = "otel")]
    let scope = scope.with_route(
        parts
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .cloned(),
    );
    Ok(scope)
}

/// What a route's decision reads of a request: borrowed from its parts or
/// from the whole request, whichever the route's extractor was given.
pub(crate) struct Head<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) extensions: &'a Extensions,
}

impl<'a> From<&'a http::request::Parts> for Head<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        Head {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }
}

impl<'a, B> From<&'a http::Request<B>> for Head<'a> {
    fn from(request: &'a http::Request<B>) -> Self {
        Head {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

/// A `#[governed]` route's decision, and the session its handler receives.
pub(crate) fn for_route(
    flag: Flag,
    parts: Head<'_>,
) -> Result<(Route, Option<Session>), InvalidHeader> {
    let layered = scope::with(|scope| {
        let scope = scope?;
        let lent = scope.lent()?;
        let current = scope.session();
        let session = match flag {
            Flag::Inherit => current,
            Flag::Open => match current {
                Some(session) => Some(session),
                None => {
                    // Opened (and reported) before the scope is borrowed to
                    // change: reporting may read the current session.
                    let reporter = lent
                        .get::<Agent>()
                        .or_else(|| parts.extensions.get::<Agent>());
                    let (session, on_close) = open(reporter, parts.method, parts.uri.path());
                    let mut state = scope.state_mut();
                    state.session = Some(session.clone());
                    state.on_close = on_close;
                    Some(session)
                }
            },
            // A session the layer opened is dropped; a joined one wins.
            Flag::JoinOnly => match current {
                Some(session) if session.is_opened_here() => {
                    scope.state_mut().session = None;
                    None
                }
                other => other,
            },
        };
        Some(session)
    });
    if let Some(session) = layered {
        return Ok((Route::Layered, session));
    }
    let (joined, resume_token) = read(parts.headers)?;
    let (session, on_close) = match joined {
        Some(joined) => (Some(joined), None),
        None if flag == Flag::Open => {
            let reporter = parts.extensions.get::<Agent>();
            let (session, on_close) = open(reporter, parts.method, parts.uri.path());
            (Some(session), on_close)
        }
        None => (None, None),
    };
    let scope = Scope::new(session.clone(), on_close, None, resume_token);
    Ok((Route::Own(scope), session))
}

/// Opens a session for a request. With an agent to report to, reports it
/// open (off the hot path) and hands back the hook that reports its close;
/// without one (a route on its own without an `Extension<Agent>`, a layer
/// that only verifies mandates) the session is not reported.
fn open(reporter: Option<&Agent>, method: &Method, path: &str) -> (Session, Option<OnClose>) {
    let session = Session::open();
    let on_close = reporter.map(|agent| {
        agent.report(AuditEvent::new(
            "session_open",
            &session,
            serde_json::json!({ "method": method.as_str(), "path": path }),
        ));
        let (session, reporter) = (session.clone(), agent.clone());
        Box::new(move |status: http::StatusCode| {
            reporter.report(AuditEvent::new(
                "session_close",
                &session,
                serde_json::json!({ "status": status.as_u16() }),
            ));
        }) as OnClose
    });
    (session, on_close)
}

impl Route {
    /// Runs a handler's body where the route's session is in scope, and
    /// keeps what the response needs to be finished.
    pub(crate) async fn run<F: Future>(self, body: F) -> (F::Output, Route) {
        match self {
            // Already inside the layer's scope.
            Route::Layered => (body.await, Route::Layered),
            // Scoped even without a session: the body must not see a session
            // from an enclosing scope that is not this request's.
            Route::Own(scope) => {
                let mut future = pin!(scope.enter(body));
                let output = future.as_mut().await;
                let scope = future
                    .as_mut()
                    .take_scope()
                    .expect("the scope is given back once the future is done");
                (output, Route::Own(scope))
            }
        }
    }

    /// Turns a handler's output into the route's response.
    pub(crate) fn respond<R: axum::response::IntoResponse>(
        self,
        output: R,
    ) -> axum::response::Response {
        match self {
            Route::Layered => output.into_response(),
            Route::Own(scope) => {
                // Rendered in the session, so that an error body carries its ids.
                let response = Scope::bare(scope.session()).enter_sync(|| output.into_response());
                finish(response, scope)
            }
        }
    }
}

/// Finishes a response in the request's scope: reports the close of a session
/// opened for the request, puts the session's correlation headers on the
/// response (with `X-TapPass-Degraded` when a call made for the request was
/// degraded, and the layer's `Server-Timing` entry when it adds one), and
/// keeps the session in scope while a streamed body is polled.
///
/// The body comes back as an `axum::body::Body`: one that already is passes
/// through as it is (axum does not box it again), and only a streamed one
/// (length not known up front) is wrapped.
pub(crate) fn finish<B>(mut response: Response<B>, scope: Scope) -> Response<axum::body::Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let waited = scope
        .lent()
        .is_some_and(|lent| lent.server_timing)
        .then(|| scope.governance_time());
    // A request that met a degraded call says so, whatever its status.
    if let Some(reason) = crate::resilience::DegradedReason::header_of(scope.degraded()) {
        response.headers_mut().insert(
            crate::resilience::DEGRADED_HEADER,
            http::HeaderValue::from_static(reason),
        );
    }
    let state = scope.into_state();
    if let Some(on_close) = state.on_close {
        on_close(response.status());
    }
    if let Some(waited) = waited {
        let entry = format!(
            "tappass;dur={:.3};desc=\"TapPass\"",
            waited.as_secs_f64() * 1000.0
        );
        if let Ok(value) = http::HeaderValue::from_str(&entry) {
            response.headers_mut().append(
                http::header::HeaderName::from_static("server-timing"),
                value,
            );
        }
    }
    let session = state.session;
    if let Some(session) = &session {
        session.write_headers(response.headers_mut());
    }
    response.map(|body| match session {
        Some(session) if body.size_hint().exact().is_none() => {
            axum::body::Body::new(ResponseBody::new(body, session))
        }
        _ => axum::body::Body::new(body),
    })
}
