#![doc = include_str!("docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

extern crate self as tappass;

pub mod agent;
pub mod agent_guide;
#[cfg(feature = "capability")]
#[cfg_attr(docsrs, doc(cfg(feature = "capability")))]
pub mod capability;
pub mod decision;
#[cfg(feature = "dev-server")]
#[cfg_attr(docsrs, doc(cfg(feature = "dev-server")))]
pub mod dev;
mod error;
pub mod errors_guide;
pub mod estate_guide;
pub mod extract;
mod governed;
pub mod layer;
pub mod layer_guide;
pub mod macros_guide;
#[cfg(feature = "mandate")]
#[cfg_attr(docsrs, doc(cfg(feature = "mandate")))]
pub mod mandate;
#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod openapi;
pub mod propagate;
pub mod response;
pub mod session;
mod timestamp;

pub use agent::{Agent, ChatChunk, ChatResponse};
pub use decision::GovernanceDecision;
pub use error::{BoxError, Error};
pub use layer::TapPassLayer;
pub use response::GovernanceError;
pub use session::{current_session, Session};
pub use timestamp::{ParseTimestampError, Timestamp};

#[doc(inline)]
pub use tappass_macros::{governed, GovernanceError};

/// The README's examples, compiled as doctests.
#[cfg(all(doctest, feature = "dev-server"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Implementation details of the macros. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::governed::{
        check_answer, check_last_parameter, check_parameter, typed, AgentSource, Answer,
        BodyExtractor, Governed, GovernedContext, GovernedRequest, Inherit, InjectedAgent,
        JoinOnly, Need, Open, Optional, PartsExtractor, Probe, Required, Route, RouteFlag, Unused,
        ViaFromRef, ViaNothing,
    };
    #[cfg(feature = "mandate")]
    pub use crate::mandate::extract::{
        Capabilities, FromState, RequiredMandate, VerifierSource, VerifierViaFromRef,
        VerifierViaNothing,
    };
    #[cfg(feature = "utoipa")]
    pub use crate::openapi::derive as openapi;
    pub use crate::response::{render, render_problem, set_retry_after, RetryAfter};
    pub use crate::session::resolve::Flag;
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
}

/// What `#[governance(openapi)]` expands to: its tokens with the `utoipa`
/// feature, a clear compile error without it. Not public API.
#[cfg(feature = "utoipa")]
#[doc(hidden)]
#[macro_export]
macro_rules! __openapi {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// What `#[governance(openapi)]` expands to: its tokens with the `utoipa`
/// feature, a clear compile error without it. Not public API.
#[cfg(not(feature = "utoipa"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __openapi {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`#[governance(openapi)]` needs the `utoipa` feature of tappass: `tappass = { version = \"0.1\", features = [\"utoipa\"] }`"
        );
    };
}

/// What `#[governed(capability = …)]` expands its items to: the tokens with
/// the `mandate` feature, a clear compile error without it. Not public API.
#[cfg(feature = "mandate")]
#[doc(hidden)]
#[macro_export]
macro_rules! __mandate {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// What `#[governed(capability = …)]` expands its items to: the tokens with
/// the `mandate` feature, a clear compile error without it. Not public API.
#[cfg(not(feature = "mandate"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __mandate {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`#[governed(capability = \"…\")]` verifies mandates, which needs the `mandate` feature of tappass: `tappass = { version = \"0.1\", features = [\"mandate\"] }`"
        );
    };
}

/// The type of the hidden mandate parameter of `#[governed(capability = …)]`
/// (`()` without the `mandate` feature, whose error `__mandate!` gives).
/// Not public API.
#[cfg(feature = "mandate")]
#[doc(hidden)]
#[macro_export]
macro_rules! __mandate_param {
    ($source:ty) => {
        ::tappass::__private::RequiredMandate<$source>
    };
    ($source:ty, $state:ty) => {
        ::tappass::__private::RequiredMandate<
            $source,
            ::tappass::__private::FromState<$state, $source>,
        >
    };
}

/// The type of the hidden mandate parameter of `#[governed(capability = …)]`
/// (`()` without the `mandate` feature, whose error `__mandate!` gives).
/// Not public API.
#[cfg(not(feature = "mandate"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __mandate_param {
    ($($tokens:tt)*) => {
        ()
    };
}
