//! Ed25519 keys: the control plane's and the agents'.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::Signer as _;

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not 64 hexadecimal digits (32 bytes).
    #[error("an Ed25519 key is 64 hexadecimal digits (32 bytes)")]
    Hex,
    /// Not a point on the curve, or a point of small order (a key every
    /// signature could be forged for).
    #[error("not a usable Ed25519 public key (not on the curve, or of small order)")]
    NotAKey,
    /// The environment variable is not set.
    #[error("the environment variable {0} is not set")]
    MissingEnv(String),
    /// The operating system's random source failed.
    #[error("the system random source failed")]
    Random,
}

/// An Ed25519 public key: a trusted root, a token's issuer or holder.
///
/// Written as 64 lowercase hexadecimal digits, as the Python SDK's
/// `PublicKey.to_hex()`. A key of small order is refused: every signature
/// verifies under such a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotAKey)?;
        if key.is_weak() {
            return Err(KeyError::NotAKey);
        }
        Ok(PublicKey { key })
    }

    /// The key from 64 hexadecimal digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&decode_hex32(hex.trim()).ok_or(KeyError::Hex)?)
    }

    /// The key from the hexadecimal value of the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Self::from_hex(&v),
            _ => Err(KeyError::MissingEnv(var.to_owned())),
        }
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// 64 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        encode_hex(self.as_bytes())
    }

    /// Strict verification: a non-canonical signature, or one whose `R` is
    /// of small order, fails.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.key.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::from_hex(s)
    }
}

/// An Ed25519 signing key: the control plane's (to mint tokens), an agent's
/// (to delegate and to prove possession).
///
/// Its `Debug` never shows the key; it is zeroed when dropped.
#[derive(Clone)]
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        use rand::TryRng as _;
        let mut seed = [0u8; 32];
        rand::rngs::SysRng
            .try_fill_bytes(&mut seed)
            .map_err(|_| KeyError::Random)?;
        let key = Self::from_bytes(&seed);
        seed.fill(0);
        Ok(key)
    }

    /// The key from its 32-byte seed (the Python SDK's `SigningKey(bytes)`).
    pub fn from_bytes(seed: &[u8; 32]) -> Self {
        SigningKey {
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// The key from its seed in 64 hexadecimal digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        let mut seed = decode_hex32(hex.trim()).ok_or(KeyError::Hex)?;
        let key = Self::from_bytes(&seed);
        seed.fill(0);
        Ok(key)
    }

    /// The key from the hexadecimal seed in the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Self::from_hex(&v),
            _ => Err(KeyError::MissingEnv(var.to_owned())),
        }
    }

    /// The 32-byte seed.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The seed in 64 lowercase hexadecimal digits.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.key.to_bytes())
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// An Ed25519 signature over `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key().to_hex())
    }
}

/// Lowercase hexadecimal.
pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

fn hex_value(d: u8, lowercase_only: bool) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' if !lowercase_only => Some(d - b'A' + 10),
        _ => None,
    }
}

/// Exactly `N` bytes of hexadecimal, either case.
fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    decode_hex_n(hex, false)
}

/// Exactly `N` bytes of hexadecimal; lowercase only when `lowercase_only`
/// (the token's fields, which the Python SDK writes with `bytes.hex()`).
pub(crate) fn decode_hex_n<const N: usize>(hex: &str, lowercase_only: bool) -> Option<[u8; N]> {
    let digits = hex.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        out[i] = hex_value(pair[0], lowercase_only)? << 4 | hex_value(pair[1], lowercase_only)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_hex() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = key.public_key();
        assert_eq!(PublicKey::from_hex(&public.to_hex()).unwrap(), public);
        assert_eq!(
            PublicKey::from_hex(&public.to_hex().to_uppercase()).unwrap(),
            public
        );
        assert_eq!(public.to_string().parse::<PublicKey>().unwrap(), public);
    }

    #[test]
    fn a_signing_key_never_shows_in_debug() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.to_hex()), "{shown}");
        assert!(shown.contains(&key.public_key().to_hex()));
    }

    #[test]
    fn bad_hex_and_small_order_keys_are_refused() {
        assert_eq!(PublicKey::from_hex("abcd"), Err(KeyError::Hex));
        assert_eq!(PublicKey::from_hex(&"zz".repeat(32)), Err(KeyError::Hex));
        // The identity point (small order): every signature would verify.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::NotAKey));
        assert_eq!(SigningKey::from_hex("00").unwrap_err(), KeyError::Hex);
    }

    #[test]
    fn signatures_verify_only_for_their_message() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let sig = key.sign(b"hello");
        assert!(key.public_key().verify(b"hello", &sig));
        assert!(!key.public_key().verify(b"hellp", &sig));
        assert!(!SigningKey::from_bytes(&[2; 32])
            .public_key()
            .verify(b"hello", &sig));
    }

    #[test]
    fn token_hex_is_lowercase_only() {
        assert!(decode_hex_n::<2>("abcd", true).is_some());
        assert!(decode_hex_n::<2>("ABCD", true).is_none());
        assert!(decode_hex_n::<2>("ab cd", false).is_none());
        assert_eq!(encode_hex(&[0, 255, 16]), "00ff10");
    }
}
