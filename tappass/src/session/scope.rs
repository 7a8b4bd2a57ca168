//! The scope: the task-local that holds a task's session, read by
//! [`current_session()`], the extractors and the error renderer.
//!
//! It works as tokio's `task_local!` does (a thread-local slot that a
//! future's scope is swapped into around each of its polls, and out of after
//! it), with one thing more that the layer's hot path needs: a scope held in
//! a slot of the caller's ([`Scope::enter_with`]) can be entered for a
//! synchronous call and then wrap a future, so that a service's `call` and
//! the future it returns run in the same scope without a second one being
//! built for the `call`.
//!
//! The module names nothing above the session: what a layer lends the
//! requests it serves (its agent, its mandate verifier) is kept by type in a
//! [`Lent`], put there by the layer and taken out by the extractors, and the
//! report of a session's close is a hook the resolver hands in.

use std::cell::{Cell, RefCell};
use std::future::{Future, IntoFuture};
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Extensions, HeaderValue, StatusCode};
use pin_project_lite::pin_project;

use super::Session;

thread_local! {
    /// The scope of the future this thread is polling, if any.
    static CURRENT: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Runs `f` with `slot`'s scope as the current one (whatever was current is
/// kept in `slot` meanwhile), then swaps them back, also when `f` panics.
/// `None` when the thread's slot is gone (thread teardown) or borrowed (a
/// scope entered from inside [`with`]); `f` is then not run.
#[inline]
fn try_swapped<R>(slot: &mut Option<Scope>, f: impl FnOnce() -> R) -> Option<R> {
    struct Restore<'a>(&'a mut Option<Scope>);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            // It was swapped in, so the slot is there and not borrowed.
            CURRENT.with(|current| mem::swap(self.0, &mut *current.borrow_mut()));
        }
    }
    CURRENT
        .try_with(|current| {
            let mut current = current.try_borrow_mut().ok()?;
            mem::swap(slot, &mut *current);
            Some(())
        })
        .ok()
        .flatten()?;
    let _restore = Restore(slot);
    Some(f())
}

/// [`try_swapped`], which must succeed.
#[inline]
fn swapped<R>(slot: &mut Option<Scope>, f: impl FnOnce() -> R) -> R {
    try_swapped(slot, f).expect(
        "a TapPass session scope can be entered only on a live thread and not from inside a borrow of the current scope",
    )
}

/// What a task runs in. For a request, it is what the layer's resolver
/// decided: the request's session (or none), the hook that reports the close
/// of a session opened for it, and, behind
/// [`TapPassLayer`](crate::TapPassLayer), what the layer lends it.
pub(crate) struct Scope {
    state: RefCell<State>,
    lent: Option<Lent>,
    /// The request's `X-TapPass-Resume-Token`, checked: the agent sends it
    /// upstream with the governed calls made in this request.
    resume_token: Option<HeaderValue>,
    /// How long the task has waited for the control plane so far (the
    /// agent's calls made in it): the layer's `Server-Timing`.
    governance_time: Cell<Duration>,
    /// The route the request matched, when the router said (the metrics'
    /// `http.route`).
    #[cfg(feature = "otel")]
    route: Option<axum::extract::MatchedPath>,
    /// How degraded the calls made in this request were (0: none; the
    /// agent says what each level means), shared with the scopes of work it
    /// spawns through [`scope`] so that the layer marks its response.
    degraded: Arc<AtomicU8>,
}

/// What a layer lends every request it serves: its services by type (an
/// `Agent`, a `MandateVerifier`), and its choice of error form. A clone is
/// a reference count.
#[derive(Clone, Default)]
pub(crate) struct Lent {
    pub(crate) services: Arc<Extensions>,
    /// `TapPassLayerBuilder::problem_json`.
    pub(crate) problem_json: bool,
    /// `TapPassLayerBuilder::server_timing`.
    pub(crate) server_timing: bool,
}

impl Lent {
    /// The service of type `T` the layer lends, if it lends one.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.services.get::<T>()
    }
}

/// The part of a scope that a `#[governed]` route behind the layer may change
/// (its `auto_open_session` flag overrides the layer's choice).
pub(crate) struct State {
    pub(crate) session: Option<Session>,
    pub(crate) on_close: Option<OnClose>,
}

/// Reports the close of a session opened for a request, with the status of
/// its response: the resolver hands it in with the session it opened.
pub(crate) type OnClose = Box<dyn FnOnce(StatusCode) + Send>;

impl Scope {
    /// A request's scope (or that of work it spawns), carrying its resume
    /// token.
    pub(crate) fn new(
        session: Option<Session>,
        on_close: Option<OnClose>,
        lent: Option<Lent>,
        resume_token: Option<HeaderValue>,
    ) -> Scope {
        Scope {
            state: RefCell::new(State { session, on_close }),
            lent,
            resume_token,
            governance_time: Cell::new(Duration::ZERO),
            #[cfg(feature = "otel")]
            route: None,
            degraded: Arc::default(),
        }
    }

