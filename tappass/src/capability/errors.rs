//! What can go wrong: a refused call ([`Rejection`]), a token that does not
//! decode ([`DecodeError`]), and mistakes in configuration or minting.
//!
//! No message here repeats a token, a proof of possession or an argument's
//! value: they can be logged and sent to a caller as they are.

use super::clearance::Clearance;

/// A token that is not a capability token: bad base64, bad JSON, a field
/// missing or of the wrong type, an unknown constraint type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed capability token: {message}")]
pub struct DecodeError {
    message: String,
}

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        DecodeError {
            message: message.into(),
        }
    }

    /// What is wrong, in a sentence that never contains the token.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a call was refused: the only other outcome of
/// [`Authorizer::check`](super::Authorizer::check) than an
/// [`AuthResult`](super::AuthResult). There is no "authorized: false".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No token was presented.
    #[error("no capability token was presented")]
    MissingToken,
    /// The token is larger than the authorizer accepts; it was not decoded.
    #[error("the capability token is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The authorizer's limit.
        max: usize,
    },
    /// The token does not decode.
    #[error(transparent)]
    Malformed(#[from] DecodeError),
    /// An issuer token (`type: 1`) was presented for a call; only execution
    /// tokens authorize calls.
    #[error("only execution tokens can authorize a call")]
    NotExecution,
    /// The token grants no such tool (neither by name nor by `*`).
    #[error("the capability token does not grant the tool `{tool}`")]
    ToolNotGranted {
        /// The tool asked for.
        tool: String,
    },
    /// The token (or a link of its chain) has expired.
    #[error("the capability token expired at {expires_at} (now {now})")]
    Expired {
        /// Its `exp`, Unix seconds.
        expires_at: i64,
        /// The authorizer's clock, Unix seconds.
        now: i64,
    },
    /// The token was issued in the future, beyond the allowed clock skew.
    #[error("the capability token is issued at {issued_at}, in the future (now {now})")]
    NotYetValid {
        /// Its `iat`, Unix seconds.
        issued_at: i64,
        /// The authorizer's clock, Unix seconds.
        now: i64,
    },
    /// The token lives longer than any token may (90 days), or expires
    /// before it is issued.
    #[error("the capability token's lifetime ({seconds} s) is out of bounds")]
    Lifetime {
        /// `exp - iat`.
        seconds: i64,
    },
    /// The token's trust score is below the authorizer's minimum.
    #[error("trust score {score} is below the minimum {min}")]
    TrustScore {
        /// The token's score.
        score: u32,
        /// The authorizer's minimum.
        min: u32,
    },
    /// The token's root issuer is not one of the authorizer's trusted roots.
    #[error("the capability token's root issuer is not trusted")]
    UntrustedIssuer,
    /// A delegated token whose chain does not lead back to its root: a link
    /// missing, not signed by the holder of the one before, or not a hash
    /// match of it.
    #[error("broken delegation chain at depth {depth}: {reason}")]
    BrokenChain {
        /// The depth of the offending link.
        depth: u32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A link of the chain grants more than the link before it.
    #[error("delegation at depth {depth} widens its parent: {what}")]
    Widened {
        /// The depth of the offending link.
        depth: u32,
        /// What it widens (`tools`, `clearance`, …).
        what: &'static str,
    },
    /// A signature in the token (at this depth) does not verify.
    #[error("invalid signature at depth {depth}")]
    BadSignature {
        /// 0 for the root, the chain's links after it.
        depth: u32,
    },
    /// An argument the tool's constraints do not name (closed world).
    #[error("argument `{argument}` is not allowed for this tool")]
    UnknownArgument {
        /// The argument's name.
        argument: String,
    },
    /// An argument's value does not satisfy its constraint.
    #[error("argument `{argument}` violates {constraint}")]
    ConstraintViolated {
        /// The argument's name.
        argument: String,
        /// The constraint, as Python's `repr` shows it.
        constraint: String,
    },
    /// The arguments are nested too deep to be signed over.
    #[error("the arguments are nested deeper than 64 levels")]
    ArgumentsTooDeep,
    /// No proof of possession was presented.
    #[error("no proof of possession was presented")]
    PopMissing,
    /// The proof of possession is not the holder's signature over this call
    /// in an accepted time window.
    #[error("the proof of possession does not verify")]
    PopInvalid,
    /// The token's clearance is below the one required.
    #[error("clearance {actual} is below the required {required}")]
    Clearance {
        /// The token's clearance.
        actual: Clearance,
        /// The one required.
        required: Clearance,
    },
}

/// The families of [`Rejection`], each with a stable machine-readable code,
/// for an HTTP mapping to build its answers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No token.
    Missing,
    /// Not a valid token (malformed, too large, bad signature, untrusted,
    /// broken or widened chain, not yet valid, not an execution token).
    Invalid,
    /// Expired.
    Expired,
    /// The tool is not granted.
    ToolNotGranted,
    /// An argument is unknown or violates its constraint.
    ConstraintViolated,
    /// No proof of possession.
    PopMissing,
    /// A proof of possession that does not verify.
    PopInvalid,
    /// Clearance too low.
    Clearance,
    /// Trust score too low.
    TrustScore,
}

