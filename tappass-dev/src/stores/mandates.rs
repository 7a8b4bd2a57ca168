//! The mandate store: the ES256 signing keys (the current one and every
//! earlier one, all published), the mandates issued on each `allow` of
//! `/v1/govern`, and the revoked ids.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand::RngExt;
use serde_json::{json, Value};

use super::db::Db;
use crate::error::Error;
use crate::ids;
use tappass::Timestamp;

/// How many issued mandates the server remembers for [`DevServer::mandates`](crate::DevServer::mandates).
const MAX_ISSUED: usize = 10_000;

/// A mandate the dev server issued, as [`DevServer::mandates`](crate::DevServer::mandates) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedMandate {
    /// Its id (`m_…`).
    pub mandate_id: String,
    /// The tool call it was issued for.
    pub tool: String,
    /// The capabilities it grants.
    pub capabilities: Vec<String>,
    /// The session of the decision.
    pub session_id: String,
    /// The agent it was issued to (`sub`).
    pub agent_uuid: String,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// The `kid` of the key that signed it.
    pub kid: String,
    /// Whether it has been revoked.
    pub revoked: bool,
}

/// An ES256 signing key and its public JWK.
pub(crate) struct Signer {
    key: EncodingKey,
    kid: String,
    jwk: Value,
    /// The key as PKCS#8 PEM, for the database (`--db`).
    pem: String,
}

impl Signer {
    /// A fresh P-256 key.
    pub(crate) fn generate() -> Signer {
        loop {
            // A random scalar is a valid key unless it is zero or above the
            // group order: retry on the (negligible) chance it is.
            let bytes: [u8; 32] = rand::rng().random();
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                if let Ok(signer) = Signer::from_key(&key) {
                    return signer;
                }
            }
        }
    }

    /// A P-256 key from its PKCS#8 PEM text (`-----BEGIN PRIVATE KEY-----`).
    pub(crate) fn from_pem(pem: &str) -> Result<Signer, Error> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|_| Error::SigningKeyFormat)?;
        Signer::from_key(&key)
    }

    fn from_key(key: &SigningKey) -> Result<Signer, Error> {
        let fail = |e: &dyn std::fmt::Display| Error::SigningKey {
            problem: e.to_string(),
        };
        let der = key.to_pkcs8_der().map_err(|e| fail(&e))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| fail(&e))?
            .to_string();
        let key = EncodingKey::from_ec_der(der.as_bytes());
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).map_err(|e| fail(&e))?;
        // The RFC 7638 thumbprint: the same key always has the same `kid`.
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| fail(&e))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let jwk = serde_json::to_value(&jwk).map_err(|e| fail(&e))?;
        Ok(Signer { key, kid, jwk, pem })
    }
}

/// The keys, the mandates issued and the revoked ids.
pub(crate) struct Mandates {
    /// Every key the server signed with, the current one last; all are published.
    signers: Vec<Arc<Signer>>,
    issued: Vec<IssuedMandate>,
    revoked: HashSet<String>,
    /// The database keys and mandates are written to (`--db`).
    db: Option<Arc<Db>>,
}

/// An issued mandate's row as the database keeps it.
fn mandate_json(m: &IssuedMandate) -> String {
    json!({
        "mandate_id": m.mandate_id,
        "tool": m.tool,
        "capabilities": m.capabilities,
        "session_id": m.session_id,
        "agent_uuid": m.agent_uuid,
        "issued_at": m.issued_at,
        "expires_at": m.expires_at,
        "kid": m.kid,
        "revoked": m.revoked,
    })
    .to_string()
}

/// A row of [`mandate_json`]; `None` when it does not read.
fn mandate_from_json(text: &str) -> Option<IssuedMandate> {
    let v: Value = serde_json::from_str(text).ok()?;
    let s = |key: &str| v.get(key)?.as_str().map(str::to_owned);
    Some(IssuedMandate {
        mandate_id: s("mandate_id")?,
        tool: s("tool")?,
        capabilities: v
            .get("capabilities")?
            .as_array()?
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect(),
        session_id: s("session_id")?,
        agent_uuid: s("agent_uuid")?,
        issued_at: s("issued_at")?.parse().ok()?,
        expires_at: s("expires_at")?.parse().ok()?,
        kid: s("kid")?,
        revoked: v.get("revoked")?.as_bool()?,
    })
}

/// What a mandate is issued for.
pub(crate) struct NewMandate<'a> {
    pub(crate) tool: &'a str,
    pub(crate) capabilities: Vec<String>,
    pub(crate) ttl: Duration,
    pub(crate) session_id: &'a str,
    pub(crate) agent_uuid: &'a str,
}

impl Mandates {
    pub(crate) fn new(signer: Signer) -> Mandates {
        Mandates {
            signers: vec![Arc::new(signer)],
            issued: Vec::new(),
            revoked: HashSet::new(),
            db: None,
        }
    }

