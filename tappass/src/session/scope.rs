//! The scope: the tokio task-local that holds a task's session, read by
//! [`current_session()`], the extractors and the error renderer.

use std::cell::RefCell;
use std::future::{Future, IntoFuture};
use std::sync::Arc;

use http::HeaderValue;
use tokio::task::futures::TaskLocalFuture;

use super::Session;
use crate::layer::Shared;
use crate::Agent;

tokio::task_local! {
    static CURRENT: Scope;
}

/// What a task runs in. For a request, it is what the
/// [resolver](super::resolve) decided: the request's session (or none), the
/// session it opened (whose close is reported when the response is
/// finished) and, behind [`TapPassLayer`](crate::TapPassLayer), the layer.
pub(crate) struct Scope {
    state: RefCell<State>,
    layer: Option<Arc<Shared>>,
    /// The request's `X-TapPass-Resume-Token`, checked: the agent sends it
    /// upstream with the governed calls made in this request.
    resume_token: Option<HeaderValue>,
}

/// The part of a scope that a `#[governed]` route behind the layer may change
/// (its `auto_open_session` flag overrides the layer's choice).
pub(crate) struct State {
    pub(crate) session: Option<Session>,
    pub(crate) opened: Option<Opened>,
}

/// A session opened for a request, and the agent that reported it open and
/// reports it closed.
pub(crate) struct Opened {
    pub(crate) session: Session,
    pub(crate) reporter: Agent,
}

impl Scope {
    pub(crate) fn new(
        session: Option<Session>,
        opened: Option<Opened>,
        layer: Option<Arc<Shared>>,
    ) -> Scope {
        Scope {
            state: RefCell::new(State { session, opened }),
            layer,
            resume_token: None,
        }
    }

    /// This scope, carrying the request's resume token.
    pub(crate) fn with_resume_token(mut self, token: Option<HeaderValue>) -> Scope {
        self.resume_token = token;
        self
    }

    /// A scope with only `session`: for work run beside the request's own
    /// scope (a service's `call`, a streamed body's frames).
    pub(crate) fn bare(session: Option<Session>) -> Scope {
        Scope::new(session, None, None)
    }

    /// The layer the task runs under, if any.
    pub(crate) fn layer(&self) -> Option<&Shared> {
        self.layer.as_deref()
    }

    /// The task's session, borrowed for `f`.
    pub(crate) fn with_session<R>(&self, f: impl FnOnce(Option<&Session>) -> R) -> R {
        f(self.state.borrow().session.as_ref())
    }

    /// The task's session, cloned.
    pub(crate) fn session(&self) -> Option<Session> {
        self.state.borrow().session.clone()
    }

    /// The state, to change (the resolver's route override).
    pub(crate) fn state_mut(&self) -> std::cell::RefMut<'_, State> {
        self.state.borrow_mut()
    }

    /// What the scope ended with.
    pub(crate) fn into_state(self) -> State {
        self.state.into_inner()
    }

    /// Runs `future` in this scope; the future gives the scope back when it
    /// is done ([`TaskLocalFuture::take_value`]).
    pub(crate) fn enter<F: Future>(self, future: F) -> TaskLocalFuture<Scope, F> {
        CURRENT.scope(self, future)
    }

    /// Runs `f` synchronously in this scope.
    pub(crate) fn enter_sync<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }
}

/// Runs `f` with the current task's scope, `None` outside any.
pub(crate) fn with<R>(f: impl FnOnce(Option<&Scope>) -> R) -> R {
    let mut f = Some(f);
    match CURRENT.try_with(|scope| (f.take().expect("called once"))(Some(scope))) {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called yet"))(None),
    }
}

/// Runs `f` with the current task's session, borrowed (no clone).
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Session>) -> R) -> R {
    with(|scope| match scope {
        Some(scope) => scope.with_session(f),
        None => f(None),
    })
}

/// The resume token of the request the current task serves, if it sent one
/// (`X-TapPass-Resume-Token`).
pub(crate) fn resume_token() -> Option<HeaderValue> {
    CURRENT
        .try_with(|scope| scope.resume_token.clone())
        .ok()
        .flatten()
}

/// The session of the current task, or `None` outside a session.
///
/// Inside a request served behind [`TapPassLayer`](crate::TapPassLayer), a
/// `#[governed]` handler, or a future run with [`scope`], this is the request's
/// session. It is a tokio task-local: concurrent requests never see each
/// other's session, and `tokio::spawn`ed work sees none unless it is wrapped in
/// [`scope`].
pub fn current_session() -> Option<Session> {
    CURRENT.try_with(Scope::session).ok().flatten()
}

/// Runs `future` inside `session`: [`current_session()`] returns it there.
///
/// Use it for work a handler spawns, since tokio does not carry task-locals
/// into `tokio::spawn`. Called inside a request behind
/// [`TapPassLayer`](crate::TapPassLayer), the future also keeps the layer's
/// agent (for the `Agent` extractor) and its choice of error form
/// ([`problem_json`](crate::layer::TapPassLayerBuilder::problem_json)) and
/// the request's `X-TapPass-Resume-Token`, which the agent sends upstream.
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
    let (layer, token) = CURRENT
        .try_with(|scope| (scope.layer.clone(), scope.resume_token.clone()))
        .unwrap_or_default();
    Scope::new(Some(session), None, layer)
        .with_resume_token(token)
        .enter(future.into_future())
}
