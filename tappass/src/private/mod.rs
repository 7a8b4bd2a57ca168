//! What the macros' generated code calls, in one place (`tappass::__private`).
//! Not public API: nothing here is covered by semantic versioning.
//!
//! The generated code names only `::tappass::__private::…` paths and the
//! hidden `::tappass::__…!` macros ([`macros.rs`](self)); the support that
//! exists only for the macros lives in this folder (`governed.rs` for
//! `#[governed]`, `mandate.rs` for its `capability = …`, `capability.rs` for
//! its `tool = …`, `state.rs` for where both find their verifier in the
//! router's state, `guard.rs` for `#[guard]`), and what the crate
//! also uses itself (the renderer, `Retry-After`, the OpenAPI builders) is
//! re-exported from where it lives.

#[cfg(feature = "capability")]
mod capability;
mod governed;
#[cfg(feature = "capability")]
pub mod guard;
mod macros;
#[cfg(feature = "mandate")]
mod mandate;
mod state;

#[cfg(feature = "capability")]
pub use capability::{RequiredCall, ToolRoute};
pub use governed::{
    check_answer, check_last_parameter, check_parameter, typed, AgentSource, Answer,
    AnswerViaIntoResponse, AnswerViaNothing, BodyExtractor, Governed, GovernedContext,
    GovernedRequest, Inherit, InjectedAgent, JoinOnly, Need, Open, Optional, PartsExtractor, Probe,
    Required, Respond, Route, RouteFlag, Unused, ViaFromRef, ViaNothing,
};
#[cfg(feature = "mandate")]
pub use mandate::{Capabilities, RequiredMandate};
pub use state::{
    FromState, NoState, ServiceProbe, ServiceSource, ServiceViaFromRef, ServiceViaNothing,
    StateService,
};

pub use crate::layer::resolve::Flag;
#[cfg(feature = "utoipa")]
pub use crate::openapi::schema as openapi;
pub use crate::response::{render, render_problem, set_retry_after, RetryAfter};
pub use axum;
pub use http;
pub use serde;

/// A field that `#[derive(GovernanceError)]` writes to the JSON body.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot go into the JSON body of a governance error: it does not implement `serde::Serialize`",
    note = "derive or implement `serde::Serialize` for it, or keep the field out of the body with `#[governance(skip)]`"
)]
pub trait BodyField: serde::Serialize {}

impl<T: serde::Serialize + ?Sized> BodyField for T {}

/// Writes one field of a governance error's body.
pub fn serialize_field<M, T>(map: &mut M, key: &'static str, value: &T) -> Result<(), M::Error>
where
    M: serde::ser::SerializeMap,
    T: BodyField + ?Sized,
{
    map.serialize_entry(key, value)
}
