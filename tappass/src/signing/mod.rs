//! Signing: Ed25519 keys ([`SigningKey`], [`PublicKey`]) and the signature an
//! agent puts on each request it sends to the control plane (feature
//! `signing`, which `capability` includes).
//!
//! An agent with a key ([`AgentBuilder::signing_key`](crate::agent::AgentBuilder::signing_key))
//! signs every request as the Python SDK's `tappass/signing.py` does, byte
//! for byte: Ed25519 over the canonical string
//!
//! ```text
//! {METHOD}\n{path}\n{query}\n{sha256(body) as lowercase hex}\n{unix seconds}\n{nonce}
//! ```
//!
//! sent in five headers: `X-TapPass-Agent-Id` (the agent's slug),
//! `X-TapPass-Timestamp`, `X-TapPass-Nonce` (16 random bytes, URL-safe
//! base64 without padding), `X-TapPass-Key-Fingerprint` (the first 8 bytes of
//! the public key's SHA-256, in hex) and `X-TapPass-Signature`
//! (`ed25519:` + the signature in URL-safe base64 without padding). A server
//! that knows the agent's public key checks the signature, refuses a
//! timestamp too far from its clock and a nonce it has seen: a request
//! cannot be altered or replayed. Each retry of a call is signed anew.
//!
//! ```
//! use tappass::signing::{sign_request, verify_request, SigningKey, MAX_CLOCK_SKEW};
//!
//! let key = SigningKey::from_hex(&"07".repeat(32))?;
//! let signed = sign_request("billing-agent", &key, "POST", "/v1/govern", "", b"{}", 1_700_000_000, "bm9uY2U")?;
//! assert_eq!(signed.headers()[0], ("X-TapPass-Agent-Id", "billing-agent".to_owned()));
//! let checked = verify_request(&key.public_key(), "POST", "/v1/govern", "", b"{}", &signed, 1_700_000_030, MAX_CLOCK_SKEW);
//! assert!(checked.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod keys;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

pub use keys::{KeyError, PublicKey, SigningKey};

/// The header names of a signed request, in the order they are sent.
pub const HEADERS: [&str; 5] = [
    "X-TapPass-Agent-Id",
    "X-TapPass-Timestamp",
    "X-TapPass-Nonce",
    "X-TapPass-Key-Fingerprint",
    "X-TapPass-Signature",
];

/// How far a request's timestamp may be from the verifier's clock, in
/// seconds, either way: five minutes.
pub const MAX_CLOCK_SKEW: u64 = 300;

/// The longest agent id signed, in bytes (it travels in a header).
const MAX_AGENT_ID: usize = 128;

/// The signature of one request: the values of its five headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The agent's slug.
    pub agent_id: String,
    /// Unix seconds when it was signed.
    pub timestamp: u64,
    /// The request's nonce.
    pub nonce: String,
    /// The first 8 bytes of the public key's SHA-256, as 16 hex digits.
    pub key_fingerprint: String,
    /// The Ed25519 signature over the canonical string.
    pub signature: [u8; 64],
}

