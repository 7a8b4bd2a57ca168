//! The audit event log: every event posted or recorded, oldest first, as
//! its compact JSON text, and the idempotency keys of `POST /v1/events`
//! already seen.
//!
//! The log is bounded in bytes as well as in events: what an event costs is
//! its text plus a fixed slot, and the oldest events go first when either cap
//! would be passed.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::db::Db;
use crate::error::Error;

/// How many events the server keeps; the oldest go first.
pub(crate) const MAX_EVENTS: usize = 100_000;
/// How many bytes of events the server keeps unless configured otherwise: 64 MiB.
pub(crate) const DEFAULT_MAX_LOG_BYTES: usize = 64 << 20;
/// The smallest byte cap a server can be configured with: 1 MiB, room for
/// several of the largest events.
pub(crate) const MIN_LOG_BYTES: usize = 1 << 20;
/// The largest one event may be, as compact JSON: 64 KiB.
pub(crate) const MAX_EVENT_BYTES: usize = 64 << 10;
/// How many idempotency keys of `/v1/events` the server remembers; the oldest go first.
const MAX_KEYS: usize = 10_000;
/// A page stops before this many bytes of events (it always holds at least one).
pub(crate) const MAX_PAGE_BYTES: usize = 1 << 20;

/// One recorded event: its compact JSON text and what the log filters and
/// summarises on.
pub(crate) struct Stored {
    /// Its position in the log, from 0; never reused, so it makes a cursor.
    seq: u64,
    meta: Meta,
    json: Box<str>,
}

/// The string fields of an event that the log filters on and the console
/// summarises, copied out of its JSON so that neither parses every event.
#[derive(Default)]
pub(crate) struct Meta {
    pub(crate) session_id: Option<Box<str>>,
    pub(crate) event_type: Option<Box<str>>,
    pub(crate) agent_id: Option<Box<str>>,
    pub(crate) occurred_at: Option<Box<str>>,
}

impl Meta {
    /// The string fields of `event` (a field that is not a string is left out).
    pub(crate) fn of(event: &Value) -> Meta {
        let field = |name: &str| event.get(name).and_then(Value::as_str).map(Box::from);
        Meta {
            session_id: field("session_id"),
            event_type: field("event_type"),
            agent_id: field("agent_id"),
            occurred_at: field("occurred_at"),
        }
    }

    fn bytes(&self) -> usize {
        [
            &self.session_id,
            &self.event_type,
            &self.agent_id,
            &self.occurred_at,
        ]
        .into_iter()
        .map(|f| f.as_deref().map_or(0, str::len))
        .sum()
    }
}

/// What one event costs beyond its text: its slot in the log.
const SLOT_BYTES: usize = std::mem::size_of::<Stored>();

impl Stored {
    /// The bytes this event accounts for.
    fn cost(&self) -> usize {
        SLOT_BYTES + self.json.len() + self.meta.bytes()
    }

    /// Its string fields.
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The event itself (parsed again from its text).
    pub(crate) fn value(&self) -> Value {
        parse_stored(self)
    }
}

/// The recorded events and the idempotency keys of `/v1/events` already seen.
pub(crate) struct EventLog {
    events: VecDeque<Stored>,
    /// The sum of [`Stored::cost`] over `events`.
    bytes: usize,
    max_bytes: usize,
    next_seq: u64,
    keys: HashSet<String>,
    key_order: VecDeque<String>,
    /// The database the log writes through to (`--db`).
    db: Option<Arc<Db>>,
    /// Events evicted since the database last forgot them.
    evicted: usize,
}

/// How many evictions the log lets pile up before it deletes them from the
/// database in one statement.
const DB_EVICTION_BATCH: usize = 64;

/// Which events a page holds: `limit` events at most, after `after` (a cursor
/// from an earlier page), of one session or of all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageQuery<'a> {
    pub(crate) session_id: Option<&'a str>,
    pub(crate) after: Option<Cursor>,
    pub(crate) limit: usize,
}