impl RejectionKind {
    /// A stable code: `capability_missing`, `capability_invalid`,
    /// `capability_expired`, `capability_tool_not_granted`,
    /// `capability_constraint_violated`, `capability_pop_missing`,
    /// `capability_pop_invalid`, `capability_clearance`,
    /// `capability_trust_score`.
    pub fn code(self) -> &'static str {
        match self {
            RejectionKind::Missing => "capability_missing",
            RejectionKind::Invalid => "capability_invalid",
            RejectionKind::Expired => "capability_expired",
            RejectionKind::ToolNotGranted => "capability_tool_not_granted",
            RejectionKind::ConstraintViolated => "capability_constraint_violated",
            RejectionKind::PopMissing => "capability_pop_missing",
            RejectionKind::PopInvalid => "capability_pop_invalid",
            RejectionKind::Clearance => "capability_clearance",
            RejectionKind::TrustScore => "capability_trust_score",
        }
    }
}

impl Rejection {
    /// Its family.
    pub fn kind(&self) -> RejectionKind {
        match self {
            Rejection::MissingToken => RejectionKind::Missing,
            Rejection::TooLarge { .. }
            | Rejection::Malformed(_)
            | Rejection::NotExecution
            | Rejection::NotYetValid { .. }
            | Rejection::Lifetime { .. }
            | Rejection::UntrustedIssuer
            | Rejection::BrokenChain { .. }
            | Rejection::Widened { .. }
            | Rejection::BadSignature { .. } => RejectionKind::Invalid,
            Rejection::Expired { .. } => RejectionKind::Expired,
            Rejection::ToolNotGranted { .. } => RejectionKind::ToolNotGranted,
            Rejection::UnknownArgument { .. }
            | Rejection::ConstraintViolated { .. }
            | Rejection::ArgumentsTooDeep => RejectionKind::ConstraintViolated,
            Rejection::PopMissing => RejectionKind::PopMissing,
            Rejection::PopInvalid => RejectionKind::PopInvalid,
            Rejection::Clearance { .. } => RejectionKind::Clearance,
            Rejection::TrustScore { .. } => RejectionKind::TrustScore,
        }
    }

    /// The argument at fault, for the constraint rejections.
    pub fn argument(&self) -> Option<&str> {
        match self {
            Rejection::UnknownArgument { argument }
            | Rejection::ConstraintViolated { argument, .. } => Some(argument),
            _ => None,
        }
    }
}

/// A mistake in an [`AuthorizerBuilder`](super::AuthorizerBuilder).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No trusted root: such an authorizer would have nothing to verify
    /// tokens against (the Python SDK's `Authorizer()` then accepts any
    /// self-signed token; this one cannot be built).
    #[error("an Authorizer needs at least one trusted root: call .trusted_root(PublicKey::from_hex(..)?)")]
    NoTrustedRoot,
    /// A limit outside what the authorizer supports.
    #[error("{0}")]
    Limit(&'static str),
}

/// A token that cannot be minted or delegated as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// No holder key: every token is bound to the key that proves possession.
    #[error("a capability token needs a holder key: call .holder(public_key)")]
    NoHolder,
    /// The lifetime is not positive or longer than 90 days.
    #[error("a capability token lives more than 0 seconds and at most 90 days")]
    Lifetime,
    /// The key delegating is not the parent token's holder.
    #[error("only the holder of a token can delegate it")]
    NotHolder,
    /// The delegated token would grant more than its parent.
    #[error("a delegated token cannot widen its parent: {0}")]
    Widens(&'static str),
    /// The parent is at its maximum delegation depth.
    #[error("the parent token cannot be delegated further (max depth reached)")]
    Terminal,
    /// The operating system's random source failed (for a token id).
    #[error("the system random source failed")]
    Random,
}

/// A constraint that cannot be built (Python raises `ValueError` for the
/// same inputs, or the pattern is outside what this crate can match as
/// Python does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid constraint: {0}")]
pub struct ConstraintError(pub(crate) String);
