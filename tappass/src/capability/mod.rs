//! Capability tokens: offline authorization of tool calls, wire-compatible
//! with the Python SDK (`tappass.capability_token`, `tappass.constraints`,
//! 0.12.62) and stricter than it.
//!
//! The control plane hands an agent a token (`tappass.capability_token` in
//! a chat answer): an Ed25519-signed grant of tools, each with constraints
//! on its arguments, a clearance, a trust score, an expiry and the agent's
//! public key (the holder). The agent calls a tool service with the token
//! in `X-TapPass-Token` and, in `X-TapPass-PoP`, a proof of possession: its
//! signature over this call's tool and arguments. The service decides with
//! an [`Authorizer`], offline, in microseconds.
//!
//! ```
//! use serde_json::json;
//! use tappass::capability::{
//!     Authorizer, CapabilityToken, ConstraintSet, Pop, PublicKey, Rejection, SigningKey, Subpath,
//! };
//!
//! // The control plane's key (the service knows only its public half) and
//! // the agent's key.
//! let control_plane = SigningKey::generate()?;
//! let agent = SigningKey::generate()?;
//!
//! // The control plane mints a token for the agent.
//! let token = CapabilityToken::builder()
//!     .holder(agent.public_key())
//!     .tool("read_file", ConstraintSet::new().with("path", Subpath::new("/data")?))
//!     .trust_score(80)
//!     .sign(&control_plane)?;
//!
//! // The tool service trusts the control plane's key.
//! let authorizer = Authorizer::builder()
//!     .trusted_root(PublicKey::from_hex(&control_plane.public_key().to_hex())?)
//!     .min_trust_score(50)
//!     .build()?;
//!
//! // The agent calls read_file with the token and a proof of possession.
//! let args = json!({"path": "/data/q3.pdf"}).as_object().unwrap().clone();
//! let pop = Pop::sign(&token, &agent, "read_file", &args)?;
//! let header = token.encode();
//! let auth = authorizer.check(Some(&header), Some(&pop.encode()), "read_file", &args)?;
//! assert_eq!(auth.token_id(), token.id());
//!
//! // The same proof for other arguments, or another tool, is refused: an
//! // error, never an "authorized: false" to remember to look at.
//! let other = json!({"path": "/etc/passwd"}).as_object().unwrap().clone();
//! let refused = authorizer.check(Some(&header), Some(&pop.encode()), "read_file", &other);
//! assert!(matches!(refused, Err(Rejection::ConstraintViolated { ref argument, .. }) if argument == "path"));
//! let refused = authorizer.check(Some(&header), Some(&pop.encode()), "delete_file", &args);
//! assert!(matches!(refused, Err(Rejection::ToolNotGranted { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The wire, as the Python SDK writes it
//!
//! - **Token header**: URL-safe base64 without padding of the token's JSON,
//!   `{"payload": {…}, "sig": "<128 hex>"}`, written by Python's
//!   `json.dumps(…, sort_keys=True)` (separators `", "` and `": "`, ASCII
//!   only). [`CapabilityToken::encode`] writes it byte for byte.
//! - **Payload**: `id`, `ver` (1), `type` (0 execution, 1 issuer), `iss`
//!   and `hld` (public keys, 64 hex), `iat` and `exp` (Unix seconds), `dep`
//!   and `mdp` (delegation depth and maximum), `clr` (0, 10, …, 50), `trs`
//!   (0–1000); `tools` (tool name, or `*`, to argument constraints), `par`
//!   (the parent's SHA-256), `sid` and `aid` when set.
//! - **Signature**: Ed25519 over `tappass-capability-token-v1` followed by
//!   the payload as `json.dumps(payload, sort_keys=True, separators=(",",
//!   ":"))`: non-ASCII escaped as `\uXXXX` (lowercase, surrogate pairs),
//!   floats as `repr(float)` (`1.0`, `1e+16`, `1e-05`, `Infinity`), integers
//!   in full. The bytes are rebuilt from the decoded fields, as Python does.
//! - **Proof of possession**: Ed25519 by the holder over `tappass-pop-v1`
//!   followed by the compact, sorted JSON of `{"args", "id", "tool", "ts"}`,
//!   `ts` the Unix time floored to 30 seconds ([`Pop`]); the header is its
//!   URL-safe base64 (padding optional, as the FastAPI guard reads it).
//! - **Constraints**: `{"type": "subpath", "root": "/data"}` and so on, one
//!   per [`Constraint`] variant; a tool's set may carry `"_allow_unknown":
//!   true`.
//! - **Delegation chains**: the SDK neither mints nor sends them. A
//!   delegated token made here carries its ancestors in its JSON, under
//!   `chain` (root first, each `{"payload", "sig"}`); Python's decoder skips
//!   the key, so Python verifiers still read it. See [`Delegation`].
//!
//! # Stricter than the Python SDK
//!
//! Each difference has a test (`TESTING.md`, section "Capability tokens").
//!
//! 1. **No authorizer without a trusted root.** Python's `Authorizer()`
//!    with no roots accepts any self-signed token; here
//!    [`AuthorizerBuilder::build`] fails with [`BuildError::NoTrustedRoot`].
//! 2. **Delegated tokens only with their whole chain.** Python checks a
//!    delegated token (one with `par`) against nothing but its own `iss`:
//!    anyone can mint `{"dep": 1, "par": <anything>}` for any tool. Here a
//!    delegated token must carry every ancestor back to a trusted root, each
//!    signed by the holder of the one before and each narrowing it
//!    ([`Delegation`] lists the rules); `dep` and `par` must agree (Python
//!    takes `dep > 0` without `par` for a root), and chains deeper than 8
//!    are refused ([`AuthorizerBuilder::max_delegation_depth`]).
//!    Attenuation itself is sound here where Python's `contains` is not
//!    ([`Constraint::contains`], [`ConstraintSet::contains`]).
//! 3. **Time.** Python accepts a PoP made in any of five 30-second windows
//!    around its clock (up to about 90 seconds old, 60 seconds ahead);
//!    here three (the current one and its neighbours: at most about 60
//!    seconds old or ahead), configurable from 0 to Python's 2
//!    ([`AuthorizerBuilder::pop_window_tolerance`]). A PoP has no nonce in
//!    either: within its windows it can be replayed for the same call (not
//!    for other arguments or another tool). Python never reads `iat`; here a
//!    token issued more than 60 seconds in the future, or living more than
//!    90 days (Python's own `MAX_TOKEN_TTL_SECS`), is refused. Expiry is as
//!    strict as Python's: refused from the `exp` second on, no leeway.
//! 4. **Refusals are errors.** Python's `check` returns
//!    `AuthorizationResult(authorized=False)` and its FastAPI guard hands
//!    the handler an `AuthResult` it must test; here every refusal is a
//!    [`Rejection`], and an [`AuthResult`] exists only for an accepted call.
//! 5. **Bounded input.** A token header over 16 KiB is refused before
//!    decoding ([`AuthorizerBuilder::max_token_bytes`]); its JSON may nest
//!    8 levels (exactly what a delegated token with a list constraint
//!    needs), arguments 64; no input panics (property tests feed arbitrary
//!    bytes and strings).
//! 6. **One meaning per token.** Python's decoder skips stray characters in
//!    the base64, takes the last of duplicate keys, ignores unknown fields
//!    (which the signature then does not cover), reads uppercase or spaced
//!    hex, integers for floats and floats for integers. Here the base64 is
//!    exact, keys unique, fields known and of the type the SDK writes, hex
//!    lowercase, lone surrogates and integers beyond 64 bits refused, `ver`
//!    must be 1, and keys of small order and non-canonical signatures are
//!    refused (strict Ed25519).
//! 7. **Constraints.** Each is documented on its type:
//!    - [`Subpath`]: no `..` component at all (symbolic links make `..`
//!      escape a lexical check), no backslash, control character or
//!      percent-encoded `.`, `/`, `\`; ASCII-only case folding.
//!    - [`UrlSafe`]: the WHATWG parser (what HTTP clients use) must read the
//!      same scheme and host as Python's `urlparse`; addresses in any
//!      spelling (decimal, octal, hex, short), `localhost.`, `*.localhost`,
//!      CGNAT, multicast, IPv4 embedded in IPv6 are refused; non-ASCII
//!      hosts are refused.
//!    - [`UrlPattern`]: the same agreement, on the path too (`/api/../x`).
//!    - [`Shlex`]: a lone `&` and control characters are refused, and a
//!      program given with a path must itself be allowed, not only its
//!      base name.
//!    - [`Range`]: NaN satisfies no range.
//!    - [`Regex`]: Python's `re` is matched by translation to the `regex`
//!      crate; what cannot be translated faithfully (backreferences,
//!      lookaround, inline flags, possessive quantifiers, …) makes the
//!      token invalid, and with `\d`, `\w`, `\b` (whose meaning follows the
//!      Unicode tables of the Python that runs) non-ASCII values are refused.
//!    - [`Cel`]: never satisfied. The SDK evaluates CEL only when `celpy` is
//!      installed (it is not a dependency) and denies otherwise; the Rust CEL
//!      crates (`cel`, formerly `cel-interpreter`) bring an ANTLR runtime
//!      and other dependencies and differ from `celpy`'s semantics, so this
//!      crate denies, exactly as the SDK does without `celpy`.
//!    - Every string constraint reads `str(value)`; a list or object
//!      argument satisfies none of them (Python compares its `repr`), only
//!      [`Constraint::Wildcard`].
//! 8. **Order of checks.** Python verifies the signature first; here the
//!    cheap refusals come first (size, form, tool, time, trust score), then
//!    the chain and signatures (root first), the arguments, the PoP. A call
//!    for a tool the token does not grant is refused without any signature
//!    check. The outcome is the same; the reason given may differ when a
//!    token has several faults.
//!
//! # Cost
//!
//! An agent presents one token for many calls, so an [`Authorizer`]
//! remembers, for a bounded number of tokens, the decoded token, the verdict
//! on its chain and signatures (which depends on the token and the trusted
//! roots alone) and the holder's key ([`AuthorizerBuilder::cache_capacity`]).
//! A call with a token seen before costs one Ed25519 verification, the
//! PoP's; a fresh root token two, a token delegated three times five. The
//! figures, against the Python SDK on the same calls, are in
//! `benches/README.md`.

mod authorizer;
mod cache;
mod canonical;
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
    CapabilityToken, Clearance, TokenBuilder, TokenType, UnknownClearance, DEFAULT_TTL_SECS,
    MAX_DELEGATION_DEPTH, MAX_TOKEN_TTL_SECS, TOKEN_ID_PREFIX,
};

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-tappass-token";
/// The header that carries the proof of possession.
pub const POP_HEADER: &str = "x-tappass-pop";