    /// The scope, knowing the route its request matched.
    #[cfg(feature = "otel")]
    pub(crate) fn with_route(mut self, route: Option<axum::extract::MatchedPath>) -> Scope {
        self.route = route;
        self
    }

    /// The same scope, marking its degraded calls on `degraded` (its
    /// parent's).
    fn marking(mut self, degraded: Option<Arc<AtomicU8>>) -> Scope {
        if let Some(degraded) = degraded {
            self.degraded = degraded;
        }
        self
    }

    /// The highest level of degradation a call made in this scope met (0: none).
    pub(crate) fn degraded(&self) -> u8 {
        self.degraded.load(Ordering::Relaxed)
    }

    /// A scope with only `session`: for work run beside the request's own
    /// scope (a streamed body's frames, a response rendered after it).
    pub(crate) fn bare(session: Option<Session>) -> Scope {
        Scope::new(session, None, None, None)
    }

    /// What the layer the task runs under lends it; `None` outside a layer.
    pub(crate) fn lent(&self) -> Option<&Lent> {
        self.lent.as_ref()
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

    /// How long the task has waited for the control plane so far.
    pub(crate) fn governance_time(&self) -> Duration {
        self.governance_time.get()
    }

    /// What the scope ended with.
    pub(crate) fn into_state(self) -> State {
        self.state.into_inner()
    }

    /// Runs `future` in this scope; the future gives the scope back when it
    /// is done ([`Scoped::take_scope`]).
    pub(crate) fn enter<F: Future>(self, future: F) -> Scoped<F> {
        Scoped {
            scope: Some(self),
            future: Some(future),
        }
    }

    /// Calls `call` in this scope, then runs the future it returns in the
    /// same scope: a service's `call` and its future see one scope.
    #[inline]
    pub(crate) fn enter_with<F: Future>(self, call: impl FnOnce() -> F) -> Scoped<F> {
        let mut scope = Some(self);
        let future = swapped(&mut scope, call);
        Scoped {
            scope,
            future: Some(future),
        }
    }

    /// Runs `f` synchronously in this scope.
    pub(crate) fn enter_sync<R>(self, f: impl FnOnce() -> R) -> R {
        swapped(&mut Some(self), f)
    }
}

pin_project! {
    /// A future run in a [`Scope`]: the scope is the current one while the
    /// future is polled (and while it is dropped unfinished), and is given
    /// back when the future is done.
    pub(crate) struct Scoped<F> {
        scope: Option<Scope>,
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            if mem::needs_drop::<F>() && future.is_some() && this.scope.is_some() {
                // Dropped in its scope, as it would have run; without the
                // thread's slot it is dropped after, outside it.
                let _in_scope = try_swapped(this.scope, || future.set(None));
            }
        }
    }
}

impl<F> Scoped<F> {
    /// The scope back, once the future is done (`None` before).
    pub(crate) fn take_scope(self: Pin<&mut Self>) -> Option<Scope> {
        let this = self.project();
        if this.future.is_some() {
            return None;
        }
        this.scope.take()
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut future = this.future;
        let scope = this.scope;
        swapped(scope, || {
            let poll = future
                .as_mut()
                .as_pin_mut()
                .expect("a scoped future polled after it completed")
                .poll(cx);
            if poll.is_ready() {
                // Dropped in its scope, like the rest of its work.
                future.set(None);
            }
            poll
        })
    }
}

/// Runs `f` with the current task's scope, `None` outside any.
pub(crate) fn with<R>(f: impl FnOnce(Option<&Scope>) -> R) -> R {
    let mut f = Some(f);
    match CURRENT.try_with(|current| match current.try_borrow() {
        Ok(scope) => (f.take().expect("called once"))(scope.as_ref()),
        Err(_) => (f.take().expect("called once"))(None),
    }) {
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
    with(|scope| scope?.resume_token.clone())
}

/// The route the current task's request matched, when known.
#[cfg(feature = "otel")]
pub(crate) fn route() -> Option<axum::extract::MatchedPath> {
    with(|scope| scope?.route.clone())
}

/// Adds `waited` to the time the current task has waited for the control
/// plane; nothing outside a scope.
pub(crate) fn add_governance_time(waited: Duration) {
    with(|scope| {
        if let Some(scope) = scope {
            let total = scope.governance_time.get().saturating_add(waited);
            scope.governance_time.set(total);
        }
    });
}

/// Records, on the current task's scope, that a call made there was
/// degraded at `level` (the highest level met is kept; outside a scope,
/// nothing is recorded).
pub(crate) fn mark_degraded(level: u8) {
    with(|scope| {
        if let Some(scope) = scope {
            scope.degraded.fetch_max(level, Ordering::Relaxed);
        }
    });
}

/// The service of type `T` that the layer of the current task lends it, if
/// any (cloned: services are reference counts).
pub(crate) fn lent<T: Clone + Send + Sync + 'static>() -> Option<T> {
    with(|scope| scope?.lent()?.get::<T>().cloned())
}

