//! Proof of possession: the holder's signature over one call.
//!
//! The challenge is Python's `json.dumps({"id": token_id, "tool": tool,
//! "args": args, "ts": window}, sort_keys=True, separators=(",", ":"))`
//! after the prefix `tappass-pop-v1`, where `window` is the Unix time
//! rounded down to a multiple of 30 seconds. A PoP therefore binds the
//! token, the tool, every argument and a 30-second window; it carries no
//! nonce, so within its windows it can be replayed for the very same call.

use base64::Engine as _;

use super::canonical::{self, TooDeep};
use super::errors::{DecodeError, Rejection};
use super::token::{unix_now, CapabilityToken};
use crate::signing::keys::{PublicKey, SigningKey};

/// The domain-separation prefix of a PoP challenge.
pub(crate) const POP_CONTEXT: &[u8] = b"tappass-pop-v1";
/// The length of a PoP time window, in seconds (Python's `POP_WINDOW_SECS`).
pub const POP_WINDOW_SECS: i64 = 30;

/// A proof of possession: an Ed25519 signature by the token's holder.
///
/// Its header form (`X-TapPass-PoP`) is URL-safe base64, as the Python SDK's
/// FastAPI guard reads it; [`encode`](Self::encode) writes it without
/// padding, [`decode`](Self::decode) takes it with or without.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pop([u8; 64]);

impl std::fmt::Debug for Pop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pop(..)")
    }
}

