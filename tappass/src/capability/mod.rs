#![doc = include_str!("../docs/capabilities.md")]

mod authorizer;
mod cache;
mod canonical;
mod clearance;
mod constraints;
mod delegation;
mod errors;
pub(crate) mod extract;
mod layer;
mod pop;
mod rejection;
pub(crate) mod route;
pub(crate) mod scope;
mod token;

pub use crate::signing::{KeyError, PublicKey, SigningKey};
pub use authorizer::{
    Args, AuthResult, Authorizer, AuthorizerBuilder, ConstraintCheck, Diagnosis,
    DEFAULT_CACHE_CAPACITY, DEFAULT_MAX_DELEGATION_DEPTH, DEFAULT_MAX_TOKEN_BYTES,
    MAX_CLOCK_SKEW_SECS, MAX_TOKEN_BYTES_LIMIT,
};
pub use clearance::{Clearance, UnknownClearance};
pub use constraints::{
    Cel, Cidr, Constraint, ConstraintSet, Exact, NotOneOf, Number, OneOf, Pattern, Range, Regex,
    Shlex, Subpath, UrlPattern, UrlSafe,
};
pub use delegation::Delegation;
pub use errors::{BuildError, ConstraintError, DecodeError, MintError, Rejection, RejectionKind};
pub use extract::{level, Level, RequireClearance};
pub use layer::{RequireCapability, RequireCapabilityService, DEFAULT_BODY_LIMIT};
pub use pop::{Pop, POP_WINDOW_SECS};
pub use rejection::CapabilityRejection;
pub use scope::{scope, Credentials};
pub use token::{
    CapabilityToken, TokenBuilder, TokenType, DEFAULT_TTL_SECS, MAX_DELEGATION_DEPTH,
    MAX_TOKEN_TTL_SECS, TOKEN_ID_PREFIX,
};

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-tappass-token";
/// The header that carries the proof of possession.
pub const POP_HEADER: &str = "x-tappass-pop";
