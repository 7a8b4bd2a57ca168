//! The token: its fields, its wire form (the Python SDK's, byte for byte),
//! its signature, and minting a root token.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use sha2::Digest as _;

use super::canonical::{self, Json, Layout};
use super::clearance::Clearance;
use super::constraints::ConstraintSet;
use super::errors::{DecodeError, MintError};
use crate::signing::keys::{decode_hex_n, encode_hex, PublicKey, SigningKey};

/// The domain-separation prefix of a token's signed bytes.
pub(crate) const TOKEN_CONTEXT: &[u8] = b"tappass-capability-token-v1";
/// Python's `MAX_DELEGATION_DEPTH`: no `dep` or `mdp` above it decodes.
pub const MAX_DELEGATION_DEPTH: u32 = 64;
/// Python's `MAX_TOKEN_TTL_SECS` (90 days): no token lives longer.
pub const MAX_TOKEN_TTL_SECS: i64 = 90 * 24 * 60 * 60;
/// Python's `DEFAULT_TTL_SECS` (5 minutes): a minted token's default life.
pub const DEFAULT_TTL_SECS: i64 = 5 * 60;
/// The prefix of the ids this crate mints (Python's `TOKEN_ID_PREFIX`).
pub const TOKEN_ID_PREFIX: &str = "tp_ct_";
/// The deepest JSON nesting a token can need: the token, its chain, a link,
/// its payload, its tools, a tool's constraints, a constraint, a list.
const MAX_JSON_DEPTH: usize = 8;
/// The longest token id accepted.
const MAX_ID_LEN: usize = 256;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenType {
    /// `0`: invokes tools. Only these authorize calls.
    Execution,
    /// `1`: issues execution tokens (a planner).
    Issuer,
}

impl TokenType {
    /// The number on the wire (`type`).
    pub fn value(self) -> u8 {
        match self {
            TokenType::Execution => 0,
            TokenType::Issuer => 1,
        }
    }
}

/// The signed fields (Python's `TokenPayload`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Payload {
    pub(crate) id: String,
    pub(crate) token_type: TokenType,
    pub(crate) tools: BTreeMap<String, ConstraintSet>,
    pub(crate) issuer: [u8; 32],
    pub(crate) holder: [u8; 32],
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) depth: u32,
    pub(crate) max_depth: u32,
    pub(crate) parent_hash: Option<[u8; 32]>,
    pub(crate) clearance: Clearance,
    pub(crate) trust_score: u32,
    pub(crate) session_id: String,
    pub(crate) agent_id: String,
}

impl Payload {
    /// Python's `TokenPayload.to_dict()`.
    fn to_json(&self) -> Json {
        let mut m: Vec<(String, Json)> = vec![
            ("id".into(), Json::Str(self.id.clone())),
            ("ver".into(), Json::Int(1)),
            ("type".into(), Json::Int(self.token_type.value().into())),
            ("iss".into(), Json::Str(encode_hex(&self.issuer))),
            ("hld".into(), Json::Str(encode_hex(&self.holder))),
            ("iat".into(), Json::Int(self.issued_at)),
            ("exp".into(), Json::Int(self.expires_at)),
            ("dep".into(), Json::Int(self.depth.into())),
            ("mdp".into(), Json::Int(self.max_depth.into())),
            ("clr".into(), Json::Int(self.clearance.value().into())),
            ("trs".into(), Json::Int(self.trust_score.into())),
        ];
        if !self.tools.is_empty() {
            m.push((
                "tools".into(),
                Json::Object(
                    self.tools
                        .iter()
                        .map(|(name, cs)| (name.clone(), cs.to_json()))
                        .collect(),
                ),
            ));
        }
        if let Some(par) = &self.parent_hash {
            m.push(("par".into(), Json::Str(encode_hex(par))));
        }
        if !self.session_id.is_empty() {
            m.push(("sid".into(), Json::Str(self.session_id.clone())));
        }
        if !self.agent_id.is_empty() {
            m.push(("aid".into(), Json::Str(self.agent_id.clone())));
        }
        Json::Object(m)
    }

    /// The signed bytes, without the context prefix: Python's
    /// `canonical_bytes()`.
    fn canonical(&self) -> Vec<u8> {
        let mut out = String::new();
        canonical::write(&mut out, &self.to_json(), Layout::Compact);
        out.into_bytes()
    }

