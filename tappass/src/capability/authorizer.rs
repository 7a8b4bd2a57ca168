//! The verifier: one decision per call, an [`AuthResult`] or a [`Rejection`].

use std::fmt;
use std::sync::Arc;

use super::cache::{Cache, Presented};
use super::clearance::Clearance;
use super::constraints::ArgFailure;
use super::delegation::verify_chain;
use super::errors::{BuildError, Rejection};
use super::pop::Pop;
use super::token::{
    unix_now, CapabilityToken, TokenType, MAX_DELEGATION_DEPTH, MAX_TOKEN_TTL_SECS,
};
use crate::signing::keys::PublicKey;

/// The default largest token header accepted, in bytes: 16 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The largest token header any authorizer accepts: 1 MiB.
pub const MAX_TOKEN_BYTES_LIMIT: usize = 1024 * 1024;
/// How far in the future a token's `iat` may be (clock skew), in seconds.
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;
/// The default deepest delegation accepted.
pub const DEFAULT_MAX_DELEGATION_DEPTH: u32 = 8;
/// How many presented tokens an authorizer remembers by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// Call arguments: a JSON object's members, the `args` of the Python SDK.
pub type Args = serde_json::Map<String, serde_json::Value>;

struct Inner {
    roots: Vec<PublicKey>,
    min_trust_score: u32,
    max_token_bytes: usize,
    pop_tolerance: u8,
    max_depth: u32,
    cache: Option<Cache>,
}

/// Verifies capability tokens offline: cheap to clone (one `Arc`), shareable
/// across threads, built with at least one trusted root.
///
/// See the [module documentation](super) for the whole decision and where
/// it is stricter than the Python SDK.
#[derive(Clone)]
pub struct Authorizer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("trusted_roots", &self.inner.roots)
            .field("min_trust_score", &self.inner.min_trust_score)
            .field("max_token_bytes", &self.inner.max_token_bytes)
            .field("pop_window_tolerance", &self.inner.pop_tolerance)
            .field("max_delegation_depth", &self.inner.max_depth)
            .field("cache", &self.inner.cache.is_some())
            .finish()
    }
}

/// Configures an [`Authorizer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct AuthorizerBuilder {
    roots: Vec<PublicKey>,
    min_trust_score: u32,
    max_token_bytes: usize,
    pop_tolerance: u8,
    max_depth: u32,
    cache_capacity: usize,
}

impl Default for AuthorizerBuilder {
    fn default() -> Self {
        AuthorizerBuilder {
            roots: Vec::new(),
            min_trust_score: 0,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            pop_tolerance: 1,
            max_depth: DEFAULT_MAX_DELEGATION_DEPTH,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }
}

impl AuthorizerBuilder {
    /// Trusts root tokens issued by `key` (the control plane's). At least
    /// one is required.
    pub fn trusted_root(mut self, key: PublicKey) -> Self {
        if !self.roots.contains(&key) {
            self.roots.push(key);
        }
        self
    }

    /// Trusts each of `keys` (during a key rotation, the old and the new).
    pub fn trusted_roots(mut self, keys: impl IntoIterator<Item = PublicKey>) -> Self {
        for key in keys {
            self = self.trusted_root(key);
        }
        self
    }

    /// Refuses tokens whose trust score is below `score` (default 0).
    pub fn min_trust_score(mut self, score: u32) -> Self {
        self.min_trust_score = score;
        self
    }

    /// Refuses token headers longer than `bytes` before decoding them
    /// (default 16 KiB, at most 1 MiB).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// How many 30-second windows a proof of possession may be away from
    /// the verifier's current one: 0, 1 (the default: made in the current,
    /// previous or next window) or 2 (the Python SDK's: up to about
    /// 90 seconds old or 60 seconds ahead).
    pub fn pop_window_tolerance(mut self, windows: u8) -> Self {
        self.pop_tolerance = windows;
        self
    }

    /// The deepest delegated token accepted (default 8, at most 64).
    pub fn max_delegation_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }

    /// How many presented tokens to remember (default 1,024; 0 for none).
    ///
    /// An agent presents one token for many calls. The authorizer keeps,
    /// per token, the decoded token, the verdict on its signatures and chain
    /// (which depends on nothing but the token and the trusted roots) and
    /// the holder's key; each call still checks the tool, the times, the
    /// arguments and the proof of possession. The memory is bounded (about
    /// this many tokens, up to 16 KiB each by default).
    pub fn cache_capacity(mut self, tokens: usize) -> Self {
        self.cache_capacity = tokens;
        self
    }

