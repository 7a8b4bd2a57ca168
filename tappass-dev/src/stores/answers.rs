//! The answers remembered per `Idempotency-Key` of the chat and govern
//! routes (see the middleware, [`routes::idempotency`](crate::routes::idempotency)):
//! the first request of a key runs, a repeat replays its answer or waits for it.
//!
//! Memory is bounded: at most [`MAX_ANSWERS`] answers and [`MAX_TOTAL_BYTES`]
//! of them, the oldest forgotten first; an answer over [`MAX_ANSWER_BYTES`] is
//! not remembered (within the 1 MiB request limit, no answer is that large).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::sync::watch;

use super::db::{Db, StoredAnswer};
use crate::error::Error;

/// How many answers the server remembers.
pub(crate) const MAX_ANSWERS: usize = 10_000;
/// How many bytes of answers the server remembers: 32 MiB.
pub(crate) const MAX_TOTAL_BYTES: usize = 32 << 20;
/// The largest answer the server remembers: 4 MiB.
pub(crate) const MAX_ANSWER_BYTES: usize = 4 << 20;
/// What one remembered answer costs beyond its key, headers and body.
const SLOT_BYTES: usize = 128;

/// A remembered answer and the request it answered.
pub(crate) struct Answer {
    /// The fingerprint of the request's body.
    pub(crate) request: u128,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    fn cost(&self, key: &str) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        SLOT_BYTES + key.len() + headers + self.body.len()
    }
}

enum Slot {
    /// The first request is running; the sender says when it ends.
    Running(watch::Receiver<()>),
    Done(Arc<Answer>),
}

/// The remembered answers, by scoped key.
#[derive(Default)]
pub(crate) struct Answers {
    slots: HashMap<String, Slot>,
    /// The keys of `Done` slots, oldest first.
    order: VecDeque<String>,
    /// The sum of the costs of `Done` slots.
    bytes: usize,
    /// The database the answers are written to (`--db`).
    db: Option<Arc<Db>>,
}

/// `name: value` lines of `headers` (values that are not visible ASCII are
/// not kept; the dev server writes none).
fn header_lines(headers: &HeaderMap) -> String {
    let mut out = String::new();
    for (name, value) in headers {
        if let Ok(value) = value.to_str() {
            out.push_str(name.as_str());
            out.push_str(": ");
            out.push_str(value);
            out.push('\n');
        }
    }
    out
}

/// The headers of [`header_lines`].
fn parse_header_lines(lines: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines.lines() {
        if let Some((name, value)) = line.split_once(": ") {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
    }
    headers
}

/// What a request with a key does: replay the answer, wait for the first
/// request still running, or run (and say when it is done).
pub(crate) enum Begin {
    Replay(Arc<Answer>),
    Wait(watch::Receiver<()>),
    Run(watch::Sender<()>),
}

impl Answers {
    /// The answers kept in `db` (`--db`), read back and written to from now on.
    pub(crate) fn with_db(db: Arc<Db>) -> Result<Answers, Error> {
        let mut answers = Answers::default();
        for stored in db.load_answers()? {
            let Ok(status) = StatusCode::from_u16(stored.status) else {
                continue;
            };
            let answer = Answer {
                request: stored.request,
                status,
                headers: parse_header_lines(&stored.headers),
                body: Bytes::from(stored.body),
            };
            answers.keep(&stored.key, answer);
        }
        answers.db = Some(db);
        Ok(answers)
    }

    /// What a request with `key` does; a new key is marked running.
    pub(crate) fn begin(&mut self, key: &str) -> Begin {
        match self.slots.entry(key.to_owned()) {
            Entry::Occupied(slot) => match slot.get() {
                Slot::Done(answer) => Begin::Replay(answer.clone()),
                Slot::Running(done) => Begin::Wait(done.clone()),
            },
            Entry::Vacant(slot) => {
                let (done, running) = watch::channel(());
                slot.insert(Slot::Running(running));
                Begin::Run(done)
            }
        }
    }

    /// Forgets a running slot whose request ended without an answer to keep.
    pub(crate) fn abandon(&mut self, key: &str) {
        if let Some(Slot::Running(_)) = self.slots.get(key) {
            self.slots.remove(key);
        }
    }

    /// Remembers the answer of a running slot, forgetting the oldest answers
    /// until both caps hold.
    pub(crate) fn finish(&mut self, key: &str, answer: Answer) {
        if answer.cost(key) > MAX_ANSWER_BYTES {
            self.abandon(key);
            return;
        }
        if let Some(db) = &self.db {
            db.put_answer(&StoredAnswer {
                key: key.to_owned(),
                request: answer.request,
                status: answer.status.as_u16(),
                headers: header_lines(&answer.headers),
                body: answer.body.to_vec(),
            });
        }
        self.keep(key, answer);
    }

    /// Keeps an answer in memory, forgetting the oldest (in the database
    /// too) until both caps hold.
    fn keep(&mut self, key: &str, answer: Answer) {
        let cost = answer.cost(key);
        while self.order.len() >= MAX_ANSWERS || self.bytes + cost > MAX_TOTAL_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(Slot::Done(answer)) = self.slots.remove(&old) {
                self.bytes -= answer.cost(&old);
            }
            if let Some(db) = &self.db {
                db.delete_answer(&old);
            }
        }
        self.bytes += cost;
        self.order.push_back(key.to_owned());
        self.slots
            .insert(key.to_owned(), Slot::Done(Arc::new(answer)));
    }

    /// How many answers are remembered, and their bytes.
    pub(crate) fn usage(&self) -> (usize, usize) {
        (self.order.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests;
