//! The approval store: the rows that `approval_required`, `needs_approval`
//! and `escalate` decisions open, found again by id, by the request they
//! approve (its fingerprint, in its session) and by resume token, bounded in
//! number.
//!
//! An approval is granted for the request it was asked for, once: bound to
//! the request's fingerprint (tool and arguments, or rule and prompt, and
//! the agent), to the API key that asked and to the session; valid until the
//! `expires_at` its `428` announced; used up by the first call it lets
//! through (the call carrying its resume token, or the identical
//! re-submission from the same agent and session, which is how the Python
//! SDK's `govern()` resumes). After that, or from another session or API
//! key, an identical request asks again.
//!
//! Where a row stands is the agent's own type, `tappass::agent::ApprovalState`:
//! one type for one thing, whichever side of the wire holds it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, Serializer};
use tokio::sync::watch;

use super::db::Db;
use crate::error::Error;
use crate::ids;
use tappass::agent::ApprovalState;
use tappass::Timestamp;

/// How many approval rows the server keeps. When a new one needs room, the
/// oldest row nobody waits on goes first (timed out, decided or cancelled); a
/// pending row goes only when every row is pending.
pub(crate) const MAX_APPROVALS: usize = 10_000;

/// The wire name of a state, e.g. `timed_out`, as rows and events carry it.
///
/// The server writes these names itself rather than asking the client's
/// type for them: the client's parser is what the toolkit's tests hold
/// against them (see [`decide`](crate::decide)). It stores only the five
/// states named here, never [`ApprovalState::Other`].
pub(crate) fn wire_name(state: &ApprovalState) -> &str {
    match state {
        ApprovalState::Pending => "pending",
        ApprovalState::Approved => "approved",
        ApprovalState::Denied => "denied",
        ApprovalState::TimedOut => "timed_out",
        ApprovalState::Cancelled => "cancelled",
        ApprovalState::Other(name) => name,
        // A state the client learns after this server was written; the
        // server never stores one.
        _ => "unknown",
    }
}

/// Serializes a row's state as its [`wire_name`].
fn serialize_state<S: Serializer>(state: &ApprovalState, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(wire_name(state))
}

/// One approval request as the development server stores it, and as
/// `GET /v1/me/approvals/{request_id}` answers it (the agent's view of it is
/// [`tappass::agent::ApprovalStatus`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ApprovalRecord {
    /// The approval's id, `apr_…`.
    pub request_id: String,
    /// Where it stands: pending, approved, denied, timed out (nobody decided
    /// before `expires_at`) or cancelled (the server shut down while it was
    /// pending). The agent's type, [`ApprovalState`], whose reading of the
    /// wire this row's JSON is.
    #[serde(serialize_with = "serialize_state")]
    pub state: ApprovalState,
    /// The stable hash of what is being approved (tool, arguments and agent;
    /// or rule, prompt and agent for a chat).
    pub fingerprint: String,
    /// The tool being approved; `None` for a chat prompt.
    pub tool: Option<String>,
    /// When the approval was requested.
    pub created_at: Timestamp,
    /// When a pending approval times out.
    pub expires_at: Timestamp,
    /// When a human decided (or it timed out, or was cancelled).
    pub decided_at: Option<Timestamp>,
    /// Why an approval is needed: the reason of the rule that asked for it.
    pub reason: String,
    /// The session the request belongs to.
    pub session_id: String,
    /// When an approved request was let through, using the approval up;
    /// `None` while it has not been.
    pub used_at: Option<Timestamp>,
}

struct Entry {
    row: ApprovalRecord,
    asked: Asked,
    agent: String,
    /// The agent derived from the API key that asked: only that key's calls
    /// resume it, whatever agent id they claim.
    caller: String,
    /// The session the asking call named (`""`: none): only calls that name
    /// the same one resume it.
    bound_session: String,
    resume_token: String,
    changes: watch::Sender<ApprovalState>,
}

impl Entry {
    /// Times the row out when its deadline has passed; `true` when it did.
    fn refresh(&mut self, now: Timestamp) -> bool {
        if self.row.state == ApprovalState::Pending && now >= self.row.expires_at {
            self.settle(ApprovalState::TimedOut, self.row.expires_at);
            return true;
        }
        false
    }

