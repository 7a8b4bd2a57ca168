//! What an authorizer remembers of the tokens presented to it.
//!
//! An agent presents the same token for every call during its life (five
//! minutes by default), so the authorizer keeps, per header value, the
//! decoded token, the verdict on its chain and signatures (a pure function
//! of the token and of the authorizer's trusted roots, which never change)
//! and the holder's decompressed key. Per call there remain the checks that
//! depend on the call or the clock: the grant, the times, the arguments and
//! the proof of possession.
//!
//! The memory is bounded: a fixed number of shards, each cleared when full.
//! An entry is found by a hash of the header's tail (which holds the
//! signature) and used only if the whole header is equal, so a collision
//! costs a decode, never a wrong answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::errors::Rejection;
use super::token::CapabilityToken;
use crate::signing::keys::PublicKey;

/// A decoded token and what was learnt about it.
#[derive(Debug)]
pub(crate) struct Presented {
    pub(crate) token: Arc<CapabilityToken>,
    /// The chain's verdict (structure, narrowing, trusted root, signatures).
    pub(crate) chain: OnceLock<Result<(), Rejection>>,
    /// The holder's key, decompressed.
    pub(crate) holder: OnceLock<Option<PublicKey>>,
}

impl Presented {
    pub(crate) fn new(token: Arc<CapabilityToken>) -> Presented {
        Presented {
            token,
            chain: OnceLock::new(),
            holder: OnceLock::new(),
        }
    }

    pub(crate) fn holder(&self) -> Option<PublicKey> {
        *self.holder.get_or_init(|| self.token.holder())
    }
}

struct Entry {
    header: Box<str>,
    presented: Arc<Presented>,
}

const SHARDS: usize = 8;

/// A bounded map from header values to what was learnt about them.
pub(crate) struct Cache {
    shards: [Mutex<HashMap<u64, Entry>>; SHARDS],
    per_shard: usize,
}

impl Cache {
    /// Room for about `capacity` tokens.
    pub(crate) fn new(capacity: usize) -> Cache {
        Cache {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// FNV-1a over the length and the last 64 bytes (the signature's end).
    fn key(header: &str) -> u64 {
        let bytes = header.as_bytes();
        let tail = &bytes[bytes.len().saturating_sub(64)..];
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
        for b in tail {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }

    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        // A poisoned shard only means a panic elsewhere while holding it; the
        // map itself is always consistent.
        self.shards[(key >> 59) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, header: &str) -> Option<Arc<Presented>> {
        let key = Self::key(header);
        let shard = self.shard(key);
        shard
            .get(&key)
            .filter(|e| *e.header == *header)
            .map(|e| e.presented.clone())
    }

    pub(crate) fn insert(&self, header: &str, presented: Arc<Presented>) {
        let key = Self::key(header);
        let mut shard = self.shard(key);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.clear();
        }
        shard.insert(
            key,
            Entry {
                header: header.into(),
                presented,
            },
        );
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::SigningKey;

    fn token(n: u8) -> Arc<CapabilityToken> {
        Arc::new(
            CapabilityToken::builder()
                .id(format!("tp_ct_{n}"))
                .holder(SigningKey::from_bytes(&[2; 32]).public_key())
                .issued_at(1_700_000_000)
                .sign(&SigningKey::from_bytes(&[1; 32]))
                .unwrap(),
        )
    }

    #[test]
    fn entries_are_found_by_their_whole_header_only() {
        let cache = Cache::new(64);
        let t = token(1);
        let header = t.encode();
        cache.insert(&header, Arc::new(Presented::new(t.clone())));
        assert_eq!(cache.get(&header).unwrap().token, t);
        // Same tail, same length, another header: a miss, not a wrong hit.
        let mut other = header.clone().into_bytes();
        other[0] = if other[0] == b'e' { b'f' } else { b'e' };
        let other = String::from_utf8(other).unwrap();
        assert_eq!(Cache::key(&other), Cache::key(&header));
        assert!(cache.get(&other).is_none());
    }

    #[test]
    fn the_memory_is_bounded() {
        let cache = Cache::new(16);
        for n in 0..200 {
            let t = token(n);
            cache.insert(&t.encode(), Arc::new(Presented::new(t)));
        }
        assert!(cache.len() <= 16, "{}", cache.len());
    }
}
