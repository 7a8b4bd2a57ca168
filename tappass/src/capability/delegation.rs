//! Delegation: a holder hands a narrower token to another key.
//!
//! A delegated token names its parent by the SHA-256 of the parent's signed
//! bytes (`par`) and sits one level deeper (`dep`). The Python SDK 0.12.62
//! mints no delegated tokens and, verifying one, checks only its own
//! signature, by whatever key it names as issuer. Here a delegated token
//! travels with its whole chain, inside its JSON, under a `chain` key (the
//! ancestors' `{"payload", "sig"}` objects, root first; Python's decoder
//! ignores the key, so a Python verifier still reads such a token), and is
//! accepted only if every link holds:
//!
//! - the root (`dep` 0, no `par`) is issued by a trusted root;
//! - each link is at its parent's depth plus one, names its parent's hash,
//!   is issued (and signed) by its parent's holder, and its parent was not
//!   at its maximum depth;
//! - each link narrows its parent: only tools the parent grants, under
//!   constraints the parent's contain, clearance, trust score, maximum
//!   depth and expiry no higher, issued no earlier, and never an issuer
//!   token under an execution token.

use super::clearance::Clearance;
use super::constraints::ConstraintSet;
use super::errors::{MintError, Rejection};
use super::token::{fresh_id, unix_now, CapabilityToken, Payload};
use crate::signing::keys::{PublicKey, SigningKey};

/// What a child widens, if anything: the one place both the verifier and
/// [`Delegation::sign`] ask.
pub(crate) fn widening(parent: &Payload, child: &Payload) -> Option<&'static str> {
    for (name, set) in &child.tools {
        let granted = if name == "*" {
            parent.tools.get("*")
        } else {
            parent.tools.get(name).or_else(|| parent.tools.get("*"))
        };
        match granted {
            None => return Some("tools"),
            Some(parent_set) if !parent_set.contains(set) => return Some("constraints"),
            Some(_) => {}
        }
    }
    if child.clearance > parent.clearance {
        return Some("clearance");
    }
    if child.trust_score > parent.trust_score {
        return Some("trust score");
    }
    if child.expires_at > parent.expires_at {
        return Some("expiry");
    }
    if child.issued_at < parent.issued_at {
        return Some("issue time");
    }
    if child.max_depth > parent.max_depth {
        return Some("maximum depth");
    }
    if child.token_type > parent.token_type {
        return Some("token type");
    }
    None
}

/// Checks the chain of `token` up to a trusted root: structure and
/// narrowing first (no cryptography), then the signatures from the root
/// down, so that a forged link costs at most the signatures above it.
pub(crate) fn verify_chain(token: &CapabilityToken, roots: &[PublicKey]) -> Result<(), Rejection> {
    let links: Vec<&CapabilityToken> = token.chain().iter().chain(std::iter::once(token)).collect();
    let root = links[0];
    if root.payload.depth != 0 || root.payload.parent_hash.is_some() {
        return Err(Rejection::BrokenChain {
            depth: 0,
            reason: "the chain does not start at a root token",
        });
    }
    for (i, pair) in links.windows(2).enumerate() {
        let (parent, child) = (&pair[0].payload, &pair[1].payload);
        let depth = (i + 1) as u32;
        let broken = |reason| Rejection::BrokenChain { depth, reason };
        if child.depth != depth {
            return Err(broken("its depth is not its parent's plus one"));
        }
        if parent.depth >= parent.max_depth {
            return Err(broken("its parent is at its maximum delegation depth"));
        }
        if child.issuer != parent.holder {
            return Err(broken("it is not issued by its parent's holder"));
        }
        if child.parent_hash != Some(pair[0].hash()) {
            return Err(broken("its parent hash does not match its parent"));
        }
        if let Some(what) = widening(parent, child) {
            return Err(Rejection::Widened { depth, what });
        }
    }
    let root_key = roots
        .iter()
        .find(|k| *k.as_bytes() == root.payload.issuer)
        .ok_or(Rejection::UntrustedIssuer)?;
    if !root.verify_with(root_key) {
        return Err(Rejection::BadSignature { depth: 0 });
    }
    for (i, pair) in links.windows(2).enumerate() {
        let depth = (i + 1) as u32;
        let key = PublicKey::from_bytes(&pair[0].payload.holder)
            .map_err(|_| Rejection::BadSignature { depth })?;
        if !pair[1].verify_with(&key) {
            return Err(Rejection::BadSignature { depth });
        }
    }
    Ok(())
}