    /// The entry as the database keeps it.
    fn to_json(&self) -> String {
        let (kind, first, second) = match &self.asked {
            Asked::Prompt(text) => ("prompt", text.as_str(), ""),
            Asked::Tool { name, args } => ("tool", name.as_str(), args.as_str()),
        };
        serde_json::json!({
            "row": self.row,
            "asked": [kind, first, second],
            "agent": self.agent,
            "caller": self.caller,
            "bound_session": self.bound_session,
            "resume_token": self.resume_token,
        })
        .to_string()
    }

    /// An entry the database kept; `None` when it does not read.
    fn from_json(text: &str) -> Option<Entry> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let str_of = |v: &serde_json::Value, key: &str| v.get(key)?.as_str().map(str::to_owned);
        let time_of = |v: &serde_json::Value, key: &str| -> Option<Option<Timestamp>> {
            match v.get(key) {
                None | Some(serde_json::Value::Null) => Some(None),
                Some(t) => t.as_str()?.parse().ok().map(Some),
            }
        };
        let row = value.get("row")?;
        let state = match row.get("state")?.as_str()? {
            "pending" => ApprovalState::Pending,
            "approved" => ApprovalState::Approved,
            "denied" => ApprovalState::Denied,
            "timed_out" => ApprovalState::TimedOut,
            "cancelled" => ApprovalState::Cancelled,
            _ => return None,
        };
        let asked = value.get("asked")?.as_array()?;
        let part = |i: usize| asked.get(i).and_then(|v| v.as_str()).map(str::to_owned);
        let asked = match part(0)?.as_str() {
            "prompt" => Asked::Prompt(part(1)?),
            _ => Asked::Tool {
                name: part(1)?,
                args: part(2)?,
            },
        };
        let record = ApprovalRecord {
            request_id: str_of(row, "request_id")?,
            state: state.clone(),
            fingerprint: str_of(row, "fingerprint")?,
            tool: str_of(row, "tool"),
            created_at: time_of(row, "created_at")??,
            expires_at: time_of(row, "expires_at")??,
            decided_at: time_of(row, "decided_at")?,
            reason: str_of(row, "reason")?,
            session_id: str_of(row, "session_id")?,
            used_at: time_of(row, "used_at")?,
        };
        let (changes, _) = watch::channel(state);
        Some(Entry {
            row: record,
            asked,
            agent: str_of(&value, "agent")?,
            caller: str_of(&value, "caller")?,
            bound_session: str_of(&value, "bound_session")?,
            resume_token: str_of(&value, "resume_token")?,
            changes,
        })
    }

    /// Whether a request may still resume it: not timed out, cancelled,
    /// used up or past its `expires_at`.
    fn stands(&self, now: Timestamp) -> bool {
        !matches!(
            self.row.state,
            ApprovalState::TimedOut | ApprovalState::Cancelled
        ) && self.row.used_at.is_none()
            && now < self.row.expires_at
    }

    /// The answer for a request this approval is for: an approved one is
    /// used up by it, here, under the store's lock, so that of two identical
    /// calls at once only one goes through.
    fn resume(&mut self, now: Timestamp, by_token: bool) -> Found {
        if self.row.state == ApprovalState::Approved {
            self.row.used_at = Some(now);
        }
        self.found(by_token)
    }

    fn found(&self, by_token: bool) -> Found {
        Found {
            row: self.row.clone(),
            resume_token: self.resume_token.clone(),
            by_token,
        }
    }

    fn settle(&mut self, state: ApprovalState, at: Timestamp) {
        self.row.state = state.clone();
        self.row.decided_at = Some(at);
        self.changes.send_replace(state);
    }
}

/// What the server knows of an approval when a request hits its rule again.
pub(crate) struct Found {
    pub(crate) row: ApprovalRecord,
    pub(crate) resume_token: String,
    /// Whether the request's resume token named it (rather than its
    /// fingerprint alone).
    pub(crate) by_token: bool,
}