    /// Reads Python's `TokenPayload.from_dict` input, strictly.
    fn from_json(v: &Json) -> Result<Payload, DecodeError> {
        let bad = |m: String| DecodeError::new(m);
        let Json::Object(members) = v else {
            return Err(bad(format!("the payload is {}, not an object", v.kind())));
        };
        const KNOWN: [&str; 15] = [
            "id", "ver", "type", "iss", "hld", "iat", "exp", "dep", "mdp", "clr", "trs", "tools",
            "par", "sid", "aid",
        ];
        if let Some((k, _)) = members.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
            return Err(bad(format!(
                "unknown payload field `{}`",
                k.chars().take(32).collect::<String>()
            )));
        }
        let int = |key: &str, default: Option<i64>| -> Result<i64, DecodeError> {
            match (v.get(key), default) {
                (Some(Json::Int(i)), _) => Ok(*i),
                (Some(other), _) => {
                    Err(bad(format!("`{key}` is {}, not an integer", other.kind())))
                }
                (None, Some(d)) => Ok(d),
                (None, None) => Err(bad(format!("the payload has no `{key}`"))),
            }
        };
        let string = |key: &str, required: bool| -> Result<String, DecodeError> {
            match v.get(key) {
                Some(Json::Str(s)) => Ok(s.clone()),
                Some(other) => Err(bad(format!("`{key}` is {}, not a string", other.kind()))),
                None if required => Err(bad(format!("the payload has no `{key}`"))),
                None => Ok(String::new()),
            }
        };
        let key32 = |key: &str| -> Result<[u8; 32], DecodeError> {
            let s = string(key, true)?;
            decode_hex_n::<32>(&s, true)
                .ok_or_else(|| bad(format!("`{key}` is not 64 lowercase hexadecimal digits")))
        };
        let id = string("id", true)?;
        if id.is_empty() || id.chars().count() > MAX_ID_LEN {
            return Err(bad(format!(
                "`id` is empty or longer than {MAX_ID_LEN} characters"
            )));
        }
        if int("ver", Some(1))? != 1 {
            return Err(bad("`ver` is not 1".into()));
        }
        let token_type = match int("type", Some(0))? {
            0 => TokenType::Execution,
            1 => TokenType::Issuer,
            _ => return Err(bad("`type` is neither 0 nor 1".into())),
        };
        let ranged = |key: &str, default: i64, max: i64| -> Result<u32, DecodeError> {
            let value = int(key, Some(default))?;
            if !(0..=max).contains(&value) {
                return Err(bad(format!("`{key}` is outside 0..={max}")));
            }
            Ok(value as u32)
        };
        let depth = ranged("dep", 0, MAX_DELEGATION_DEPTH.into())?;
        let max_depth = ranged(
            "mdp",
            MAX_DELEGATION_DEPTH.into(),
            MAX_DELEGATION_DEPTH.into(),
        )?;
        let trust_score = ranged("trs", 0, 1000)?;
        let clearance = Clearance::from_value(int("clr", Some(30))?)
            .ok_or_else(|| bad("`clr` is not 0, 10, 20, 30, 40 or 50".into()))?;
        let parent_hash = match v.get("par") {
            None => None,
            Some(Json::Str(s)) => Some(
                decode_hex_n::<32>(s, true)
                    .ok_or_else(|| bad("`par` is not 64 lowercase hexadecimal digits".into()))?,
            ),
            Some(other) => return Err(bad(format!("`par` is {}, not a string", other.kind()))),
        };
        if (depth == 0) != parent_hash.is_none() {
            return Err(bad(
                "`dep` and `par` disagree: a root token has depth 0 and no parent hash, a delegated one both".into(),
            ));
        }
        let mut tools = BTreeMap::new();
        match v.get("tools") {
            None => {}
            Some(Json::Object(entries)) => {
                for (name, spec) in entries {
                    let set = ConstraintSet::from_json(spec).map_err(|e| {
                        bad(format!(
                            "tool `{}`: {e}",
                            name.chars().take(64).collect::<String>()
                        ))
                    })?;
                    tools.insert(name.clone(), set);
                }
            }
            Some(other) => return Err(bad(format!("`tools` is {}, not an object", other.kind()))),
        }
        Ok(Payload {
            id,
            token_type,
            tools,
            issuer: key32("iss")?,
            holder: key32("hld")?,
            issued_at: int("iat", None)?,
            expires_at: int("exp", None)?,
            depth,
            max_depth,
            parent_hash,
            clearance,
            trust_score,
            session_id: string("sid", false)?,
            agent_id: string("aid", false)?,
        })
    }
}