impl Pop {
    /// Signs the call `tool(args)` under `token` with the holder's key, for
    /// the current time window.
    pub fn sign(
        token: &CapabilityToken,
        holder: &SigningKey,
        tool: &str,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Pop, Rejection> {
        Self::sign_at(token, holder, tool, args, unix_now())
    }

    /// As [`sign`](Self::sign), at `now` (Unix seconds).
    pub fn sign_at(
        token: &CapabilityToken,
        holder: &SigningKey,
        tool: &str,
        args: &serde_json::Map<String, serde_json::Value>,
        now: i64,
    ) -> Result<Pop, Rejection> {
        let challenge = Challenge::new(token.id(), tool, args)
            .map_err(|TooDeep| Rejection::ArgumentsTooDeep)?;
        Ok(Pop(holder.sign(&challenge.at(window_start(now)))))
    }

    /// The 64 signature bytes.
    pub fn from_bytes(bytes: [u8; 64]) -> Pop {
        Pop(bytes)
    }

    /// The 64 signature bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// The header value: URL-safe base64, no padding.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Reads the header value (URL-safe base64, padding optional).
    pub fn decode(header_value: &str) -> Result<Pop, DecodeError> {
        let unpadded = header_value.strip_suffix("==").unwrap_or(header_value);
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(unpadded.as_bytes())
            .map_err(|_| DecodeError::new("the proof of possession is not URL-safe base64"))?;
        let bytes: [u8; 64] = bytes
            .try_into()
            .map_err(|_| DecodeError::new("the proof of possession is not 64 bytes"))?;
        Ok(Pop(bytes))
    }

    /// Whether this is `holder`'s signature over the call in one of the
    /// windows `tolerance` allows around `now`: the current window first,
    /// then one before and one after, up to `tolerance` windows away.
    pub(crate) fn verify(
        &self,
        holder: &PublicKey,
        token_id: &str,
        tool: &str,
        args: &serde_json::Map<String, serde_json::Value>,
        now: i64,
        tolerance: u8,
    ) -> Result<bool, TooDeep> {
        let challenge = Challenge::new(token_id, tool, args)?;
        let current = window_start(now);
        for step in 0..=i64::from(tolerance) {
            let offsets: &[i64] = if step == 0 { &[0] } else { &[-step, step] };
            for offset in offsets {
                let ts = current + offset * POP_WINDOW_SECS;
                if holder.verify(&challenge.at(ts), &self.0) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// The start of the 30-second window holding `now` (floored, as Python's
/// `//`).
pub(crate) fn window_start(now: i64) -> i64 {
    now.div_euclid(POP_WINDOW_SECS) * POP_WINDOW_SECS
}

/// The challenge without its window: `tappass-pop-v1{"args":…,"id":…,"tool":…,"ts":`.
struct Challenge {
    head: String,
}

impl Challenge {
    fn new(
        token_id: &str,
        tool: &str,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Challenge, TooDeep> {
        let mut head = String::with_capacity(64 + token_id.len() + tool.len());
        head.push_str(std::str::from_utf8(POP_CONTEXT).expect("ASCII"));
        head.push_str("{\"args\":");
        canonical::write_arg_map(&mut head, args, 1)?;
        head.push_str(",\"id\":");
        canonical::write_str(&mut head, token_id);
        head.push_str(",\"tool\":");
        canonical::write_str(&mut head, tool);
        head.push_str(",\"ts\":");
        Ok(Challenge { head })
    }

    fn at(&self, ts: i64) -> Vec<u8> {
        let mut message = self.head.clone().into_bytes();
        message.extend_from_slice(ts.to_string().as_bytes());
        message.push(b'}');
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pop_is_its_64_bytes_and_debug_shows_none_of_them() {
        let bytes: [u8; 64] = std::array::from_fn(|i| i as u8);
        let pop = Pop::from_bytes(bytes);
        assert_eq!(pop.to_bytes(), bytes);
        assert_eq!(Pop::decode(&pop.encode()).unwrap(), pop);
        assert_eq!(format!("{pop:?}"), "Pop(..)");
    }

    fn token(holder: &SigningKey) -> CapabilityToken {
        CapabilityToken::builder()
            .id("tp_ct_pop")
            .holder(holder.public_key())
            .issued_at(1_700_000_000)
            .sign(&SigningKey::from_bytes(&[9; 32]))
            .unwrap()
    }

    fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_challenge_is_pythons_json_with_its_prefix() {
        let c = Challenge::new("tp_ct_x", "read_file", &args(json!({"z": 1.0, "a": "é"}))).unwrap();
        assert_eq!(
            String::from_utf8(c.at(1_700_000_010)).unwrap(),
            r#"tappass-pop-v1{"args":{"a":"\u00e9","z":1.0},"id":"tp_ct_x","tool":"read_file","ts":1700000010}"#
        );
    }

    #[test]
    fn windows_floor_like_python() {
        assert_eq!(window_start(59), 30);
        assert_eq!(window_start(60), 60);
        assert_eq!(window_start(-1), -30);
    }

    #[test]
    fn a_pop_verifies_within_its_tolerance_only() {
        let holder = SigningKey::from_bytes(&[3; 32]);
        let t = token(&holder);
        let a = args(json!({"path": "/data/x"}));
        let signed_at = 1_700_000_015;
        let pop = Pop::sign_at(&t, &holder, "read_file", &a, signed_at).unwrap();
        let check = |now: i64, tolerance: u8| {
            pop.verify(
                &holder.public_key(),
                t.id(),
                "read_file",
                &a,
                now,
                tolerance,
            )
            .unwrap()
        };
        assert!(check(signed_at, 0));
        assert!(!check(signed_at + 30, 0));
        assert!(check(signed_at + 30, 1));
        assert!(check(signed_at - 30, 1));
        assert!(!check(signed_at + 60, 1));
        assert!(check(signed_at + 60, 2));
        assert!(!check(signed_at + 90, 2));
        let other = args(json!({"path": "/data/y"}));
        assert!(!pop
            .verify(
                &holder.public_key(),
                t.id(),
                "read_file",
                &other,
                signed_at,
                2
            )
            .unwrap());
    }

    proptest::proptest! {
        #[test]
        fn any_header_decodes_or_is_refused_without_panicking(s in proptest::prelude::any::<String>()) {
            let _ = Pop::decode(&s);
        }
    }

    #[test]
    fn header_form_round_trips_with_or_without_padding() {
        let pop = Pop::from_bytes([0xff; 64]);
        let header = pop.encode();
        assert_eq!(header.len(), 86);
        assert_eq!(Pop::decode(&header).unwrap(), pop);
        assert_eq!(Pop::decode(&format!("{header}==")).unwrap(), pop);
        assert!(Pop::decode(&format!("{header}=")).is_err());
        assert!(Pop::decode(&header[..80]).is_err());
        assert!(Pop::decode(&header.replace('_', "/")).is_err());
    }
}