    /// The store kept in `db` (`--db`): every signing key the file holds is
    /// published again (mandates issued before a restart still verify), the
    /// issued mandates are read back, and `signer` signs from now on unless
    /// it was given none and the file has keys (`signer` is then `None` and
    /// the file's newest key goes on signing).
    pub(crate) fn with_db(signer: Option<Signer>, db: Arc<Db>) -> Result<Mandates, Error> {
        let mut signers = Vec::new();
        for pem in db.load_signing_keys()? {
            match Signer::from_pem(&pem) {
                Ok(kept) => signers.push(Arc::new(kept)),
                Err(_) => tracing::warn!(
                    "tappass-dev skipped a signing key of its database that does not read"
                ),
            }
        }
        let signer = match signer {
            Some(signer) => Some(signer),
            None if signers.is_empty() => Some(Signer::generate()),
            None => None,
        };
        if let Some(signer) = signer {
            db.put_signing_key(&signer.kid, &signer.pem);
            signers.retain(|s| s.kid != signer.kid);
            signers.push(Arc::new(signer));
        }
        let mut issued = Vec::new();
        let mut revoked = HashSet::new();
        for text in db.load_mandates()? {
            if let Some(m) = mandate_from_json(&text) {
                if m.revoked {
                    revoked.insert(m.mandate_id.clone());
                }
                issued.push(m);
            }
        }
        Ok(Mandates {
            signers,
            issued,
            revoked,
            db: Some(db),
        })
    }

    /// The JWK Set: every key, current and previous.
    pub(crate) fn jwks(&self) -> Value {
        json!({ "keys": self.signers.iter().map(|s| s.jwk.clone()).collect::<Vec<_>>() })
    }

    /// The current key's `kid`.
    pub(crate) fn kid(&self) -> &str {
        &self.current().kid
    }

    fn current(&self) -> &Arc<Signer> {
        // `new` puts one signer in and nothing takes one out.
        self.signers
            .last()
            .expect("the dev server always has a signing key")
    }

    /// Signs with a new key from now on; the old ones stay published.
    pub(crate) fn rotate(&mut self, signer: Signer) -> String {
        let kid = signer.kid.clone();
        if let Some(db) = &self.db {
            db.put_signing_key(&kid, &signer.pem);
        }
        self.signers.push(Arc::new(signer));
        kid
    }

    /// Issues a mandate: records it and returns the token and its row.
    pub(crate) fn issue(&mut self, issuer: &str, grant: NewMandate<'_>) -> Result<String, String> {
        let signer = self.current().clone();
        let mandate_id = format!("m_{}", ids::random_hex32());
        let now = Timestamp::now();
        let iat = jsonwebtoken::get_current_timestamp();
        let capabilities = if grant.capabilities.is_empty() {
            // Built from a checked name only: a `*` or `:` in it would widen
            // the grant (`/v1/govern` refuses such names before this).
            ids::check_tool_name(grant.tool)?;
            vec![format!("tool:call:{}", grant.tool)]
        } else {
            grant.capabilities
        };
        let claims = json!({
            "mandate_id": mandate_id,
            "capabilities": capabilities.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
            "iat": iat,
            "exp": iat + grant.ttl.as_secs(),
            "iss": issuer,
            "sub": grant.agent_uuid,
            "session_id": grant.session_id,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(signer.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &signer.key)
            .map_err(|e| format!("could not sign the mandate: {e}"))?;
        if self.issued.len() >= MAX_ISSUED {
            let old = self.issued.remove(0);
            if let Some(db) = &self.db {
                db.delete_mandate(&old.mandate_id);
            }
        }
        self.issued.push(IssuedMandate {
            mandate_id,
            tool: grant.tool.to_owned(),
            capabilities,
            session_id: grant.session_id.to_owned(),
            agent_uuid: grant.agent_uuid.to_owned(),
            issued_at: now,
            expires_at: now.after(grant.ttl),
            kid: signer.kid.clone(),
            revoked: false,
        });
        if let (Some(db), Some(row)) = (&self.db, self.issued.last()) {
            db.put_mandate(&row.mandate_id, &mandate_json(row));
        }
        Ok(token)
    }

    /// Revokes a mandate the server issued; `false` when it never issued it.
    pub(crate) fn revoke(&mut self, mandate_id: &str) -> bool {
        let Some(row) = self.issued.iter_mut().find(|m| m.mandate_id == mandate_id) else {
            return false;
        };
        row.revoked = true;
        if let Some(db) = &self.db {
            db.put_mandate(mandate_id, &mandate_json(row));
        }
        self.revoked.insert(mandate_id.to_owned());
        true
    }

    /// Every mandate issued, oldest first.
    pub(crate) fn issued(&self) -> Vec<IssuedMandate> {
        self.issued.clone()
    }

    /// Every mandate issued, oldest first, borrowed (for the console).
    pub(crate) fn issued_rows(&self) -> &[IssuedMandate] {
        &self.issued
    }

    /// The revoked ids, sorted.
    pub(crate) fn revoked(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.revoked.iter().cloned().collect();
        ids.sort();
        ids
    }
}