    /// The authorizer; an error without a trusted root or with a limit out
    /// of bounds.
    pub fn build(self) -> Result<Authorizer, BuildError> {
        if self.roots.is_empty() {
            return Err(BuildError::NoTrustedRoot);
        }
        if self.max_token_bytes == 0 || self.max_token_bytes > MAX_TOKEN_BYTES_LIMIT {
            return Err(BuildError::Limit("max_token_bytes is between 1 and 1 MiB"));
        }
        if self.pop_tolerance > 2 {
            return Err(BuildError::Limit("pop_window_tolerance is 0, 1 or 2"));
        }
        if self.max_depth > MAX_DELEGATION_DEPTH {
            return Err(BuildError::Limit("max_delegation_depth is at most 64"));
        }
        if self.cache_capacity > 1 << 20 {
            return Err(BuildError::Limit(
                "cache_capacity is at most 1,048,576 tokens",
            ));
        }
        Ok(Authorizer {
            inner: Arc::new(Inner {
                roots: self.roots,
                min_trust_score: self.min_trust_score,
                max_token_bytes: self.max_token_bytes,
                pop_tolerance: self.pop_tolerance,
                max_depth: self.max_depth,
                cache: (self.cache_capacity > 0).then(|| Cache::new(self.cache_capacity)),
            }),
        })
    }
}

impl Authorizer {
    /// A builder; `.trusted_root(..)` is required.
    pub fn builder() -> AuthorizerBuilder {
        AuthorizerBuilder::default()
    }

    /// The trusted roots.
    pub fn trusted_roots(&self) -> &[PublicKey] {
        &self.inner.roots
    }

    /// Decides a call from its headers: `token` is the `X-TapPass-Token`
    /// value, `pop` the `X-TapPass-PoP` value (either absent), `tool` the
    /// tool called and `args` its arguments, as the caller signed them.
    pub fn check(
        &self,
        token: Option<&str>,
        pop: Option<&str>,
        tool: &str,
        args: &Args,
    ) -> Result<AuthResult, Rejection> {
        self.check_at(token, pop, tool, args, unix_now())
    }

    /// As [`check`](Self::check), at `now` (Unix seconds).
    pub fn check_at(
        &self,
        token: Option<&str>,
        pop: Option<&str>,
        tool: &str,
        args: &Args,
        now: i64,
    ) -> Result<AuthResult, Rejection> {
        let presented = self.present(token)?;
        self.conclude(&presented, pop, tool, args, now)
    }

    /// The size check and the decoding (or the memory of an earlier one),
    /// before anything else.
    fn present(&self, token: Option<&str>) -> Result<Arc<Presented>, Rejection> {
        let header = token
            .filter(|t| !t.is_empty())
            .ok_or(Rejection::MissingToken)?;
        if header.len() > self.inner.max_token_bytes {
            return Err(Rejection::TooLarge {
                len: header.len(),
                max: self.inner.max_token_bytes,
            });
        }
        if let Some(cache) = &self.inner.cache {
            if let Some(presented) = cache.get(header) {
                return Ok(presented);
            }
        }
        let presented = Arc::new(Presented::new(Arc::new(CapabilityToken::decode(header)?)));
        if let Some(cache) = &self.inner.cache {
            cache.insert(header, presented.clone());
        }
        Ok(presented)
    }

    fn conclude(
        &self,
        presented: &Presented,
        pop: Option<&str>,
        tool: &str,
        args: &Args,
        now: i64,
    ) -> Result<AuthResult, Rejection> {
        let holder = self.decide(presented, pop, tool, args, now)?;
        Ok(AuthResult {
            token: presented.token.clone(),
            tool: tool.to_owned(),
            holder,
        })
    }

    /// Decides a call with a token already decoded (an agent's own, for a
    /// guarded function); `pop` is the header value of the proof of
    /// possession.
    pub fn authorize(
        &self,
        token: impl Into<Arc<CapabilityToken>>,
        pop: Option<&str>,
        tool: &str,
        args: &Args,
    ) -> Result<AuthResult, Rejection> {
        self.authorize_at(token, pop, tool, args, unix_now())
    }

    /// As [`authorize`](Self::authorize), at `now` (Unix seconds).
    pub fn authorize_at(
        &self,
        token: impl Into<Arc<CapabilityToken>>,
        pop: Option<&str>,
        tool: &str,
        args: &Args,
        now: i64,
    ) -> Result<AuthResult, Rejection> {
        self.conclude(&Presented::new(token.into()), pop, tool, args, now)
    }

