//! The axum side of a verified call: where a request's [`Authorizer`] is
//! found, the mark a route's check leaves on the request, and the
//! extractors that read it ([`AuthResult`], `Option<AuthResult>`,
//! [`RequireClearance`]).

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use super::authorizer::{AuthResult, Authorizer};
use super::clearance::Clearance;
use super::rejection::CapabilityRejection;
use crate::session::scope;

/// A call verified for this request by the route's check
/// (`#[governed(tool = …)]` or [`RequireCapability::tool`](super::RequireCapability::tool)),
/// put in its extensions.
#[derive(Clone)]
pub(crate) struct Verified(pub(crate) AuthResult);

/// The authorizer a request has: the one of the
/// [`TapPassLayer`](crate::TapPassLayer) it runs behind
/// (`.capabilities(authorizer)`, read from the request's scope), else an
/// `Extension<Authorizer>`. The one place that decides it, for the macro's
/// check and [`RequireCapability`](super::RequireCapability) (after which
/// the macro also looks in the router's state).
pub(crate) fn request_authorizer(parts: &Parts) -> Option<Authorizer> {
    scope::lent::<Authorizer>().or_else(|| parts.extensions.get::<Authorizer>().cloned())
}

/// The `500` for a route that checks capability tokens without an authorizer.
pub(crate) fn no_authorizer() -> CapabilityRejection {
    CapabilityRejection::misconfigured(
        "a route checks capability tokens but no authorizer is configured: build the layer with `TapPassLayer::builder().capabilities(authorizer)`, or add `.layer(axum::Extension(authorizer))` to the router, or give the router a state from which `Authorizer: FromRef` (or use `RequireCapability::new(authorizer)`)",
    )
}

/// A verified call, for a handler whose route checked one: the
/// `#[governed(tool = "…")]` handler itself (its check runs before every
/// other extractor), or a route behind
/// [`RequireCapability::tool`](super::RequireCapability::tool). It never
/// verifies anything itself: a route without a check answers `500
/// governance_misconfigured`, which says to add one (a capability token
/// proves possession only for a call: the tool and its arguments, which
/// the route names).
impl<S: Send + Sync> FromRequestParts<S> for AuthResult {
    type Rejection = CapabilityRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Verified>() {
            Some(Verified(auth)) => Ok(auth.clone()),
            None => Err(CapabilityRejection::misconfigured(
                "a handler takes an AuthResult, but its route checks no call: write `#[tappass::governed(tool = \"…\")]` on the handler, or add `.route_layer(RequireCapability::tool(\"…\"))` to the route",
            )),
        }
    }
}

/// `Some` when the route verified a call, `None` when it checked none: a
/// `None` never means a token was accepted (a token the route did not
/// check is not looked at).
impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthResult {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Verified>()
            .map(|Verified(auth)| auth.clone()))
    }
}

/// A clearance level as a type, for [`RequireClearance`]: [`level::Untrusted`],
/// [`level::External`], [`level::Partner`], [`level::Internal`],
/// [`level::Privileged`], [`level::System`].
pub trait Level: Send + Sync + 'static {
    /// The level.
    const CLEARANCE: Clearance;
}

/// The clearance levels as types, for [`RequireClearance<L>`].
pub mod level {
    use super::{Clearance, Level};

    macro_rules! levels {
        ($($name:ident),*) => {$(
            #[doc = concat!("`", stringify!($name), "`: [`Clearance::", stringify!($name), "`] as a type.")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
            pub struct $name;
            impl Level for $name {
                const CLEARANCE: Clearance = Clearance::$name;
            }
        )*};
    }
    levels!(Untrusted, External, Partner, Internal, Privileged, System);
}

/// The Python SDK's `require_clearance` as an extractor: the route's
/// verified call ([`AuthResult`]), with a clearance of at least `L`
/// (`403 capability_clearance` otherwise).
///
/// Python's `require_clearance` only decodes the token: no signature, no
/// expiry, no proof of possession. This one reads the call the route
/// verified, so it needs the route's check (`#[governed(tool = …)]`, or
/// [`RequireCapability::tool`](super::RequireCapability::tool)); for a
/// clearance on every route of a router, use
/// [`RequireCapability::min_clearance`](super::RequireCapability::min_clearance)
/// or the macro's `min_clearance = "…"`.
///
/// ```
/// use tappass::capability::{level::Privileged, RequireClearance};
///
/// #[tappass::governed(tool = "reset")]
/// async fn reset(RequireClearance(auth, ..): RequireClearance<Privileged>) -> String {
///     format!("reset by {}", auth.token_id())
/// }
/// ```
pub struct RequireClearance<L: Level>(pub AuthResult, pub PhantomData<L>);

impl<L: Level> std::fmt::Debug for RequireClearance<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequireClearance")
            .field(&L::CLEARANCE)
            .field(&self.0)
            .finish()
    }
}

impl<L: Level> RequireClearance<L> {
    /// The verified call.
    pub fn into_inner(self) -> AuthResult {
        self.0
    }
}

impl<S: Send + Sync, L: Level> FromRequestParts<S> for RequireClearance<L> {
    type Rejection = CapabilityRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = <AuthResult as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        auth.require_clearance(L::CLEARANCE)
            .map_err(|rejection| CapabilityRejection::for_tool(auth.tool(), rejection))?;
        Ok(RequireClearance(auth, PhantomData))
    }
}
