//! Runtime support for `#[governed]` handlers (used by the generated code).
//!
//! The generated handler takes a [`GovernedContext`] as its first extractor
//! (a [`GovernedRequest`], which reads the whole request, when it is the
//! only one). It asks the crate's one resolver (`layer::resolve`) for the
//! route's session, binds the handler's `Session` parameters from it, runs
//! the body with [`Route::run`] and answers with [`Governed`]. The route flag and what
//! the handler needs are types ([`Inherit`], [`Open`], [`JoinOnly`];
//! [`Required`], [`Optional`], [`Unused`]); where the route runs (behind the
//! layer or on its own) is the resolver's `Route`.

use std::future::Future;
use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::agent::Agent;
use crate::extract::SessionRejection;
use crate::layer::resolve::{self, Flag};
use crate::session::Session;

/// A route's `auto_open_session` flag, as a type.
pub trait RouteFlag {
    #[doc(hidden)]
    const FLAG: Flag;
}

/// No flag: the layer's setting applies.
pub struct Inherit;
/// `auto_open_session = true`.
pub struct Open;
/// `auto_open_session = false`.
pub struct JoinOnly;

impl RouteFlag for Inherit {
    const FLAG: Flag = Flag::Inherit;
}
impl RouteFlag for Open {
    const FLAG: Flag = Flag::Open;
}
impl RouteFlag for JoinOnly {
    const FLAG: Flag = Flag::JoinOnly;
}

/// What a handler's parameters need of the route's session, as a type.
pub trait Need {
    /// What the handler's session parameters are bound from.
    type Session;
    /// The bound value, or the rejection when a required session is missing.
    fn take(session: Option<Session>) -> Result<Self::Session, SessionRejection>;
}

/// A `Session` parameter: no session is a `400 session_required`.
pub struct Required;
/// Only `Option<Session>` parameters.
pub struct Optional;
/// No session parameter.
pub struct Unused;

impl Need for Required {
    type Session = Session;
    fn take(session: Option<Session>) -> Result<Session, SessionRejection> {
        session.ok_or(SessionRejection::Missing)
    }
}
impl Need for Optional {
    type Session = Option<Session>;
    fn take(session: Option<Session>) -> Result<Option<Session>, SessionRejection> {
        Ok(session)
    }
}
impl Need for Unused {
    type Session = ();
    fn take(_: Option<Session>) -> Result<(), SessionRejection> {
        Ok(())
    }
}

/// The first extractor of a `#[governed]` handler: the route's session,
/// resolved by its flag `F`, and what its parameters `N` take of it.
pub struct GovernedContext<F, N: Need> {
    route: Route,
    session: N::Session,
    flag: PhantomData<fn() -> F>,
}

impl<S: Send + Sync, F: RouteFlag, N: Need> FromRequestParts<S> for GovernedContext<F, N> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        GovernedContext::resolve(resolve::Head::from(&*parts))
    }
}

impl<F: RouteFlag, N: Need> GovernedContext<F, N> {
    fn resolve(head: resolve::Head<'_>) -> Result<Self, SessionRejection> {
        let (route, session) = resolve::for_route(F::FLAG, head)?;
        Ok(GovernedContext {
            route: Route(route),
            session: N::take(session)?,
            flag: PhantomData,
        })
    }
}

impl<F, N: Need> GovernedContext<F, N> {
    /// The route, to run the body in, and the session its parameters take.
    pub fn into_parts(self) -> (Route, N::Session) {
        (self.route, self.session)
    }
}

/// [`GovernedContext`] as a handler's only extractor: resolved from the
/// whole request (axum's `FromRequest`), which spares axum splitting the
/// request into parts once more for an extractor that reads only its head.
pub struct GovernedRequest<F, N: Need>(GovernedContext<F, N>);

impl<S: Send + Sync, F: RouteFlag, N: Need> FromRequest<S> for GovernedRequest<F, N> {
    type Rejection = SessionRejection;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        GovernedContext::resolve(resolve::Head::from(&request)).map(GovernedRequest)
    }
}

impl<F, N: Need> GovernedRequest<F, N> {
    /// The route, to run the body in, and the session its parameters take.
    pub fn into_parts(self) -> (Route, N::Session) {
        self.0.into_parts()
    }
}

/// Where a `#[governed]` route runs its body.
pub struct Route(resolve::Route);

impl Route {
    /// Runs the handler's body inside the route's session.
    pub async fn run<Fut: Future>(self, body: Fut) -> Governed<Fut::Output> {
        let (output, route) = self.0.run(body).await;
        Governed { output, route }
    }
}

/// Pins the output type of a handler body, so that `?` inside it infers.
pub fn typed<R, F: Future<Output = R>>(future: F) -> F {
    future
}