/// What a request that hits an approval rule finds in the store.
pub(crate) enum Resume {
    /// The approval to answer by: pending (ask the same again), approved
    /// (used up by this request, which goes ahead) or denied.
    Found(Box<Found>),
    /// The resume token's approval already let a request through: a token
    /// resumes once.
    Used { request_id: String },
    /// The resume token's approval was asked in another session, or by
    /// another API key: it resumes nothing here.
    Elsewhere { request_id: String },
    /// Nothing stands for this request: ask anew.
    Ask,
}

/// The approval rows, by id, by request and by resume token.
#[derive(Default)]
pub(crate) struct Approvals {
    rows: HashMap<String, Entry>,
    /// The latest approval of each request: its fingerprint in its session.
    by_request: HashMap<String, String>,
    /// The approval each resume token resumes.
    by_token: HashMap<String, String>,
    order: VecDeque<String>,
    /// The database the rows are written to (`--db`).
    db: Option<Arc<Db>>,
}

/// The most of a prompt or of tool arguments an approval keeps to show, in bytes.
const MAX_ASKED_BYTES: usize = 4096;

/// What an approval asks a human to let through, kept to show in the console
/// (cut at [`MAX_ASKED_BYTES`]); not part of the wire row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Asked {
    /// A chat prompt (after any redaction), for `approval_required`.
    Prompt(String),
    /// A tool call, for `needs_approval` and `escalate`.
    Tool {
        /// The tool called.
        name: String,
        /// Its arguments as JSON text.
        args: String,
    },
}

impl Asked {
    /// A prompt, cut to [`MAX_ASKED_BYTES`].
    pub(crate) fn prompt(text: &str) -> Asked {
        Asked::Prompt(cut(text))
    }

    /// A tool call, its arguments cut to [`MAX_ASKED_BYTES`] of JSON text.
    pub(crate) fn tool(name: &str, args: &serde_json::Value) -> Asked {
        Asked::Tool {
            name: cut(name),
            args: cut(&args.to_string()),
        }
    }
}

/// `text`, or its first [`MAX_ASKED_BYTES`] (on a character boundary) and `…`.
fn cut(text: &str) -> String {
    if text.len() <= MAX_ASKED_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_ASKED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// An approval row with what it asks and who asks, for the console.
#[derive(Debug, Clone)]
pub(crate) struct Asking {
    pub(crate) row: ApprovalRecord,
    pub(crate) asked: Asked,
    /// The asking agent's UUID.
    pub(crate) agent: String,
}

/// Where an approval is found by its request: the fingerprint in the session.
fn request_key(fingerprint: &str, session_id: &str) -> String {
    format!("{fingerprint}\n{session_id}")
}

/// What a new approval is for.
pub(crate) struct NewApproval<'a> {
    pub(crate) fingerprint: String,
    pub(crate) asked: Asked,
    pub(crate) agent: &'a str,
    /// The agent derived from the asking API key.
    pub(crate) caller: &'a str,
    /// The session the asking call named, `""` for none.
    pub(crate) bound_session: &'a str,
    pub(crate) tool: Option<&'a str>,
    pub(crate) reason: &'a str,
    pub(crate) session_id: &'a str,
    pub(crate) expires_in: Duration,
}

impl Approvals {
    /// The store kept in `db` (`--db`): its rows are read back, pending ones
    /// still pending, and every change is written to it.
    pub(crate) fn with_db(db: Arc<Db>) -> Result<Approvals, Error> {
        let mut approvals = Approvals::default();
        for text in db.load_approvals()? {
            let Some(entry) = Entry::from_json(&text) else {
                tracing::warn!(
                    "tappass-dev skipped an approval of its database that does not read"
                );
                continue;
            };
            let id = entry.row.request_id.clone();
            approvals.by_request.insert(
                request_key(&entry.row.fingerprint, &entry.bound_session),
                id.clone(),
            );
            approvals
                .by_token
                .insert(entry.resume_token.clone(), id.clone());
            approvals.order.push_back(id.clone());
            approvals.rows.insert(id, entry);
        }
        approvals.db = Some(db);
        Ok(approvals)
    }