/// Runs `future` as the resumption of an approval: in `session` (the
/// current one when `None`), with `resume_token` sent upstream on its
/// governed calls, keeping what the current layer lends.
pub(crate) fn resuming<F: IntoFuture>(
    session: Option<Session>,
    resume_token: HeaderValue,
    future: F,
) -> Scoped<F::IntoFuture> {
    let (current, lent, degraded) = with(|scope| match scope {
        Some(scope) => (
            scope.session(),
            scope.lent.clone(),
            Some(scope.degraded.clone()),
        ),
        None => (None, None, None),
    });
    Scope::new(session.or(current), None, lent, Some(resume_token))
        .marking(degraded)
        .enter(future.into_future())
}

/// The session of the current task, or `None` outside a session.
///
/// Inside a request served behind [`TapPassLayer`](crate::TapPassLayer), a
/// `#[governed]` handler, or a future run with [`scope`], this is the request's
/// session. It is a task-local (kept as tokio keeps its own, swapped in
/// around each poll): concurrent requests never see each other's session,
/// and `tokio::spawn`ed work sees none unless it is wrapped in [`scope`].
pub fn current_session() -> Option<Session> {
    with(|scope| scope?.session())
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
    let (lent, token, degraded) = with(|scope| match scope {
        Some(scope) => (
            scope.lent.clone(),
            scope.resume_token.clone(),
            Some(scope.degraded.clone()),
        ),
        None => (None, None, None),
    });
    Scope::new(Some(session), None, lent, token)
        .marking(degraded)
        .enter(future.into_future())
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::pin::pin;
    use std::sync::Mutex;

    use super::*;

    fn session(id: &str) -> Session {
        Session::builder(id).build().expect("a valid id")
    }

    #[test]
    fn a_scope_is_current_only_while_entered_and_scopes_nest() {
        let (outer, inner) = (session("ses_outer"), session("ses_inner"));
        assert_eq!(current_session(), None);
        Scope::bare(Some(outer.clone())).enter_sync(|| {
            assert_eq!(current_session().as_ref(), Some(&outer));
            Scope::bare(Some(inner.clone())).enter_sync(|| {
                assert_eq!(current_session().as_ref(), Some(&inner));
            });
            assert_eq!(current_session().as_ref(), Some(&outer));
            Scope::bare(None).enter_sync(|| assert_eq!(current_session(), None));
        });
        assert_eq!(current_session(), None);
    }

    #[test]
    fn a_call_and_its_future_run_in_one_scope_which_comes_back_when_done() {
        let ours = session("ses_call");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let mut scoped = pin!(Scope::bare(Some(ours.clone())).enter_with(|| {
                let in_call = current_session();
                async move { (in_call, current_session()) }
            }));
            assert_eq!(current_session(), None, "the call's scope is left");
            assert!(scoped.as_mut().take_scope().is_none(), "not done yet");
            let (in_call, in_future) = scoped.as_mut().await;
            assert_eq!(in_call.as_ref(), Some(&ours));
            assert_eq!(in_future.as_ref(), Some(&ours));
            let back = scoped.as_mut().take_scope().expect("given back when done");
            assert_eq!(back.session().as_ref(), Some(&ours));
            assert_eq!(current_session(), None);
        });
    }

    #[test]
    fn a_panic_inside_a_scope_leaves_no_scope_behind() {
        let ours = session("ses_panic");
        let caught = catch_unwind(AssertUnwindSafe(|| {
            Scope::bare(Some(ours)).enter_sync(|| panic!("inside the scope"))
        }));
        assert!(caught.is_err());
        assert_eq!(current_session(), None);
    }

    #[test]
    fn an_unfinished_future_is_dropped_inside_its_scope() {
        struct Probe(Arc<Mutex<Option<Option<Session>>>>);
        impl Drop for Probe {
            fn drop(&mut self) {
                *self.0.lock().expect("not poisoned") = Some(current_session());
            }
        }
        let seen = Arc::new(Mutex::new(None));
        let probe = Probe(seen.clone());
        let ours = session("ses_drop");
        let future = Scope::bare(Some(ours.clone())).enter(async move {
            let _probe = probe;
            std::future::pending::<()>().await
        });
        drop(future);
        assert_eq!(*seen.lock().expect("not poisoned"), Some(Some(ours)));
        assert_eq!(current_session(), None);
    }
}