/// A signed capability token, as the Python SDK's `CapabilityToken`, with
/// the chain of its ancestors when it is delegated.
///
/// [`decode`](Self::decode) reads the `X-TapPass-Token` header value (Python's
/// `to_b64()`); [`encode`](Self::encode) writes it back byte for byte.
/// Decoding checks the form only: whether the token authorizes anything is
/// the [`Authorizer`](super::Authorizer)'s question.
#[derive(Clone)]
pub struct CapabilityToken {
    pub(crate) payload: Payload,
    signature: [u8; 64],
    /// Ancestors, root first (each without a chain of its own).
    chain: Vec<CapabilityToken>,
    /// The signed bytes, computed when first needed (a call refused for its
    /// tool never needs them).
    canonical: OnceLock<Vec<u8>>,
}

impl fmt::Debug for CapabilityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapabilityToken")
            .field("id", &self.payload.id)
            .field("tools", &self.payload.tools.keys().collect::<Vec<_>>())
            .field("depth", &self.payload.depth)
            .field("clearance", &self.payload.clearance)
            .field("trust_score", &self.payload.trust_score)
            .field("expires_at", &self.payload.expires_at)
            .finish_non_exhaustive()
    }
}

impl PartialEq for CapabilityToken {
    fn eq(&self, other: &Self) -> bool {
        self.canonical_bytes() == other.canonical_bytes()
            && self.signature == other.signature
            && self.chain == other.chain
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

impl CapabilityToken {
    /// A builder for a root token, signed by the control plane's key.
    pub fn builder() -> TokenBuilder {
        TokenBuilder::default()
    }

    /// Reads the `X-TapPass-Token` header value: URL-safe base64 without
    /// padding of the token's JSON.
    ///
    /// Stricter than Python's `from_b64`, which skips characters outside the
    /// alphabet, takes `+` and `/` too, and ignores unknown fields: here the
    /// text must be exactly what an encoder writes, and every field must be
    /// one the SDK signs, of the type it signs.
    pub fn decode(header_value: &str) -> Result<CapabilityToken, DecodeError> {
        let bytes = b64()
            .decode(header_value.as_bytes())
            .map_err(|_| DecodeError::new("not URL-safe base64 without padding"))?;
        let text =
            std::str::from_utf8(&bytes).map_err(|_| DecodeError::new("not UTF-8 once decoded"))?;
        Self::from_json(text)
    }

    /// Reads the token's JSON (Python's `to_json()`).
    pub fn from_json(text: &str) -> Result<CapabilityToken, DecodeError> {
        let json = canonical::parse(text, MAX_JSON_DEPTH)
            .map_err(|e| DecodeError::new(format!("not JSON: {e}")))?;
        let Json::Object(members) = &json else {
            return Err(DecodeError::new("the token is not a JSON object"));
        };
        if let Some((k, _)) = members
            .iter()
            .find(|(k, _)| !matches!(k.as_str(), "payload" | "sig" | "chain"))
        {
            return Err(DecodeError::new(format!(
                "unknown token field `{}`",
                k.chars().take(32).collect::<String>()
            )));
        }
        let mut token = Self::link_from_json(&json)?;
        match json.get("chain") {
            None => {}
            Some(Json::Array(links)) => {
                token.chain = links
                    .iter()
                    .map(|link| {
                        if link.get("chain").is_some() {
                            return Err(DecodeError::new("a chain link carries a chain"));
                        }
                        Self::link_from_json(link)
                    })
                    .collect::<Result<_, _>>()?;
            }
            Some(other) => {
                return Err(DecodeError::new(format!(
                    "`chain` is {}, not an array",
                    other.kind()
                )))
            }
        }
        if token.chain.len() != token.payload.depth as usize {
            return Err(DecodeError::new(format!(
                "a token of depth {} carries {} ancestors: a delegated token travels with its whole chain",
                token.payload.depth,
                token.chain.len()
            )));
        }
        Ok(token)
    }

    fn link_from_json(json: &Json) -> Result<CapabilityToken, DecodeError> {
        let Json::Object(members) = json else {
            return Err(DecodeError::new("a chain link is not an object"));
        };
        if let Some((k, _)) = members
            .iter()
            .find(|(k, _)| !matches!(k.as_str(), "payload" | "sig" | "chain"))
        {
            return Err(DecodeError::new(format!(
                "unknown token field `{}`",
                k.chars().take(32).collect::<String>()
            )));
        }
        let payload = Payload::from_json(
            json.get("payload")
                .ok_or_else(|| DecodeError::new("the token has no `payload`"))?,
        )?;
        let signature = match json.get("sig") {
            Some(Json::Str(s)) => decode_hex_n::<64>(s, true)
                .ok_or_else(|| DecodeError::new("`sig` is not 128 lowercase hexadecimal digits"))?,
            Some(other) => {
                return Err(DecodeError::new(format!(
                    "`sig` is {}, not a string",
                    other.kind()
                )))
            }
            None => return Err(DecodeError::new("the token has no `sig`")),
        };
        Ok(CapabilityToken::assemble(payload, signature, Vec::new()))
    }

    pub(crate) fn assemble(
        payload: Payload,
        signature: [u8; 64],
        chain: Vec<CapabilityToken>,
    ) -> CapabilityToken {
        CapabilityToken {
            payload,
            signature,
            chain,
            canonical: OnceLock::new(),
        }
    }

    fn to_json_value(&self) -> Json {
        let mut m = vec![
            ("payload".to_string(), self.payload.to_json()),
            ("sig".to_string(), Json::Str(encode_hex(&self.signature))),
        ];
        if !self.chain.is_empty() {
            m.push((
                "chain".to_string(),
                Json::Array(self.chain.iter().map(|t| t.to_json_value()).collect()),
            ));
        }
        Json::Object(m)
    }

    /// The token's JSON, as Python's `to_json()` writes it (sorted keys,
    /// `", "` and `": "`, ASCII only), with the `chain` of a delegated token.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        canonical::write(&mut out, &self.to_json_value(), Layout::Spaced);
        out
    }

    /// The `X-TapPass-Token` header value, as Python's `to_b64()`.
    pub fn encode(&self) -> String {
        b64().encode(self.to_json().as_bytes())
    }

    /// The token id (`id`).
    pub fn id(&self) -> &str {
        &self.payload.id
    }

    /// Execution or issuer token (`type`).
    pub fn token_type(&self) -> TokenType {
        self.payload.token_type
    }

    /// The tools it names and their constraints (`tools`), by name.
    pub fn tools(&self) -> impl Iterator<Item = (&str, &ConstraintSet)> {
        self.payload.tools.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The constraints that apply to `tool`: its own entry, else the `*`
    /// entry, else `None` (not granted).
    pub fn grant(&self, tool: &str) -> Option<&ConstraintSet> {
        self.payload
            .tools
            .get(tool)
            .or_else(|| self.payload.tools.get("*"))
    }

    /// The issuer's key (`iss`), if those bytes are a usable key.
    pub fn issuer(&self) -> Option<PublicKey> {
        PublicKey::from_bytes(&self.payload.issuer).ok()
    }

    /// The holder's key (`hld`), if those bytes are a usable key.
    pub fn holder(&self) -> Option<PublicKey> {
        PublicKey::from_bytes(&self.payload.holder).ok()
    }

    /// Issued at, Unix seconds (`iat`).
    pub fn issued_at(&self) -> i64 {
        self.payload.issued_at
    }

    /// Expires at, Unix seconds (`exp`): expired from that second on.
    pub fn expires_at(&self) -> i64 {
        self.payload.expires_at
    }

    /// Seconds left at `now` (Unix seconds), never negative.
    pub fn ttl_remaining_at(&self, now: i64) -> i64 {
        (self.payload.expires_at.saturating_sub(now)).max(0)
    }

    /// Delegation depth (`dep`): 0 for a root token.
    pub fn depth(&self) -> u32 {
        self.payload.depth
    }

    /// The deepest delegation allowed below it (`mdp`).
    pub fn max_depth(&self) -> u32 {
        self.payload.max_depth
    }

    /// The SHA-256 of the parent's signed bytes (`par`), for a delegated token.
    pub fn parent_hash(&self) -> Option<[u8; 32]> {
        self.payload.parent_hash
    }

    /// Clearance (`clr`).
    pub fn clearance(&self) -> Clearance {
        self.payload.clearance
    }

    /// Trust score, 0 to 1000 (`trs`).
    pub fn trust_score(&self) -> u32 {
        self.payload.trust_score
    }

    /// The session it was minted in (`sid`), if any.
    pub fn session_id(&self) -> Option<&str> {
        Some(self.payload.session_id.as_str()).filter(|s| !s.is_empty())
    }

    /// The agent it was minted for (`aid`), if any.
    pub fn agent_id(&self) -> Option<&str> {
        Some(self.payload.agent_id.as_str()).filter(|s| !s.is_empty())
    }

    /// The Ed25519 signature (`sig`).
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The ancestors of a delegated token, root first; empty for a root token.
    pub fn chain(&self) -> &[CapabilityToken] {
        &self.chain
    }

    /// The signed JSON of the payload (without the context prefix), as
    /// Python's `canonical_bytes()`.
    pub fn canonical_bytes(&self) -> &[u8] {
        self.canonical.get_or_init(|| self.payload.canonical())
    }

    /// The SHA-256 of [`canonical_bytes`](Self::canonical_bytes): what a
    /// child's `par` names.
    pub fn hash(&self) -> [u8; 32] {
        sha2::Sha256::digest(self.canonical_bytes()).into()
    }

    /// Whether the token's own signature verifies under its `iss` key. This
    /// is Python's `verify_signature()`, not authorization: anyone can sign
    /// a token with a key of their own.
    pub fn verify_signature(&self) -> bool {
        self.issuer().is_some_and(|key| self.verify_with(&key))
    }

    pub(crate) fn verify_with(&self, key: &PublicKey) -> bool {
        let canonical = self.canonical_bytes();
        let mut message = Vec::with_capacity(TOKEN_CONTEXT.len() + canonical.len());
        message.extend_from_slice(TOKEN_CONTEXT);
        message.extend_from_slice(canonical);
        key.verify(&message, &self.signature)
    }

    /// The link as it sits in a child's chain (without its own chain).
    pub(crate) fn as_link(&self) -> CapabilityToken {
        CapabilityToken {
            payload: self.payload.clone(),
            signature: self.signature,
            chain: Vec::new(),
            canonical: self.canonical.clone(),
        }
    }

    pub(crate) fn sign_payload(
        payload: Payload,
        key: &SigningKey,
        chain: Vec<CapabilityToken>,
    ) -> CapabilityToken {
        let canonical = payload.canonical();
        let mut message = Vec::with_capacity(TOKEN_CONTEXT.len() + canonical.len());
        message.extend_from_slice(TOKEN_CONTEXT);
        message.extend_from_slice(&canonical);
        let signature = key.sign(&message);
        CapabilityToken {
            payload,
            signature,
            chain,
            canonical: OnceLock::from(canonical),
        }
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `tp_ct_` and 32 random hexadecimal digits.
pub(crate) fn fresh_id() -> Result<String, MintError> {
    use rand::TryRng as _;
    let mut bytes = [0u8; 16];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| MintError::Random)?;
    Ok(format!("{TOKEN_ID_PREFIX}{}", encode_hex(&bytes)))
}

/// Mints a root token: what the control plane does (the Rust development
/// server and tests use it).
///
/// ```
/// use tappass::capability::{CapabilityToken, ConstraintSet, SigningKey, Subpath};
///
/// let control_plane = SigningKey::generate()?;
/// let agent = SigningKey::generate()?;
/// let token = CapabilityToken::builder()
///     .holder(agent.public_key())
///     .tool("read_file", ConstraintSet::new().with("path", Subpath::new("/data")?))
///     .ttl(std::time::Duration::from_secs(300))
///     .sign(&control_plane)?;
/// assert_eq!(CapabilityToken::decode(&token.encode())?, token);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TokenBuilder {
    id: Option<String>,
    token_type: Option<TokenType>,
    tools: BTreeMap<String, ConstraintSet>,
    holder: Option<PublicKey>,
    issued_at: Option<i64>,
    expires_at: Option<i64>,
    ttl: Option<i64>,
    max_depth: Option<u32>,
    clearance: Option<Clearance>,
    trust_score: Option<u32>,
    session_id: String,
    agent_id: String,
}

impl TokenBuilder {
    /// The id (default: `tp_ct_` and 32 random hexadecimal digits).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// Execution (the default) or issuer token.
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = Some(token_type);
        self
    }
    /// Grants `tool` (or every tool, with `*`) under `constraints`.
    pub fn tool(mut self, tool: impl Into<String>, constraints: ConstraintSet) -> Self {
        self.tools.insert(tool.into(), constraints);
        self
    }
    /// The key that will prove possession (required).
    pub fn holder(mut self, holder: PublicKey) -> Self {
        self.holder = Some(holder);
        self
    }
    /// Issued at, Unix seconds (default: now).
    pub fn issued_at(mut self, unix_seconds: i64) -> Self {
        self.issued_at = Some(unix_seconds);
        self
    }
    /// Expires at, Unix seconds (instead of a lifetime).
    pub fn expires_at(mut self, unix_seconds: i64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }
    /// The lifetime from `issued_at` (default: 5 minutes; at most 90 days).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        self
    }
    /// The deepest delegation below it (default 64, the most there is).
    pub fn max_depth(mut self, max_depth: u32) -> Self {
        self.max_depth = Some(max_depth.min(MAX_DELEGATION_DEPTH));
        self
    }
    /// Clearance (default `INTERNAL`).
    pub fn clearance(mut self, clearance: Clearance) -> Self {
        self.clearance = Some(clearance);
        self
    }
    /// Trust score, 0 to 1000 (default 0; larger values are capped).
    pub fn trust_score(mut self, score: u32) -> Self {
        self.trust_score = Some(score.min(1000));
        self
    }
    /// The session it is minted in.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = session_id.into();
        self
    }
    /// The agent it is minted for.
    pub fn agent_id(mut self, agent_id: impl Into<String>) -> Self {
        self.agent_id = agent_id.into();
        self
    }

    /// Signs the token with the issuer's key (a root token's issuer is what
    /// verifiers list as a trusted root).
    pub fn sign(self, issuer: &SigningKey) -> Result<CapabilityToken, MintError> {
        let holder = self.holder.ok_or(MintError::NoHolder)?;
        let issued_at = self.issued_at.unwrap_or_else(unix_now);
        let expires_at = match self.expires_at {
            Some(exp) => exp,
            None => issued_at.saturating_add(self.ttl.unwrap_or(DEFAULT_TTL_SECS)),
        };
        let lifetime = expires_at.saturating_sub(issued_at);
        if lifetime <= 0 || lifetime > MAX_TOKEN_TTL_SECS {
            return Err(MintError::Lifetime);
        }
        let id = match self.id {
            Some(id) => id,
            None => fresh_id()?,
        };
        let payload = Payload {
            id,
            token_type: self.token_type.unwrap_or(TokenType::Execution),
            tools: self.tools,
            issuer: *issuer.public_key().as_bytes(),
            holder: *holder.as_bytes(),
            issued_at,
            expires_at,
            depth: 0,
            max_depth: self.max_depth.unwrap_or(MAX_DELEGATION_DEPTH),
            parent_hash: None,
            clearance: self.clearance.unwrap_or(Clearance::Internal),
            trust_score: self.trust_score.unwrap_or(0),
            session_id: self.session_id,
            agent_id: self.agent_id,
        };
        Ok(CapabilityToken::sign_payload(payload, issuer, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{Exact, Range, Subpath};

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn token() -> CapabilityToken {
        CapabilityToken::builder()
            .id("tp_ct_test")
            .holder(key(2).public_key())
            .tool(
                "read_file",
                ConstraintSet::new().with("path", Subpath::new("/data").unwrap()),
            )
            .tool(
                "transfer",
                ConstraintSet::new()
                    .with("amount", Range::between(0, 10.5).unwrap())
                    .with("currency", Exact::new("EUR")),
            )
            .issued_at(1_700_000_000)
            .ttl(Duration::from_secs(300))
            .clearance(Clearance::Privileged)
            .trust_score(700)
            .session_id("ses_é")
            .sign(&key(1))
            .unwrap()
    }

    #[test]
    fn canonical_bytes_are_pythons_to_dict_dumped_compact_and_sorted() {
        let t = token();
        let text = std::str::from_utf8(t.canonical_bytes()).unwrap();
        assert!(
            text.starts_with(r#"{"clr":40,"dep":0,"exp":1700000300,"hld":""#),
            "{text}"
        );
        assert!(text.contains(r#""sid":"ses_\u00e9","tools":{"read_file":{"path":{"root":"/data","type":"subpath"}},"transfer":{"amount":{"max":10.5,"min":0,"type":"range"},"currency":{"type":"exact","value":"EUR"}}},"trs":700,"type":0,"ver":1}"#), "{text}");
        assert!(t.verify_signature());
    }

    #[test]
    fn decode_and_encode_round_trip() {
        let t = token();
        let header = t.encode();
        assert!(!header.contains('='));
        let back = CapabilityToken::decode(&header).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.encode(), header);
        assert!(t.to_json().starts_with(r#"{"payload": {"clr": 40, "#));
    }

    #[test]
    fn clearance_names_and_values() {
        assert_eq!("privileged".parse::<Clearance>(), Ok(Clearance::Privileged));
        assert!("root".parse::<Clearance>().is_err());
        assert_eq!(Clearance::from_value(20), Some(Clearance::Partner));
        assert_eq!(Clearance::from_value(25), None);
        assert!(Clearance::Untrusted < Clearance::System);
    }

    #[test]
    fn decoding_is_strict_about_form() {
        let t = token();
        let json = t.to_json();
        let enc = |s: &str| b64().encode(s.as_bytes());
        // Padding, the standard alphabet, stray characters.
        assert!(CapabilityToken::decode(&format!("{}=", t.encode())).is_err());
        assert!(CapabilityToken::decode(&format!(" {}", t.encode())).is_err());
        // Unknown fields, at the top and in the payload.
        let extra = json.replacen("{\"payload\"", "{\"extra\": 1, \"payload\"", 1);
        assert!(CapabilityToken::decode(&enc(&extra)).is_err());
        let extra = json.replacen("{\"clr\"", "{\"zzz\": 1, \"clr\"", 1);
        assert!(CapabilityToken::decode(&enc(&extra)).is_err());
        // Uppercase hex in the signature.
        let upper = json.replace(
            &encode_hex(t.signature()),
            &encode_hex(t.signature()).to_uppercase(),
        );
        assert!(CapabilityToken::decode(&enc(&upper)).is_err());
        // A delegated token without its chain.
        let fake = json.replacen("\"dep\": 0", "\"dep\": 1", 1).replacen(
            "\"exp\"",
            &format!("\"par\": \"{}\", \"exp\"", "ab".repeat(32)),
            1,
        );
        let err = CapabilityToken::decode(&enc(&fake)).unwrap_err();
        assert!(err.message().contains("whole chain"), "{err}");
        // `dep` without `par` and the other way round.
        let no_par = json.replacen("\"dep\": 0", "\"dep\": 1", 1);
        assert!(CapabilityToken::decode(&enc(&no_par)).is_err());
        // Floats where integers belong.
        let float = json.replacen("\"clr\": 40", "\"clr\": 40.0", 1);
        assert!(CapabilityToken::decode(&enc(&float)).is_err());
        // An unknown constraint type.
        let unknown = json.replacen("\"type\": \"subpath\"", "\"type\": \"glob\"", 1);
        let err = CapabilityToken::decode(&enc(&unknown)).unwrap_err();
        assert!(err.message().contains("unknown constraint type"), "{err}");
    }

    #[test]
    fn minting_bounds_the_lifetime_and_needs_a_holder() {
        assert_eq!(
            CapabilityToken::builder().sign(&key(1)).unwrap_err(),
            MintError::NoHolder
        );
        let long = CapabilityToken::builder()
            .holder(key(2).public_key())
            .ttl(Duration::from_secs(MAX_TOKEN_TTL_SECS as u64 + 1))
            .sign(&key(1));
        assert_eq!(long.unwrap_err(), MintError::Lifetime);
        let id = CapabilityToken::builder()
            .holder(key(2).public_key())
            .sign(&key(1))
            .unwrap();
        assert!(id.id().starts_with(TOKEN_ID_PREFIX) && id.id().len() == 38);
    }
}