    /// The decision, in the order that refuses cheaply first: the token's
    /// form and grant, its times and score, then its chain and signatures,
    /// then the arguments, then the proof of possession.
    fn decide(
        &self,
        presented: &Presented,
        pop: Option<&str>,
        tool: &str,
        args: &Args,
        now: i64,
    ) -> Result<PublicKey, Rejection> {
        let token = &*presented.token;
        if token.token_type() != TokenType::Execution {
            return Err(Rejection::NotExecution);
        }
        let grant = token.grant(tool).ok_or_else(|| Rejection::ToolNotGranted {
            tool: tool.to_owned(),
        })?;
        self.in_force(presented, now)?;
        grant.check(args).map_err(|failure| match failure {
            ArgFailure::Unknown(argument) => Rejection::UnknownArgument { argument },
            ArgFailure::Violated {
                argument,
                constraint,
            } => Rejection::ConstraintViolated {
                argument,
                constraint,
            },
        })?;
        let pop = pop.filter(|p| !p.is_empty()).ok_or(Rejection::PopMissing)?;
        let pop = Pop::decode(pop).map_err(|_| Rejection::PopInvalid)?;
        let holder = presented.holder().ok_or(Rejection::PopInvalid)?;
        match pop.verify(
            &holder,
            token.id(),
            tool,
            args,
            now,
            self.inner.pop_tolerance,
        ) {
            Ok(true) => Ok(holder),
            Ok(false) => Err(Rejection::PopInvalid),
            Err(_) => Err(Rejection::ArgumentsTooDeep),
        }
    }

    /// What holds of the token alone, whatever the call: its times, its
    /// trust score, its depth, then its chain and signatures (remembered per
    /// token). The one place both [`decide`](Self::decide) and
    /// [`validate_at`](Self::validate_at) ask.
    fn in_force(&self, presented: &Presented, now: i64) -> Result<(), Rejection> {
        let token = &*presented.token;
        check_times(token, now)?;
        if token.trust_score() < self.inner.min_trust_score {
            return Err(Rejection::TrustScore {
                score: token.trust_score(),
                min: self.inner.min_trust_score,
            });
        }
        if token.depth() > self.inner.max_depth {
            return Err(Rejection::BrokenChain {
                depth: token.depth(),
                reason: "deeper than this authorizer accepts",
            });
        }
        presented
            .chain
            .get_or_init(|| verify_chain(token, &self.inner.roots))
            .clone()
    }

    /// Checks a token without a call: an execution token, in force (not
    /// expired, not from the future, living at most 90 days), with the
    /// minimum trust score, and signed back to a trusted root (its chain
    /// included). No tool, argument or proof of possession is checked: this
    /// says that the control plane issued the token and that it is in
    /// force, not that the caller holds it. It is what
    /// [`RequireCapability::new`](super::RequireCapability::new) asks of
    /// every request; a call is decided by [`check`](Self::check).
    pub fn validate(&self, token: Option<&str>) -> Result<Arc<CapabilityToken>, Rejection> {
        self.validate_at(token, unix_now())
    }

    /// As [`validate`](Self::validate), at `now` (Unix seconds).
    pub fn validate_at(
        &self,
        token: Option<&str>,
        now: i64,
    ) -> Result<Arc<CapabilityToken>, Rejection> {
        let presented = self.present(token)?;
        if presented.token.token_type() != TokenType::Execution {
            return Err(Rejection::NotExecution);
        }
        self.in_force(&presented, now)?;
        Ok(presented.token.clone())
    }

    /// Explains the decision on a call: the same outcome as
    /// [`check`](Self::check), with what was found on the way (the grant,
    /// every constraint's verdict, a suggestion). For debugging a rollout;
    /// the outcome is the only thing to act on.
    pub fn why_denied(
        &self,
        token: Option<&str>,
        pop: Option<&str>,
        tool: &str,
        args: &Args,
    ) -> Diagnosis {
        self.why_denied_at(token, pop, tool, args, unix_now())
    }

    /// As [`why_denied`](Self::why_denied), at `now` (Unix seconds).
    pub fn why_denied_at(
        &self,
        token: Option<&str>,
        pop: Option<&str>,
        tool: &str,
        args: &Args,
        now: i64,
    ) -> Diagnosis {
        let decoded = self.present(token).map(|p| p.token.clone());
        let outcome = self.check_at(token, pop, tool, args, now);
        let mut diagnosis = Diagnosis {
            tool: tool.to_owned(),
            token_id: None,
            expired: None,
            ttl_remaining: None,
            depth: None,
            clearance: None,
            trust_score: None,
            granted_tools: Vec::new(),
            checks: Vec::new(),
            suggestion: None,
            outcome,
        };
        if let Ok(t) = &decoded {
            diagnosis.token_id = Some(t.id().to_owned());
            diagnosis.expired = Some(now >= t.expires_at());
            diagnosis.ttl_remaining = Some(t.ttl_remaining_at(now));
            diagnosis.depth = Some(t.depth());
            diagnosis.clearance = Some(t.clearance());
            diagnosis.trust_score = Some(t.trust_score());
            diagnosis.granted_tools = t.tools().map(|(name, _)| name.to_owned()).collect();
            if let Some(grant) = t.grant(tool) {
                for (argument, constraint) in grant.iter() {
                    diagnosis.checks.push(ConstraintCheck {
                        argument: argument.to_owned(),
                        constraint: constraint.to_string(),
                        present: args.contains_key(argument),
                        satisfied: args.get(argument).map(|v| constraint.satisfies(v)),
                    });
                }
            }
        }
        diagnosis.suggestion = diagnosis.outcome.as_ref().err().map(suggestion);
        diagnosis
    }
}