/// A delegated token being built: by default a copy of its parent's grants
/// for a new holder, which each setter narrows.
///
/// ```
/// use tappass::capability::{CapabilityToken, ConstraintSet, SigningKey, Subpath};
///
/// let control_plane = SigningKey::generate()?;
/// let planner = SigningKey::generate()?;
/// let worker = SigningKey::generate()?;
/// let token = CapabilityToken::builder()
///     .holder(planner.public_key())
///     .tool("read_file", ConstraintSet::new().with("path", Subpath::new("/data")?))
///     .sign(&control_plane)?;
/// let narrower = token
///     .delegate(worker.public_key())
///     .tool("read_file", ConstraintSet::new().with("path", Subpath::new("/data/reports")?))
///     .sign(&planner)?;
/// assert_eq!(narrower.depth(), 1);
/// assert_eq!(narrower.chain().len(), 1);
///
/// // Widening is refused when minting, as the verifier refuses it.
/// let wider = token
///     .delegate(worker.public_key())
///     .tool("delete_file", ConstraintSet::new())
///     .sign(&planner);
/// assert!(wider.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Delegation<'a> {
    parent: &'a CapabilityToken,
    payload: Payload,
    tools_set: bool,
    id_set: bool,
}

impl CapabilityToken {
    /// Starts a token for `holder` that narrows this one.
    pub fn delegate(&self, holder: PublicKey) -> Delegation<'_> {
        let mut payload = self.payload.clone();
        payload.holder = *holder.as_bytes();
        payload.issuer = self.payload.holder;
        payload.depth = self.payload.depth + 1;
        payload.parent_hash = Some(self.hash());
        payload.issued_at = unix_now().max(self.payload.issued_at);
        Delegation {
            parent: self,
            payload,
            tools_set: false,
            id_set: false,
        }
    }
}

