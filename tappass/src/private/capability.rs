//! What `#[governed(tool = "…")]` generates code against: the hidden first
//! parameter that verifies the request's capability token and the call
//! before any other extractor.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::state::{NoState, StateService};
use crate::capability::extract::{no_authorizer, request_authorizer, Verified};
use crate::capability::route::{self, Call};
use crate::capability::{Authorizer, CapabilityRejection, Clearance};

/// The call a `#[governed(tool = "…")]` route stands for: implemented by
/// the macro for a hidden type, per handler. Not public API.
#[doc(hidden)]
pub trait ToolRoute {
    /// The tool.
    const TOOL: &'static str;
    /// The path parameters that are arguments.
    const PATH_PARAMS: &'static [&'static str];
    /// The query parameters that are arguments.
    const QUERY: &'static [&'static str];
    /// The clearance required, if any.
    const MIN_CLEARANCE: Option<Clearance>;
}

/// The hidden first parameter of a `#[governed(tool = "…")]` handler,
/// before the route's session and every other extractor: verifies the call
/// (the token, `R`'s arguments, the proof of possession, the clearance)
/// with the request's authorizer (the layer's, else an `Extension`, else
/// for a handler that takes `State<T>` the state's, `F`), and leaves the
/// verified call for an `AuthResult` parameter. A call a
/// `RequireCapability::tool` layer in front verified for the same tool is
/// not verified again (only the clearance is checked). Not public API.
#[doc(hidden)]
pub struct RequiredCall<R, F = NoState>(PhantomData<fn() -> (R, F)>);

impl<S, R, F> FromRequestParts<S> for RequiredCall<R, F>
where
    S: Send + Sync,
    R: ToolRoute,
    F: StateService<S, Authorizer>,
{
    type Rejection = CapabilityRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(Verified(auth)) = parts.extensions.get::<Verified>() {
            if auth.tool() == R::TOOL {
                if let Some(required) = R::MIN_CLEARANCE {
                    auth.require_clearance(required)
                        .map_err(|r| CapabilityRejection::for_tool(R::TOOL, r))?;
                }
                return Ok(RequiredCall(PhantomData));
            }
        }
        let authorizer = request_authorizer(parts)
            .or_else(|| F::service(state))
            .ok_or_else(no_authorizer)?;
        let call = Call {
            tool: R::TOOL,
            path_params: R::PATH_PARAMS,
            query: R::QUERY,
            body: &[] as &[&str],
            min_clearance: R::MIN_CLEARANCE,
        };
        let auth = route::verify(&authorizer, parts, &call, None).await?;
        parts.extensions.insert(Verified(auth));
        Ok(RequiredCall(PhantomData))
    }
}