/// `exp` (strict: expired from that second on, as Python), `iat` not in
/// the future beyond the skew, and a lifetime of at most 90 days.
fn check_times(token: &CapabilityToken, now: i64) -> Result<(), Rejection> {
    if now >= token.expires_at() {
        return Err(Rejection::Expired {
            expires_at: token.expires_at(),
            now,
        });
    }
    if token.issued_at() > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(Rejection::NotYetValid {
            issued_at: token.issued_at(),
            now,
        });
    }
    let lifetime = token.expires_at().saturating_sub(token.issued_at());
    if lifetime <= 0 || lifetime > MAX_TOKEN_TTL_SECS {
        return Err(Rejection::Lifetime { seconds: lifetime });
    }
    Ok(())
}

fn suggestion(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::MissingToken => "send the token in X-TapPass-Token",
        Rejection::TooLarge { .. } => "mint a smaller token, or raise max_token_bytes",
        Rejection::Malformed(_) => "send the token exactly as the control plane encoded it",
        Rejection::NotExecution => "present an execution token, not an issuer token",
        Rejection::ToolNotGranted { .. } => "mint a token that grants this tool",
        Rejection::Expired { .. } => "mint a new token",
        Rejection::NotYetValid { .. } => "check the clocks of the issuer and of this service",
        Rejection::Lifetime { .. } => "mint a token that lives at most 90 days",
        Rejection::TrustScore { .. } => "the agent's trust score is too low for this service",
        Rejection::UntrustedIssuer => "add the control plane's public key as a trusted root",
        Rejection::BrokenChain { .. } => "send the delegated token with its whole chain",
        Rejection::Widened { .. } => "delegate only a narrowing of the parent token",
        Rejection::BadSignature { .. } => "the token was altered or signed by another key",
        Rejection::UnknownArgument { .. } => "send only the arguments the token constrains",
        Rejection::ConstraintViolated { .. } => "the argument's value is outside what the token allows",
        Rejection::ArgumentsTooDeep => "flatten the arguments",
        Rejection::PopMissing => "sign the call with the holder key and send it in X-TapPass-PoP",
        Rejection::PopInvalid => {
            "sign this exact call (tool and arguments) with the holder key, with a synchronised clock"
        }
        Rejection::Clearance { .. } => "this route needs a token with a higher clearance",
    }
}

/// A verified call: the token (with its chain) and what it granted. It only
/// exists for a call the authorizer accepted.
#[derive(Debug, Clone)]
pub struct AuthResult {
    token: Arc<CapabilityToken>,
    tool: String,
    holder: PublicKey,
}

impl AuthResult {
    /// The verified token.
    pub fn token(&self) -> &CapabilityToken {
        &self.token
    }
    /// The verified token, shared.
    pub fn token_arc(&self) -> &Arc<CapabilityToken> {
        &self.token
    }
    /// The token's id.
    pub fn token_id(&self) -> &str {
        self.token.id()
    }
    /// The tool the call was authorized for.
    pub fn tool(&self) -> &str {
        &self.tool
    }
    /// The key that proved possession.
    pub fn holder(&self) -> PublicKey {
        self.holder
    }
    /// The token's clearance.
    pub fn clearance(&self) -> Clearance {
        self.token.clearance()
    }
    /// The token's trust score.
    pub fn trust_score(&self) -> u32 {
        self.token.trust_score()
    }
    /// The token's delegation depth.
    pub fn depth(&self) -> u32 {
        self.token.depth()
    }
    /// The agent the token was minted for, if it says.
    pub fn agent_id(&self) -> Option<&str> {
        self.token.agent_id()
    }
    /// The session the token was minted in, if it says.
    pub fn session_id(&self) -> Option<&str> {
        self.token.session_id()
    }
    /// When the token expires, Unix seconds.
    pub fn expires_at(&self) -> i64 {
        self.token.expires_at()
    }
    /// `Ok` when the token's clearance is at least `required` (the
    /// `require_clearance` of the Python SDK, as an error rather than a flag).
    pub fn require_clearance(&self, required: Clearance) -> Result<(), Rejection> {
        if self.clearance() >= required {
            Ok(())
        } else {
            Err(Rejection::Clearance {
                actual: self.clearance(),
                required,
            })
        }
    }
}

