//! The last-known-good cache of `fail_open_cached`: the last decision the
//! server gave each call, kept so that an allow can be reused while the
//! control plane is unavailable, and never anything else.
//!
//! A call takes a [`Ticket`] when it starts; its outcome is recorded under
//! its key with that ticket, and an outcome older than the one recorded
//! (a slow call that started first) changes nothing. What it keeps of each
//! key is the last decision: an allow, with when it came and the value to
//! reuse, or "not an allow" (a block, an approval, any other decision).
//!
//! An allow is recorded as reusable only when the decision before it for
//! the same key, if one was seen, was an allow too: an approval lets its
//! request through once, and the allow that follows a pause for a human is
//! that one pass, never to be reused. The caller also records as "not an
//! allow" an allow it knows came from an approval (a resume token, an
//! answer that names one).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A call's place in the order calls started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket(u64);

enum Seen<V> {
    /// An allow that may be reused until `at + ttl`.
    Allowed { value: V, at: Instant },
    /// An allow that is not to be reused (an approval's one pass).
    AllowedOnce,
    /// A decision that was not an allow.
    NotAllowed,
}

struct Entry<V> {
    ticket: Ticket,
    seen: Seen<V>,
}

struct Inner<V> {
    entries: HashMap<Box<[u8]>, Entry<V>>,
    /// Keys in the order they were last written, with the ticket of that
    /// write; an item whose ticket is not the entry's is stale.
    order: VecDeque<(Box<[u8]>, Ticket)>,
}

/// The cache; see the module's documentation.
pub(crate) struct Cache<V> {
    ttl: Duration,
    capacity: usize,
    next: AtomicU64,
    inner: Mutex<Inner<V>>,
}

/// What the server decided of a call, as the cache records it.
pub(crate) enum Decided<V> {
    /// An allow that may be reused (if the decision before it was one too).
    Allow(V),
    /// An allow that must not be reused: it came from an approval.
    AllowOnce,
    /// Any decision that is not an allow.
    Other,
}

impl<V: Clone> Cache<V> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Cache<V> {
        Cache {
            ttl,
            capacity: capacity.max(1),
            next: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The ticket of a call that starts now.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Records what the server decided of the call `key` that took `ticket`.
    pub(crate) fn record(&self, key: &[u8], ticket: Ticket, decided: Decided<V>) {
        let mut inner = self.lock();
        let previous_allowed = match inner.entries.get(key) {
            Some(entry) if entry.ticket > ticket => return,
            Some(entry) => !matches!(entry.seen, Seen::NotAllowed),
            None => true,
        };
        let seen = match decided {
            Decided::Allow(value) if previous_allowed => Seen::Allowed {
                value,
                at: Instant::now(),
            },
            Decided::Allow(_) | Decided::AllowOnce => Seen::AllowedOnce,
            Decided::Other => Seen::NotAllowed,
        };
        let key: Box<[u8]> = key.into();
        inner.order.push_back((key.clone(), ticket));
        inner.entries.insert(key, Entry { ticket, seen });
        // The oldest keys go first; stale items of the order are skipped,
        // and the order is compacted when they pile up.
        while inner.entries.len() > self.capacity {
            let Some((old, written)) = inner.order.pop_front() else {
                break;
            };
            if inner.entries.get(&old).is_some_and(|e| e.ticket == written) {
                inner.entries.remove(&old);
            }
        }
        if inner.order.len() > 2 * self.capacity + 16 {
            let Inner { entries, order } = &mut *inner;
            order.retain(|(key, written)| entries.get(key).is_some_and(|e| e.ticket == *written));
        }
    }

    /// The allow to reuse for `key`, and its age: only when the last
    /// decision seen for it was a reusable allow younger than the TTL.
    pub(crate) fn reuse(&self, key: &[u8]) -> Option<(V, Duration)> {
        let inner = self.lock();
        match &inner.entries.get(key)?.seen {
            Seen::Allowed { value, at } => {
                let age = at.elapsed();
                (age < self.ttl).then(|| (value.clone(), age))
            }
            Seen::AllowedOnce | Seen::NotAllowed => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> Cache<&'static str> {
        Cache::new(Duration::from_secs(60), 4)
    }

    #[test]
    fn only_the_last_decision_counts_and_only_an_allow_is_reused() {
        let cache = cache();
        let first = cache.ticket();
        cache.record(b"k", first, Decided::Allow("yes"));
        assert_eq!(cache.reuse(b"k").map(|(v, _)| v), Some("yes"));
        cache.record(b"k", cache.ticket(), Decided::Other);
        assert_eq!(
            cache.reuse(b"k"),
            None,
            "a block is never turned into an allow"
        );
        // The allow after a block may be an approval's one pass: not reused.
        cache.record(b"k", cache.ticket(), Decided::Allow("after the block"));
        assert_eq!(cache.reuse(b"k"), None);
        // A second allow in a row is.
        cache.record(b"k", cache.ticket(), Decided::Allow("again"));
        assert_eq!(cache.reuse(b"k").map(|(v, _)| v), Some("again"));
        cache.record(b"k", cache.ticket(), Decided::AllowOnce);
        assert_eq!(cache.reuse(b"k"), None);
        assert_eq!(cache.reuse(b"other"), None, "never seen: nothing to reuse");
    }

    #[test]
    fn an_older_call_finishing_late_changes_nothing() {
        let cache = cache();
        let (older, newer) = (cache.ticket(), cache.ticket());
        cache.record(b"k", newer, Decided::Other);
        cache.record(b"k", older, Decided::Allow("stale"));
        assert_eq!(cache.reuse(b"k"), None);
    }

    #[test]
    fn an_allow_expires_with_the_ttl_and_the_oldest_keys_go_first() {
        let short: Cache<u8> = Cache::new(Duration::from_millis(10), 2);
        short.record(b"a", short.ticket(), Decided::Allow(1));
        std::thread::sleep(Duration::from_millis(15));
        assert_eq!(short.reuse(b"a"), None, "past its TTL");
        let small: Cache<u8> = Cache::new(Duration::from_secs(60), 2);
        for key in [b"a", b"b", b"a", b"c"] {
            small.record(key, small.ticket(), Decided::Allow(key[0]));
        }
        assert_eq!(small.reuse(b"b"), None, "the oldest write went first");
        assert!(small.reuse(b"a").is_some() && small.reuse(b"c").is_some());
        for i in 0..1000u32 {
            small.record(&i.to_be_bytes(), small.ticket(), Decided::Other);
        }
        assert!(small.lock().order.len() <= 2 * 2 + 16 + 1);
    }
}