    /// Writes the row of `request_id` to the database, if any.
    fn persist(&self, request_id: &str) {
        if let (Some(db), Some(entry)) = (&self.db, self.rows.get(request_id)) {
            db.put_approval(request_id, &entry.to_json());
        }
    }

    /// Refreshes the row of `request_id` (see [`Entry::refresh`]), writing
    /// it when it timed out.
    fn refresh(&mut self, request_id: &str, now: Timestamp) {
        let changed = self
            .rows
            .get_mut(request_id)
            .is_some_and(|entry| entry.refresh(now));
        if changed {
            self.persist(request_id);
        }
    }

    /// What a request that hits an approval rule resumes: its
    /// `X-TapPass-Resume-Token`'s approval when that is for the same request
    /// (`fingerprint`), else the latest approval of this request in this
    /// session (`session_id`), asked by this API key (`caller`). A token for
    /// another request is ignored (it approves nothing but its own request);
    /// `session_id` is the session the call named, `""` when it named none;
    /// a token for this request that was used already, or that belongs to
    /// another session or API key, is named as such. An approval that
    /// lapsed, timed out, was cancelled or used up resumes nothing.
    pub(crate) fn resume(
        &mut self,
        fingerprint: &str,
        session_id: &str,
        caller: &str,
        token: Option<&str>,
    ) -> Resume {
        let now = Timestamp::now();
        if let Some(id) = token.and_then(|t| self.by_token.get(t)).cloned() {
            self.refresh(&id, now);
            if let Some(entry) = self.rows.get_mut(&id) {
                if entry.row.fingerprint == fingerprint {
                    let request_id = entry.row.request_id.clone();
                    if entry.bound_session != session_id || entry.caller != caller {
                        return Resume::Elsewhere { request_id };
                    }
                    if entry.row.used_at.is_some() {
                        return Resume::Used { request_id };
                    }
                    if entry.stands(now) {
                        let found = entry.resume(now, true);
                        self.persist(&id);
                        return Resume::Found(Box::new(found));
                    }
                }
            }
        }
        let Some(id) = self
            .by_request
            .get(&request_key(fingerprint, session_id))
            .cloned()
        else {
            return Resume::Ask;
        };
        self.refresh(&id, now);
        let Some(entry) = self.rows.get_mut(&id) else {
            return Resume::Ask;
        };
        if entry.caller == caller && entry.stands(now) {
            let found = entry.resume(now, false);
            self.persist(&id);
            Resume::Found(Box::new(found))
        } else {
            Resume::Ask
        }
    }

    /// Opens a pending approval, making room first (see [`MAX_APPROVALS`]).
    pub(crate) fn open(&mut self, new: NewApproval<'_>) -> Found {
        let now = Timestamp::now();
        while self.order.len() >= MAX_APPROVALS {
            self.evict_one(now);
        }
        let row = ApprovalRecord {
            request_id: ids::random_id("apr_", 24),
            state: ApprovalState::Pending,
            fingerprint: new.fingerprint,
            tool: new.tool.map(str::to_owned),
            created_at: now,
            expires_at: now.after(new.expires_in),
            decided_at: None,
            reason: new.reason.to_owned(),
            session_id: new.session_id.to_owned(),
            used_at: None,
        };
        let resume_token = ids::random_id("rt_", 32);
        let (changes, _) = watch::channel(ApprovalState::Pending);
        self.by_request.insert(
            request_key(&row.fingerprint, new.bound_session),
            row.request_id.clone(),
        );
        self.by_token
            .insert(resume_token.clone(), row.request_id.clone());
        self.order.push_back(row.request_id.clone());
        self.rows.insert(
            row.request_id.clone(),
            Entry {
                row: row.clone(),
                asked: new.asked,
                agent: new.agent.to_owned(),
                caller: new.caller.to_owned(),
                bound_session: new.bound_session.to_owned(),
                resume_token: resume_token.clone(),
                changes,
            },
        );
        self.persist(&row.request_id);
        Found {
            row,
            resume_token,
            by_token: false,
        }
    }