/// One constraint's verdict in a [`Diagnosis`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstraintCheck {
    /// The argument's name.
    pub argument: String,
    /// The constraint, as Python's `repr`.
    pub constraint: String,
    /// Whether the call has the argument.
    pub present: bool,
    /// Whether its value satisfies the constraint (`None` when absent).
    pub satisfied: Option<bool>,
}

/// What [`Authorizer::why_denied`] found. Its [`outcome`](Self::outcome)
/// is exactly what [`Authorizer::check`] answers.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The tool asked for.
    pub tool: String,
    /// The token's id, if it decoded.
    pub token_id: Option<String>,
    /// Whether it had expired.
    pub expired: Option<bool>,
    /// Seconds it had left.
    pub ttl_remaining: Option<i64>,
    /// Its delegation depth.
    pub depth: Option<u32>,
    /// Its clearance.
    pub clearance: Option<Clearance>,
    /// Its trust score.
    pub trust_score: Option<u32>,
    /// The tools it names (`*` included).
    pub granted_tools: Vec<String>,
    /// Each constraint of the tool's grant, judged on the call's arguments.
    pub checks: Vec<ConstraintCheck>,
    /// What to do about a refusal.
    pub suggestion: Option<&'static str>,
    outcome: Result<AuthResult, Rejection>,
}

impl Diagnosis {
    /// The decision, as [`Authorizer::check`] makes it.
    pub fn outcome(&self) -> &Result<AuthResult, Rejection> {
        &self.outcome
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::capability::{ConstraintSet, SigningKey, Subpath};

    const NOW: i64 = 1_767_225_607;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn authorizer() -> Authorizer {
        Authorizer::builder()
            .trusted_root(key(1).public_key())
            .build()
            .unwrap()
    }

    fn token() -> CapabilityToken {
        CapabilityToken::builder()
            .id("tp_ct_unit")
            .holder(key(2).public_key())
            .tool(
                "read_file",
                ConstraintSet::new().with("path", Subpath::new("/data").unwrap()),
            )
            .issued_at(NOW - 5)
            .sign(&key(1))
            .unwrap()
    }

    fn args(v: serde_json::Value) -> Args {
        v.as_object().unwrap().clone()
    }

    /// `token` with its `iat` and `exp` replaced: a token the builder would
    /// not mint, whose times are checked before its (now wrong) signature.
    fn retimed(token: &CapabilityToken, iat: i64, exp: i64) -> String {
        let mut json: serde_json::Value = serde_json::from_str(&token.to_json()).unwrap();
        json["payload"]["iat"] = iat.into();
        json["payload"]["exp"] = exp.into();
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            json.to_string(),
        )
    }

    fn minted(iat: i64, exp: i64) -> String {
        CapabilityToken::builder()
            .id("tp_ct_times")
            .holder(key(2).public_key())
            .tool("read_file", ConstraintSet::new())
            .issued_at(iat)
            .expires_at(exp)
            .sign(&key(1))
            .unwrap()
            .encode()
    }

    #[test]
    fn the_size_limit_holds_at_its_boundary_and_by_default_is_16_kib() {
        let too_large = |a: &Authorizer, len: usize| {
            matches!(
                a.validate_at(Some(&"A".repeat(len)), NOW),
                Err(Rejection::TooLarge { .. })
            )
        };
        let default = authorizer();
        assert!(!too_large(&default, 16 * 1024), "16 KiB is read");
        assert!(too_large(&default, 16 * 1024 + 1), "one byte more is not");
        let small = Authorizer::builder()
            .trusted_root(key(1).public_key())
            .max_token_bytes(600)
            .build()
            .unwrap();
        assert!(!too_large(&small, 600));
        assert!(too_large(&small, 601));
    }

    #[test]
    fn times_are_checked_at_their_boundaries() {
        let a = authorizer();
        let day = 24 * 60 * 60;
        // Issued up to the clock skew ahead of now: accepted; a second more: not.
        assert!(a
            .validate_at(Some(&minted(NOW + MAX_CLOCK_SKEW_SECS, NOW + day)), NOW)
            .is_ok());
        assert!(matches!(
            a.validate_at(Some(&minted(NOW + MAX_CLOCK_SKEW_SECS + 1, NOW + day)), NOW),
            Err(Rejection::NotYetValid { .. })
        ));
        // Expired from its `exp` second on.
        assert!(a.validate_at(Some(&minted(NOW - 10, NOW + 1)), NOW).is_ok());
        assert!(matches!(
            a.validate_at(Some(&minted(NOW - 10, NOW)), NOW),
            Err(Rejection::Expired { .. })
        ));
        // A lifetime of exactly the most a token may have: accepted; one
        // second more, none, or a negative one: refused for its lifetime.
        let t = token();
        assert!(a
            .validate_at(Some(&minted(NOW - 10, NOW - 10 + MAX_TOKEN_TTL_SECS)), NOW)
            .is_ok());
        for (iat, exp) in [
            (NOW - 10, NOW - 10 + MAX_TOKEN_TTL_SECS + 1),
            (NOW + 30, NOW + 30),
            (NOW + 40, NOW + 30),
        ] {
            assert!(
                matches!(
                    a.validate_at(Some(&retimed(&t, iat, exp)), NOW),
                    Err(Rejection::Lifetime { .. })
                ),
                "{iat} {exp}: {:?}",
                a.validate_at(Some(&retimed(&t, iat, exp)), NOW)
            );
        }
    }

