//! The agents' signing keys (Ed25519 public keys, by agent id) and the
//! nonces of the signed requests already seen, so that none is accepted twice.

use std::collections::{HashMap, HashSet, VecDeque};

use tappass::signing::PublicKey;

/// How many agents may register a key.
pub(crate) const MAX_KEYS: usize = 10_000;
/// How many nonces are remembered: a nonce older than twice the allowed
/// clock skew is refused by its timestamp anyway.
const MAX_NONCES: usize = 100_000;

/// The registered keys and the nonces seen.
#[derive(Default)]
pub(crate) struct SigningKeys {
    keys: HashMap<String, PublicKey>,
    nonces: HashSet<(String, String)>,
    nonce_order: VecDeque<((String, String), u64)>,
}

impl SigningKeys {
    /// Registers (or replaces) `agent_id`'s key; `false` when the store is
    /// full and the agent is new.
    pub(crate) fn register(&mut self, agent_id: &str, key: PublicKey) -> bool {
        if self.keys.len() >= MAX_KEYS && !self.keys.contains_key(agent_id) {
            return false;
        }
        self.keys.insert(agent_id.to_owned(), key);
        true
    }

    /// `agent_id`'s key, if it registered one.
    pub(crate) fn key(&self, agent_id: &str) -> Option<PublicKey> {
        self.keys.get(agent_id).copied()
    }

    /// Remembers a request's nonce; `false` when it was seen before. Nonces
    /// signed before `forget_before` (unix seconds) are forgotten first.
    pub(crate) fn first_use(
        &mut self,
        agent_id: &str,
        nonce: &str,
        signed_at: u64,
        forget_before: u64,
    ) -> bool {
        while let Some((_, at)) = self.nonce_order.front() {
            if *at >= forget_before && self.nonce_order.len() < MAX_NONCES {
                break;
            }
            if let Some((old, _)) = self.nonce_order.pop_front() {
                self.nonces.remove(&old);
            }
        }
        let entry = (agent_id.to_owned(), nonce.to_owned());
        if !self.nonces.insert(entry.clone()) {
            return false;
        }
        self.nonce_order.push_back((entry, signed_at));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_used_once_and_forgotten_when_old() {
        let mut keys = SigningKeys::default();
        assert!(keys.first_use("agt", "n1", 100, 0));
        assert!(!keys.first_use("agt", "n1", 100, 0));
        assert!(keys.first_use("other", "n1", 100, 0), "per agent");
        // Past the window the old nonce is forgotten (its timestamp is
        // refused by then anyway).
        assert!(keys.first_use("agt", "n2", 1_000, 500));
        assert!(keys.first_use("agt", "n1", 1_000, 500));
    }
}