/// A `#[governed]` handler's response: the handler's own, finished by the
/// resolver (correlation headers, the close of a session opened for it, a
/// streamed body polled inside the session).
pub struct Governed<R> {
    output: R,
    route: resolve::Route,
}

impl<R: IntoResponse> IntoResponse for Governed<R> {
    fn into_response(self) -> Response {
        self.route.respond(self.output)
    }
}

/// A handler's answer on its way to a [`Response`], converted by autoref
/// specialization in the handler's own body (where its type is concrete):
/// [`AnswerViaIntoResponse`] when the answer implements `IntoResponse`, else
/// [`AnswerViaNothing`]'s stand-in, which never runs, because `check_answer`
/// has already failed the build with a sentence at the return type. The
/// handler itself then returns `Response` whatever the user wrote, so that
/// registering it with axum adds no second error (axum's "`Handler<_, _>`
/// is not implemented") to that sentence.
pub struct Respond<R>(std::cell::Cell<Option<Governed<R>>>);

impl<R> Respond<R> {
    /// Holds `answer` for [`AnswerViaIntoResponse::respond`].
    pub fn new(answer: Governed<R>) -> Self {
        Respond(std::cell::Cell::new(Some(answer)))
    }
}

/// Chosen when the handler's answer implements `IntoResponse`.
pub trait AnswerViaIntoResponse {
    /// The answer as a response.
    fn respond(&self) -> Response;
}

impl<R: IntoResponse> AnswerViaIntoResponse for &Respond<R> {
    fn respond(&self) -> Response {
        match self.0.take() {
            Some(answer) => answer.into_response(),
            None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// Chosen when it does not: the build has already failed at the return type.
pub trait AnswerViaNothing {
    /// A `500`, never sent: a build with this answer does not succeed.
    fn respond(&self) -> Response {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

impl<R> AnswerViaNothing for Respond<R> {}

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

// ---- Debug-build checks of a handler's signature -------------------------------
//
// `#[governed]` calls these in debug builds, one per parameter and one for
// the return type, each spanned on the user's own token, so that a type that
// cannot be a handler's parameter or answer is reported there with a
// sentence, instead of as axum's "`Handler<_, _>` is not implemented" at the
// route.

/// A parameter of a `#[governed]` handler that is not its last one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an axum extractor, so it cannot be a parameter of this handler",
    label = "does not implement `FromRequestParts<{S}>`",
    note = "every parameter but the last must implement axum's `FromRequestParts<S>` (`S` is the router's state; with no `State<T>` parameter `#[governed]` checks against `()`, and `#[governed(state = T)]` names another); see https://docs.rs/axum/0.8/axum/extract/index.html",
    note = "the request body can be read only once, so a body extractor (`Json`, `String`, `Bytes`, `Form`, …) must be the last parameter"
)]
pub trait PartsExtractor<S> {}

#[diagnostic::do_not_recommend]
impl<T: FromRequestParts<S>, S> PartsExtractor<S> for T {}

/// The last parameter of a `#[governed]` handler.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an axum extractor, so it cannot be a parameter of this handler",
    label = "implements neither `FromRequest<{S}>` nor `FromRequestParts<{S}>`",
    note = "the last parameter must implement axum's `FromRequest<S>` or `FromRequestParts<S>` (`S` is the router's state; with no `State<T>` parameter `#[governed]` checks against `()`, and `#[governed(state = T)]` names another); see https://docs.rs/axum/0.8/axum/extract/index.html"
)]
pub trait BodyExtractor<S, M> {}

#[diagnostic::do_not_recommend]
impl<T: axum::extract::FromRequest<S, M>, S, M> BodyExtractor<S, M> for T {}

/// The return type of a `#[governed]` handler.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler's answer: it does not implement `IntoResponse`",
    label = "does not implement `axum::response::IntoResponse`",
    note = "return a type that implements `axum::response::IntoResponse`: `String`, `Json<T>`, `(StatusCode, T)`, `Response`, or `Result<T, E>` where both do (`tappass::Error` and errors derived with `#[derive(tappass::GovernanceError)]` do)"
)]
pub trait Answer {}

#[diagnostic::do_not_recommend]
impl<T: IntoResponse> Answer for T {}

/// Checks that `T` can be a parameter before the last: it does nothing at
/// run time.
pub fn check_parameter<T: PartsExtractor<S>, S>() {}

/// Checks that `T` can be the last parameter: it does nothing at run time.
pub fn check_last_parameter<T: BodyExtractor<S, M>, S, M>() {}

/// Checks that `T` can be a handler's return type: it does nothing at run time.
pub fn check_answer<T: Answer>() {}