    #[test]
    fn a_chain_as_deep_as_the_authorizer_accepts_is_accepted_and_one_deeper_is_not() {
        let root = CapabilityToken::builder()
            .id("tp_ct_root")
            .holder(key(2).public_key())
            .tool("read_file", ConstraintSet::new())
            .issued_at(NOW - 5)
            .max_depth(4)
            .sign(&key(1))
            .unwrap();
        let once = root
            .delegate(key(3).public_key())
            .issued_at(NOW - 4)
            .sign(&key(2))
            .unwrap();
        let twice = once
            .delegate(key(4).public_key())
            .issued_at(NOW - 3)
            .sign(&key(3))
            .unwrap();
        let a = Authorizer::builder()
            .trusted_root(key(1).public_key())
            .max_delegation_depth(1)
            .build()
            .unwrap();
        assert!(a.validate_at(Some(&once.encode()), NOW).is_ok());
        assert!(matches!(
            a.validate_at(Some(&twice.encode()), NOW),
            Err(Rejection::BrokenChain { depth: 2, .. })
        ));
        assert!(authorizer().validate_at(Some(&twice.encode()), NOW).is_ok());
    }

    #[test]
    fn the_builder_takes_each_limit_up_to_its_bound() {
        let root = || Authorizer::builder().trusted_root(key(1).public_key());
        assert!(root()
            .max_token_bytes(MAX_TOKEN_BYTES_LIMIT)
            .build()
            .is_ok());
        assert!(root()
            .max_token_bytes(MAX_TOKEN_BYTES_LIMIT + 1)
            .build()
            .is_err());
        assert!(root().pop_window_tolerance(2).build().is_ok());
        assert!(root()
            .max_delegation_depth(MAX_DELEGATION_DEPTH)
            .build()
            .is_ok());
        assert!(root().cache_capacity(1 << 20).build().is_ok());
        assert!(root().cache_capacity((1 << 20) + 1).build().is_err());
        // The memory of presented tokens is on by default, off at 0.
        assert!(format!("{:?}", authorizer()).contains("cache: true"));
        let forgetful = root().cache_capacity(0).build().unwrap();
        assert!(format!("{forgetful:?}").contains("cache: false"));
        // Every root of a rotation is trusted.
        let rotating = Authorizer::builder()
            .trusted_roots([key(9).public_key(), key(1).public_key()])
            .build()
            .unwrap();
        assert_eq!(
            rotating.trusted_roots(),
            [key(9).public_key(), key(1).public_key()]
        );
        assert!(rotating.validate_at(Some(&token().encode()), NOW).is_ok());
    }

    #[test]
    fn a_diagnosis_says_whether_the_token_expired_and_what_to_do() {
        let a = authorizer();
        let t = token().encode();
        let args = args(json!({"path": "/data/x"}));
        let fresh = a.why_denied_at(Some(&t), None, "read_file", &args, NOW);
        assert_eq!(fresh.expired, Some(false));
        assert_eq!(fresh.token_id.as_deref(), Some("tp_ct_unit"));
        let late = a.why_denied_at(Some(&t), None, "read_file", &args, NOW - 5 + 300);
        assert_eq!(late.expired, Some(true), "expired from its exp second on");
        assert_eq!(late.suggestion, Some("mint a new token"));
        let missing = a.why_denied_at(None, None, "read_file", &args, NOW);
        assert_eq!(
            missing.suggestion,
            Some("send the token in X-TapPass-Token")
        );
    }