/// Puts a session's page of events in the order they occurred
/// (`occurred_at`, then as received): a client reports an event such as
/// `session_open` off its hot path, in a batch that may arrive after the
/// calls made in that session, which the server records as they come. A
/// page in which some event's time cannot be read keeps the order of arrival.
pub(crate) fn in_time_order(events: &mut [&Stored]) {
    let times: Option<Vec<tappass::Timestamp>> = events
        .iter()
        .map(|e| e.meta.occurred_at.as_deref()?.parse().ok())
        .collect();
    let Some(times) = times else {
        return;
    };
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| times[i]); // stable: ties keep the order of arrival
    let sorted: Vec<&Stored> = order.iter().map(|&i| events[i]).collect();
    events.copy_from_slice(&sorted);
}

/// Where a page ended: the next page starts after it. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor(u64);

impl Cursor {
    /// Reads a cursor a client sent back.
    pub(crate) fn parse(text: &str) -> Option<Cursor> {
        text.parse().ok().map(Cursor)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One page of events, oldest first, as compact JSON texts.
pub(crate) struct Page<'a> {
    pub(crate) events: Vec<&'a str>,
    /// `Some` when more events match after this page.
    pub(crate) next: Option<Cursor>,
}

impl EventLog {
    /// An empty log that keeps at most `max_bytes` of events (never less than
    /// [`MIN_LOG_BYTES`]).
    pub(crate) fn new(max_bytes: usize) -> EventLog {
        EventLog {
            events: VecDeque::new(),
            bytes: 0,
            max_bytes: max_bytes.max(MIN_LOG_BYTES),
            next_seq: 0,
            keys: HashSet::new(),
            key_order: VecDeque::new(),
            db: None,
            evicted: 0,
        }
    }

    /// The log kept in `db` (`--db`): what it holds is read back (the newest
    /// events and keys, within the caps) and every change is written to it.
    pub(crate) fn with_db(max_bytes: usize, db: Arc<Db>) -> Result<EventLog, Error> {
        let mut log = EventLog::new(max_bytes);
        for (seq, json) in db.load_events(MAX_EVENTS)? {
            let meta = serde_json::from_str(&json)
                .map(|event: Value| Meta::of(&event))
                .unwrap_or_default();
            log.next_seq = seq;
            log.insert_memory(json, meta);
        }
        for key in db.load_event_keys(MAX_KEYS)? {
            log.remember_memory(key);
        }
        log.db = Some(db);
        Ok(log)
    }

    /// Records one event the server built itself.
    pub(crate) fn push(&mut self, event: Value) {
        let meta = Meta::of(&event);
        self.insert(event.to_string(), meta);
    }

    /// Records one event as its compact JSON text, evicting the oldest events
    /// until both caps hold (and writing it to the database, if any).
    pub(crate) fn insert(&mut self, json: String, meta: Meta) {
        if let Some(db) = &self.db {
            if let Err(e) = db.insert_events(None, &[(self.next_seq, &json)]) {
                tracing::error!(error = %e, "tappass-dev could not write an event to its database");
            }
        }
        self.insert_memory(json, meta);
    }

    /// Records a posted batch of events (already checked), with its
    /// idempotency key when it has one: `Ok(false)` when the key was seen
    /// before (nothing is recorded). With a database, the batch and its key
    /// are written in one transaction before anything is kept in memory, so
    /// an acknowledged batch survives a crash and a repeated one is
    /// recognised after a restart; `Err` when that write failed.
    pub(crate) fn record_batch(
        &mut self,
        key: Option<String>,
        batch: Vec<(String, Meta)>,
    ) -> Result<bool, String> {
        if key.as_ref().is_some_and(|key| self.keys.contains(key)) {
            return Ok(false);
        }
        if let Some(db) = &self.db {
            let numbered: Vec<(u64, &str)> = batch
                .iter()
                .enumerate()
                .map(|(i, (json, _))| (self.next_seq + i as u64, json.as_str()))
                .collect();
            if !db.insert_events(key.as_deref(), &numbered)? {
                return Ok(false);
            }
        }
        if let Some(key) = key {
            self.remember_memory(key);
        }
        for (json, meta) in batch {
            self.insert_memory(json, meta);
        }
        Ok(true)
    }