impl SignedRequest {
    /// The five headers, names as [`HEADERS`] spells them.
    pub fn headers(&self) -> [(&'static str, String); 5] {
        [
            (HEADERS[0], self.agent_id.clone()),
            (HEADERS[1], self.timestamp.to_string()),
            (HEADERS[2], self.nonce.clone()),
            (HEADERS[3], self.key_fingerprint.clone()),
            (
                HEADERS[4],
                format!("ed25519:{}", URL_SAFE_NO_PAD.encode(self.signature)),
            ),
        ]
    }

    /// Reads the five headers of a request; `None` when it carries none of
    /// them (an unsigned request), an error when it carries some, or any
    /// that is malformed.
    pub fn from_headers(
        headers: &http::HeaderMap,
    ) -> Result<Option<SignedRequest>, SignatureError> {
        let values: Vec<Option<&str>> = HEADERS
            .iter()
            .map(|name| {
                let mut all = headers.get_all(*name).iter();
                let first = all.next()?;
                // A repeated header is no signature.
                if all.next().is_some() {
                    return Some("\u{0}");
                }
                Some(first.to_str().unwrap_or("\u{0}"))
            })
            .collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let [Some(agent_id), Some(timestamp), Some(nonce), Some(fingerprint), Some(signature)] =
            values[..]
        else {
            return Err(SignatureError::Incomplete);
        };
        let signature = signature
            .strip_prefix("ed25519:")
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .ok_or(SignatureError::Malformed("X-TapPass-Signature"))?;
        let timestamp = timestamp
            .parse::<u64>()
            .map_err(|_| SignatureError::Malformed("X-TapPass-Timestamp"))?;
        let valid_nonce = (16..=64).contains(&nonce.len())
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_nonce {
            return Err(SignatureError::Malformed("X-TapPass-Nonce"));
        }
        if agent_id.is_empty() || agent_id.len() > MAX_AGENT_ID || agent_id.contains('\u{0}') {
            return Err(SignatureError::Malformed("X-TapPass-Agent-Id"));
        }
        Ok(Some(SignedRequest {
            agent_id: agent_id.to_owned(),
            timestamp,
            nonce: nonce.to_owned(),
            key_fingerprint: fingerprint.to_owned(),
            signature,
        }))
    }
}

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Some of the five headers are there, not all.
    #[error("the request carries some of the X-TapPass signature headers but not all five")]
    Incomplete,
    /// A header is not what it must be.
    #[error("the header {0} is malformed")]
    Malformed(&'static str),
    /// The key fingerprint is not the registered key's.
    #[error("the request was signed with another key than the agent's")]
    OtherKey,
    /// The timestamp is further from the clock than the skew allows.
    #[error("the request's timestamp is more than {0} s from the server's clock")]
    Stale(u64),
    /// The signature does not verify over the request as received.
    #[error("the signature does not verify over this request")]
    Invalid,
    /// The agent id cannot be signed (empty, over 128 bytes, or not a header value).
    #[error("an agent id to sign with is 1 to 128 bytes of visible ASCII")]
    AgentId,
}

/// The canonical string a request's signature covers.
pub fn canonical(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    timestamp: u64,
    nonce: &str,
) -> Vec<u8> {
    let body_sha = keys::encode_hex(&Sha256::digest(body));
    format!(
        "{}\n{path}\n{query}\n{body_sha}\n{timestamp}\n{nonce}",
        method.to_ascii_uppercase()
    )
    .into_bytes()
}

/// The key's fingerprint: the first 8 bytes of its SHA-256, in hex.
pub fn fingerprint(key: &PublicKey) -> String {
    keys::encode_hex(&Sha256::digest(key.as_bytes())[..8])
}

/// Signs a request (see the [module documentation](self)).
#[allow(clippy::too_many_arguments)]
pub fn sign_request(
    agent_id: &str,
    key: &SigningKey,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    timestamp: u64,
    nonce: &str,
) -> Result<SignedRequest, SignatureError> {
    let header_safe = agent_id.bytes().all(|b| b.is_ascii_graphic());
    if agent_id.is_empty() || agent_id.len() > MAX_AGENT_ID || !header_safe {
        return Err(SignatureError::AgentId);
    }
    Ok(SignedRequest {
        agent_id: agent_id.to_owned(),
        timestamp,
        nonce: nonce.to_owned(),
        key_fingerprint: fingerprint(&key.public_key()),
        signature: key.sign(&canonical(method, path, query, body, timestamp, nonce)),
    })
}

/// A fresh nonce: 16 random bytes, URL-safe base64 without padding.
pub fn nonce() -> String {
    use rand::RngExt as _;
    let bytes: [u8; 16] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks `signed` against the request as received and the agent's `key`:
/// the fingerprint names the key, the timestamp is within `max_skew`
/// seconds of `now`, and the signature verifies. Refusing a nonce seen
/// before is the verifier's, which keeps them.
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    key: &PublicKey,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    signed: &SignedRequest,
    now: u64,
    max_skew: u64,
) -> Result<(), SignatureError> {
    if signed.key_fingerprint != fingerprint(key) {
        return Err(SignatureError::OtherKey);
    }
    if signed.timestamp.abs_diff(now) > max_skew {
        return Err(SignatureError::Stale(max_skew));
    }
    let message = canonical(method, path, query, body, signed.timestamp, &signed.nonce);
    if key.verify(&message, &signed.signature) {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}