    #[test]
    fn an_accepted_delegated_call_reads_every_claim_and_checks_clearance() {
        let root = CapabilityToken::builder()
            .id("tp_ct_root")
            .holder(key(2).public_key())
            .tool("read_file", ConstraintSet::new())
            .issued_at(NOW - 5)
            .max_depth(2)
            .clearance(Clearance::Partner)
            .trust_score(70)
            .session_id("ses_claims")
            .agent_id("agt_claims")
            .sign(&key(1))
            .unwrap();
        let child = root
            .delegate(key(3).public_key())
            .issued_at(NOW - 4)
            .sign(&key(2))
            .unwrap();
        let a = args(json!({}));
        let pop = Pop::sign_at(&child, &key(3), "read_file", &a, NOW).unwrap();
        let ok = authorizer()
            .check_at(
                Some(&child.encode()),
                Some(&pop.encode()),
                "read_file",
                &a,
                NOW,
            )
            .unwrap();
        assert_eq!((ok.depth(), ok.trust_score()), (1, 70));
        assert_eq!(ok.clearance(), Clearance::Partner);
        assert_eq!(ok.session_id(), Some("ses_claims"));
        assert_eq!(ok.agent_id(), Some("agt_claims"));
        assert_eq!(ok.require_clearance(Clearance::Partner), Ok(()));
        assert!(matches!(
            ok.require_clearance(Clearance::Internal),
            Err(Rejection::Clearance { .. })
        ));
    }

    #[test]
    fn an_authorizer_is_cheap_to_clone_and_shared_across_threads() {
        fn assert_shared<T: Clone + Send + Sync + 'static>() {}
        assert_shared::<Authorizer>();
        assert_shared::<AuthResult>();
        assert_shared::<Rejection>();
        let a = authorizer();
        assert!(Arc::ptr_eq(&a.inner, &a.clone().inner));
        assert!(format!("{a:?}").contains("trusted_roots"));
    }

    #[test]
    fn no_authorizer_without_a_trusted_root() {
        assert_eq!(
            Authorizer::builder().build().unwrap_err(),
            BuildError::NoTrustedRoot
        );
        assert_eq!(
            Authorizer::builder()
                .trusted_roots([])
                .min_trust_score(10)
                .build()
                .unwrap_err(),
            BuildError::NoTrustedRoot
        );
        let limits = [
            Authorizer::builder()
                .trusted_root(key(1).public_key())
                .max_token_bytes(0)
                .build(),
            Authorizer::builder()
                .trusted_root(key(1).public_key())
                .pop_window_tolerance(3)
                .build(),
            Authorizer::builder()
                .trusted_root(key(1).public_key())
                .max_delegation_depth(65)
                .build(),
        ];
        for built in limits {
            assert!(matches!(built, Err(BuildError::Limit(_))));
        }
    }

