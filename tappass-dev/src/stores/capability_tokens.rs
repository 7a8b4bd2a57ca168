//! The capability token store: the Ed25519 key the server mints capability
//! tokens with (its public half is published) and the tokens it minted in
//! chat answers, for the console and [`DevServer::capability_tokens`](crate::DevServer::capability_tokens).

use std::collections::VecDeque;

use serde_json::Value;
use tappass::capability::{CapabilityToken, PublicKey, SigningKey};
use tappass::Timestamp;

use crate::policy::TokenGrant;

/// How many minted tokens the server remembers (the oldest go first).
const MAX_ISSUED: usize = 10_000;

/// A capability token the dev server minted in a chat answer, as
/// [`DevServer::capability_tokens`](crate::DevServer::capability_tokens) lists it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IssuedCapabilityToken {
    /// Its id (`tp_ct_…`).
    pub token_id: String,
    /// The rule that allowed the prompt and set the grant.
    pub rule: String,
    /// The tools it grants, with their constraints as the Python SDK's
    /// dictionaries (`{"read_file": {"path": {"type": "subpath", …}}}`).
    pub tools: Value,
    /// Its clearance (`INTERNAL`, …).
    pub clearance: String,
    /// Its trust score.
    pub trust_score: u32,
    /// The holder's public key (64 hex digits): the agent's key.
    pub holder: String,
    /// How the holder's key reached the server: `signed request` (the key
    /// the agent registered and signed the chat with) or `header`
    /// (`X-TapPass-Holder-Key`).
    pub holder_from: &'static str,
    /// The session of the chat.
    pub session_id: String,
    /// The agent of the chat.
    pub agent_uuid: String,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// The key and the tokens minted.
pub(crate) struct CapabilityTokens {
    key: SigningKey,
    issued: VecDeque<IssuedCapabilityToken>,
}

/// What a token is minted for.
pub(crate) struct NewToken<'a> {
    pub(crate) rule: &'a str,
    pub(crate) grant: &'a TokenGrant,
    pub(crate) holder: PublicKey,
    pub(crate) holder_from: &'static str,
    pub(crate) session_id: &'a str,
    pub(crate) agent_uuid: &'a str,
}

impl CapabilityTokens {
    pub(crate) fn new(key: SigningKey) -> CapabilityTokens {
        CapabilityTokens {
            key,
            issued: VecDeque::new(),
        }
    }

    /// The public key tool services trust as the root of these tokens.
    pub(crate) fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Mints a token for `new` and records it; the token and its row.
    pub(crate) fn mint(
        &mut self,
        new: NewToken<'_>,
    ) -> Result<(CapabilityToken, IssuedCapabilityToken), String> {
        let mut builder = CapabilityToken::builder()
            .holder(new.holder)
            .clearance(new.grant.clearance)
            .trust_score(new.grant.trust_score)
            .ttl(new.grant.ttl)
            .session_id(new.session_id)
            .agent_id(new.agent_uuid);
        for (tool, constraints) in &new.grant.tools {
            builder = builder.tool(tool.clone(), constraints.clone());
        }
        let token = builder
            .sign(&self.key)
            .map_err(|e| format!("could not mint the capability token: {e}"))?;
        let tools = Value::Object(
            token
                .tools()
                .map(|(name, set)| (name.to_owned(), set.to_dict()))
                .collect(),
        );
        let issued_at = Timestamp::now();
        let row = IssuedCapabilityToken {
            token_id: token.id().to_owned(),
            rule: new.rule.to_owned(),
            tools,
            clearance: token.clearance().name().to_owned(),
            trust_score: token.trust_score(),
            holder: new.holder.to_hex(),
            holder_from: new.holder_from,
            session_id: new.session_id.to_owned(),
            agent_uuid: new.agent_uuid.to_owned(),
            issued_at,
            expires_at: issued_at.after(new.grant.ttl),
        };
        if self.issued.len() >= MAX_ISSUED {
            self.issued.pop_front();
        }
        self.issued.push_back(row.clone());
        Ok((token, row))
    }

    /// Every token minted, oldest first.
    pub(crate) fn issued(&self) -> Vec<IssuedCapabilityToken> {
        self.issued.iter().cloned().collect()
    }

    /// The newest `n` tokens, newest first, and how many there are.
    pub(crate) fn newest(&self, n: usize) -> (Vec<IssuedCapabilityToken>, usize) {
        (
            self.issued.iter().rev().take(n).cloned().collect(),
            self.issued.len(),
        )
    }
}