    /// [`insert`](Self::insert) in memory only.
    fn insert_memory(&mut self, json: String, meta: Meta) {
        let stored = Stored {
            seq: self.next_seq,
            meta,
            json: json.into_boxed_str(),
        };
        self.next_seq += 1;
        let cost = stored.cost();
        if cost > self.max_bytes {
            // Only an event the server built itself from a very long policy
            // reason could get here: posted events are checked before.
            tracing::warn!(
                bytes = cost,
                "the TapPass dev server dropped an audit event larger than its whole event log"
            );
            return;
        }
        while !self.events.is_empty()
            && (self.events.len() >= MAX_EVENTS || self.bytes + cost > self.max_bytes)
        {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.cost();
                self.evicted += 1;
            }
        }
        self.bytes += cost;
        self.events.push_back(stored);
        if self.evicted >= DB_EVICTION_BATCH {
            self.evicted = 0;
            if let (Some(db), Some(first)) = (&self.db, self.events.front()) {
                db.delete_events_before(first.seq);
            }
        }
    }

    /// How many events the log holds.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// The bytes the log accounts for: every event's compact JSON, its session
    /// id and its slot. Never above [`max_bytes`](EventLog::max_bytes).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The byte cap of the log.
    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Every event, oldest first.
    pub(crate) fn all(&self) -> Vec<Value> {
        self.events.iter().map(parse_stored).collect()
    }

    /// Every event, oldest first, borrowed (for the console's summaries).
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Stored> + '_ {
        self.events.iter()
    }

    /// The events of one session, oldest first.
    pub(crate) fn for_session(&self, session_id: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| e.meta.session_id.as_deref() == Some(session_id))
            .map(parse_stored)
            .collect()
    }

    /// One page of events: at most `query.limit` (and at least one), fewer when
    /// they pass [`MAX_PAGE_BYTES`] together.
    pub(crate) fn page(&self, query: PageQuery<'_>) -> Page<'_> {
        let start = match query.after {
            None => 0,
            Some(Cursor(seq)) => {
                let first = self.events.front().map_or(self.next_seq, |e| e.seq);
                usize::try_from(seq.saturating_add(1).saturating_sub(first))
                    .unwrap_or(usize::MAX)
                    .min(self.events.len())
            }
        };
        let limit = query.limit.max(1);
        let mut events: Vec<&Stored> = Vec::new();
        let mut bytes = 0;
        let mut last = None;
        let mut more = false;
        for e in self.events.range(start..) {
            if query
                .session_id
                .is_some_and(|s| e.meta.session_id.as_deref() != Some(s))
            {
                continue;
            }
            if events.len() >= limit
                || (!events.is_empty() && bytes + e.json.len() > MAX_PAGE_BYTES)
            {
                more = true;
                break;
            }
            bytes += e.json.len();
            events.push(e);
            last = Some(Cursor(e.seq));
        }
        if query.session_id.is_some() {
            in_time_order(&mut events);
        }
        Page {
            events: events.into_iter().map(|e| &*e.json).collect(),
            next: if more { last } else { None },
        }
    }

    /// Remembers an idempotency key in memory, forgetting the oldest (in
    /// the database too) beyond [`MAX_KEYS`].
    fn remember_memory(&mut self, key: String) {
        if self.keys.contains(&key) {
            return;
        }
        if self.key_order.len() >= MAX_KEYS {
            if let Some(old) = self.key_order.pop_front() {
                self.keys.remove(&old);
                if let Some(db) = &self.db {
                    db.delete_event_key(&old);
                }
            }
        }
        self.keys.insert(key.clone());
        self.key_order.push_back(key);
    }
}

/// The server wrote every stored text from a [`Value`], so it parses.
fn parse_stored(e: &Stored) -> Value {
    serde_json::from_str(&e.json).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