    #[test]
    fn an_ungranted_tool_is_refused_before_any_signature_check() {
        // A token whose signature is all zeros: the tool is refused first.
        let forged = token().encode();
        let json = String::from_utf8(
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &forged)
                .unwrap(),
        )
        .unwrap();
        let sig = crate::signing::keys::encode_hex(token().signature());
        let zeroed = json.replace(&sig, &"0".repeat(128));
        let zeroed =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, zeroed);
        let a = authorizer();
        assert_eq!(
            a.check_at(Some(&zeroed), None, "delete_file", &Args::new(), NOW)
                .unwrap_err(),
            Rejection::ToolNotGranted {
                tool: "delete_file".into()
            }
        );
        assert_eq!(
            a.check_at(Some(&zeroed), None, "read_file", &Args::new(), NOW)
                .unwrap_err(),
            Rejection::BadSignature { depth: 0 }
        );
    }

    #[test]
    fn an_accepted_call_yields_its_token_and_holder() {
        let t = token();
        let a = args(json!({"path": "/data/x"}));
        let pop = Pop::sign_at(&t, &key(2), "read_file", &a, NOW).unwrap();
        let ok = authorizer()
            .check_at(Some(&t.encode()), Some(&pop.encode()), "read_file", &a, NOW)
            .unwrap();
        assert_eq!(ok.token(), &t);
        assert_eq!(ok.token_id(), "tp_ct_unit");
        assert_eq!(ok.tool(), "read_file");
        assert_eq!(ok.holder(), key(2).public_key());
        assert_eq!(
            (ok.clearance(), ok.trust_score(), ok.depth()),
            (Clearance::Internal, 0, 0)
        );
        assert_eq!(ok.expires_at(), NOW - 5 + 300);
        assert!(ok.agent_id().is_none() && ok.session_id().is_none());
    }

    #[test]
    fn a_remembered_token_still_has_each_call_checked() {
        let t = token();
        let header = t.encode();
        for a in [
            authorizer(),
            Authorizer::builder()
                .trusted_root(key(1).public_key())
                .cache_capacity(0)
                .build()
                .unwrap(),
        ] {
            let good = args(json!({"path": "/data/x"}));
            let pop = Pop::sign_at(&t, &key(2), "read_file", &good, NOW)
                .unwrap()
                .encode();
            for _ in 0..3 {
                assert!(a
                    .check_at(Some(&header), Some(&pop), "read_file", &good, NOW)
                    .is_ok());
            }
            // The same token: other arguments, a later clock, another tool.
            let bad = args(json!({"path": "/etc"}));
            assert!(matches!(
                a.check_at(Some(&header), Some(&pop), "read_file", &bad, NOW),
                Err(Rejection::ConstraintViolated { .. })
            ));
            assert!(matches!(
                a.check_at(Some(&header), Some(&pop), "read_file", &good, NOW + 400),
                Err(Rejection::Expired { .. })
            ));
            assert!(matches!(
                a.check_at(Some(&header), Some(&pop), "search", &good, NOW),
                Err(Rejection::ToolNotGranted { .. })
            ));
            assert_eq!(
                a.check_at(Some(&header), None, "read_file", &good, NOW)
                    .unwrap_err(),
                Rejection::PopMissing
            );
            // Another authorizer, other roots: its own verdict.
            let other = Authorizer::builder()
                .trusted_root(key(9).public_key())
                .build()
                .unwrap();
            assert_eq!(
                other
                    .check_at(Some(&header), Some(&pop), "read_file", &good, NOW)
                    .unwrap_err(),
                Rejection::UntrustedIssuer
            );
        }
        // A forged token is refused every time it is presented.
        let forged = header.replacen('e', "f", 1);
        let a = authorizer();
        let first = a.check_at(Some(&forged), None, "read_file", &Args::new(), NOW);
        let again = a.check_at(Some(&forged), None, "read_file", &Args::new(), NOW);
        assert!(first.is_err() && first.unwrap_err() == again.unwrap_err());
        assert!(Authorizer::builder()
            .trusted_root(key(1).public_key())
            .cache_capacity(usize::MAX)
            .build()
            .is_err());
    }

    #[test]
    fn trust_scores_and_issuer_tokens_are_refused() {
        let a = Authorizer::builder()
            .trusted_root(key(1).public_key())
            .min_trust_score(50)
            .build()
            .unwrap();
        let t = token();
        assert_eq!(
            a.check_at(Some(&t.encode()), None, "read_file", &Args::new(), NOW)
                .unwrap_err(),
            Rejection::TrustScore { score: 0, min: 50 }
        );
        let issuer = CapabilityToken::builder()
            .holder(key(2).public_key())
            .token_type(TokenType::Issuer)
            .tool("*", ConstraintSet::new())
            .issued_at(NOW)
            .sign(&key(1))
            .unwrap();
        assert_eq!(
            authorizer()
                .check_at(Some(&issuer.encode()), None, "x", &Args::new(), NOW)
                .unwrap_err(),
            Rejection::NotExecution
        );
    }

    #[test]
    fn every_rejection_has_a_kind_and_code() {
        let all = [
            Rejection::MissingToken,
            Rejection::TooLarge { len: 2, max: 1 },
            Rejection::NotExecution,
            Rejection::ToolNotGranted { tool: "t".into() },
            Rejection::Expired {
                expires_at: 1,
                now: 2,
            },
            Rejection::PopMissing,
            Rejection::PopInvalid,
            Rejection::Clearance {
                actual: Clearance::External,
                required: Clearance::System,
            },
            Rejection::TrustScore { score: 1, min: 2 },
            Rejection::ConstraintViolated {
                argument: "a".into(),
                constraint: "Exact('x')".into(),
            },
        ];
        let codes: std::collections::HashSet<&str> = all.iter().map(|r| r.kind().code()).collect();
        assert_eq!(codes.len(), 9);
        assert!(all.iter().all(|r| !r.to_string().is_empty()));
    }

    proptest! {
        #[test]
        fn any_headers_are_refused_without_panicking(token in any::<String>(), pop in any::<String>(), tool in any::<String>()) {
            let r = authorizer().check_at(Some(&token), Some(&pop), &tool, &Args::new(), NOW);
            prop_assert!(r.is_err());
        }

        #[test]
        fn any_base64_is_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let header = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &bytes);
            prop_assert!(authorizer().check_at(Some(&header), None, "read_file", &Args::new(), NOW).is_err());
        }

        #[test]
        fn a_mutated_token_is_never_accepted_and_never_panics(at in 0usize..2000, byte in any::<u8>()) {
            let t = token();
            let a = args(json!({"path": "/data/x"}));
            let pop = Pop::sign_at(&t, &key(2), "read_file", &a, NOW).unwrap().encode();
            let mut json = t.to_json().into_bytes();
            let at = at % json.len();
            prop_assume!(json[at] != byte);
            json[at] = byte;
            let header = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &json);
            let r = authorizer().check_at(Some(&header), Some(&pop), "read_file", &a, NOW);
            // A change inside the signed fields, or the signature, is refused;
            // only layout changes (spaces) can leave the token as it was.
            if let Ok(ok) = r {
                prop_assert_eq!(ok.token(), &t);
            }
        }
    }
}