    /// Removes the oldest settled row (timed out by `now`, decided or
    /// cancelled), else the oldest pending one.
    fn evict_one(&mut self, now: Timestamp) {
        let rows = &mut self.rows;
        let settled = self.order.iter().position(|id| {
            rows.get_mut(id).is_none_or(|entry| {
                entry.refresh(now);
                entry.row.state != ApprovalState::Pending
            })
        });
        let Some(old) = self.order.remove(settled.unwrap_or(0)) else {
            return;
        };
        if let Some(db) = &self.db {
            db.delete_approval(&old);
        }
        if let Some(entry) = self.rows.remove(&old) {
            let key = request_key(&entry.row.fingerprint, &entry.bound_session);
            if self.by_request.get(&key) == Some(&old) {
                self.by_request.remove(&key);
            }
            self.by_token.remove(&entry.resume_token);
        }
    }

    /// How many rows the store holds, in every state.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// The row of `request_id`.
    pub(crate) fn get(&mut self, request_id: &str) -> Option<ApprovalRecord> {
        let entry = self.rows.get_mut(request_id)?;
        entry.refresh(Timestamp::now());
        Some(entry.row.clone())
    }

    /// How many `…/wait` requests are waiting on `request_id` right now.
    pub(crate) fn waiters(&self, request_id: &str) -> usize {
        self.rows
            .get(request_id)
            .map_or(0, |entry| entry.changes.receiver_count())
    }

    /// Every pending row, oldest first.
    pub(crate) fn pending(&mut self) -> Vec<ApprovalRecord> {
        let now = Timestamp::now();
        let mut out = Vec::new();
        for id in &self.order {
            if let Some(entry) = self.rows.get_mut(id) {
                entry.refresh(now);
                if entry.row.state == ApprovalState::Pending {
                    out.push(entry.row.clone());
                }
            }
        }
        out
    }

    /// The row of `request_id`, with what it asks and who asks.
    pub(crate) fn asking_one(&mut self, request_id: &str) -> Option<Asking> {
        let entry = self.rows.get_mut(request_id)?;
        entry.refresh(Timestamp::now());
        Some(Asking {
            row: entry.row.clone(),
            asked: entry.asked.clone(),
            agent: entry.agent.clone(),
        })
    }

    /// Every row, newest first, with what it asks and who asks.
    pub(crate) fn asking(&mut self) -> Vec<Asking> {
        let now = Timestamp::now();
        let mut out = Vec::with_capacity(self.order.len());
        for id in self.order.iter().rev() {
            if let Some(entry) = self.rows.get_mut(id) {
                entry.refresh(now);
                out.push(Asking {
                    row: entry.row.clone(),
                    asked: entry.asked.clone(),
                    agent: entry.agent.clone(),
                });
            }
        }
        out
    }

    /// Settles a pending approval; `false` when it is unknown or not pending.
    pub(crate) fn decide(&mut self, request_id: &str, state: ApprovalState) -> bool {
        let Some(entry) = self.rows.get_mut(request_id) else {
            return false;
        };
        let now = Timestamp::now();
        entry.refresh(now);
        if entry.row.state != ApprovalState::Pending {
            self.persist(request_id);
            return false;
        }
        entry.settle(state, now);
        self.persist(request_id);
        true
    }

    /// A receiver of the row's state changes, and the row's deadline.
    pub(crate) fn subscribe(
        &mut self,
        request_id: &str,
    ) -> Option<(watch::Receiver<ApprovalState>, Timestamp)> {
        let entry = self.rows.get_mut(request_id)?;
        entry.refresh(Timestamp::now());
        Some((entry.changes.subscribe(), entry.row.expires_at))
    }

    /// At shutdown: cancels every pending approval, waking whoever waits on
    /// them. With a database, the pending rows stay pending (in the file and
    /// here): their waiters are woken and answered "still pending", and the
    /// approvals can be decided after a restart.
    pub(crate) fn cancel_pending(&mut self) {
        let now = Timestamp::now();
        let keep = self.db.is_some();
        for entry in self.rows.values_mut() {
            entry.refresh(now);
            if entry.row.state == ApprovalState::Pending {
                if keep {
                    // Wakes the waiters; the row itself is unchanged.
                    entry.changes.send_replace(ApprovalState::Cancelled);
                } else {
                    entry.settle(ApprovalState::Cancelled, now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