impl Delegation<'_> {
    /// Grants `tool` under `constraints`; the first call drops the parent's
    /// other tools, so the child grants only the tools named.
    pub fn tool(mut self, tool: impl Into<String>, constraints: ConstraintSet) -> Self {
        if !self.tools_set {
            self.payload.tools.clear();
            self.tools_set = true;
        }
        self.payload.tools.insert(tool.into(), constraints);
        self
    }
    /// The id (default: a fresh one).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.payload.id = id.into();
        self.id_set = true;
        self
    }
    /// A lower clearance.
    pub fn clearance(mut self, clearance: Clearance) -> Self {
        self.payload.clearance = clearance;
        self
    }
    /// A lower trust score.
    pub fn trust_score(mut self, score: u32) -> Self {
        self.payload.trust_score = score.min(1000);
        self
    }
    /// An earlier expiry, Unix seconds.
    pub fn expires_at(mut self, unix_seconds: i64) -> Self {
        self.payload.expires_at = unix_seconds;
        self
    }
    /// Issued at, Unix seconds (default: now, and never before the parent).
    pub fn issued_at(mut self, unix_seconds: i64) -> Self {
        self.payload.issued_at = unix_seconds;
        self
    }
    /// A lower maximum depth for further delegation.
    pub fn max_depth(mut self, max_depth: u32) -> Self {
        self.payload.max_depth = max_depth;
        self
    }
    /// The agent it is minted for.
    pub fn agent_id(mut self, agent_id: impl Into<String>) -> Self {
        self.payload.agent_id = agent_id.into();
        self
    }

    /// Signs with the parent's holder key; refuses a child that would widen
    /// its parent or sit below its maximum depth.
    pub fn sign(mut self, parent_holder: &SigningKey) -> Result<CapabilityToken, MintError> {
        let parent = &self.parent.payload;
        if parent_holder.public_key().as_bytes() != &parent.holder {
            return Err(MintError::NotHolder);
        }
        if parent.depth >= parent.max_depth {
            return Err(MintError::Terminal);
        }
        if let Some(what) = widening(parent, &self.payload) {
            return Err(MintError::Widens(what));
        }
        if self.payload.expires_at <= self.payload.issued_at {
            return Err(MintError::Lifetime);
        }
        if !self.id_set {
            self.payload.id = fresh_id()?;
        }
        let mut chain = self.parent.chain().to_vec();
        chain.push(self.parent.as_link());
        Ok(CapabilityToken::sign_payload(
            self.payload,
            parent_holder,
            chain,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{Clearance, Exact, Subpath};

    const NOW: i64 = 1_767_225_607;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn root() -> CapabilityToken {
        CapabilityToken::builder()
            .holder(key(2).public_key())
            .tool(
                "read_file",
                ConstraintSet::new().with("path", Subpath::new("/data").unwrap()),
            )
            .tool("search", ConstraintSet::new())
            .clearance(Clearance::Privileged)
            .trust_score(800)
            .issued_at(NOW)
            .sign(&key(1))
            .unwrap()
    }

    #[test]
    fn a_delegation_copies_then_narrows_and_carries_the_chain() {
        let r = root();
        let child = r
            .delegate(key(3).public_key())
            .issued_at(NOW)
            .sign(&key(2))
            .unwrap();
        assert_eq!(child.tools().count(), 2);
        assert_eq!(child.issuer(), Some(key(2).public_key()));
        assert_eq!(child.parent_hash(), Some(r.hash()));
        assert_eq!(child.chain(), &[r.as_link()]);
        assert!(verify_chain(&child, &[key(1).public_key()]).is_ok());
        let narrower = child
            .delegate(key(4).public_key())
            .tool("search", ConstraintSet::new().with("q", Exact::new("x")))
            .clearance(Clearance::Internal)
            .trust_score(10)
            .expires_at(NOW + 60)
            .issued_at(NOW)
            .max_depth(2)
            .agent_id("agent-4")
            .id("tp_ct_narrow")
            .sign(&key(3))
            .unwrap();
        assert_eq!(
            narrower.tools().map(|(n, _)| n).collect::<Vec<_>>(),
            ["search"]
        );
        assert_eq!(narrower.chain().len(), 2);
        assert!(verify_chain(&narrower, &[key(1).public_key()]).is_ok());
        assert_eq!(
            verify_chain(&narrower, &[key(9).public_key()]),
            Err(Rejection::UntrustedIssuer)
        );
    }

    #[test]
    fn minting_refuses_what_verification_refuses() {
        let r = root();
        let d = || r.delegate(key(3).public_key()).issued_at(NOW);
        assert_eq!(d().sign(&key(9)).unwrap_err(), MintError::NotHolder);
        assert_eq!(
            d().tool("delete", ConstraintSet::new())
                .sign(&key(2))
                .unwrap_err(),
            MintError::Widens("tools")
        );
        assert_eq!(
            d().tool("read_file", ConstraintSet::new())
                .sign(&key(2))
                .unwrap_err(),
            MintError::Widens("constraints")
        );
        assert_eq!(
            d().clearance(Clearance::System).sign(&key(2)).unwrap_err(),
            MintError::Widens("clearance")
        );
        assert_eq!(
            d().trust_score(900).sign(&key(2)).unwrap_err(),
            MintError::Widens("trust score")
        );
        assert_eq!(
            d().expires_at(NOW + 10_000).sign(&key(2)).unwrap_err(),
            MintError::Widens("expiry")
        );
        assert_eq!(
            d().issued_at(NOW - 1).sign(&key(2)).unwrap_err(),
            MintError::Widens("issue time")
        );
        assert_eq!(
            d().max_depth(65).sign(&key(2)).unwrap_err(),
            MintError::Widens("maximum depth")
        );
        assert_eq!(
            d().expires_at(NOW).sign(&key(2)).unwrap_err(),
            MintError::Lifetime
        );
    }

    #[test]
    fn a_wildcard_grant_narrows_to_named_tools_but_not_the_reverse() {
        let any = CapabilityToken::builder()
            .holder(key(2).public_key())
            .tool("*", ConstraintSet::new())
            .issued_at(NOW)
            .sign(&key(1))
            .unwrap();
        assert!(any
            .delegate(key(3).public_key())
            .tool("anything", ConstraintSet::new())
            .issued_at(NOW)
            .sign(&key(2))
            .is_ok());
        let named = root();
        assert_eq!(
            named
                .delegate(key(3).public_key())
                .tool("*", ConstraintSet::new())
                .issued_at(NOW)
                .sign(&key(2))
                .unwrap_err(),
            MintError::Widens("tools")
        );
    }
}
