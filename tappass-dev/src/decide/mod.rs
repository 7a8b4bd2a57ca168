//! The governing logic: what the policy decides of a chat prompt
//! ([`prompt`]) or a tool call ([`tool_call`]), the correlation of the call
//! ([`correlate`]) and the non-2xx decisions ([`stop`]).
//!
//! # Why the dev server writes its own decisions
//!
//! The dev server writes every decision body, envelope and correlation field
//! with `serde_json` from its own vocabulary ([`stop::Stop`]), independently
//! of the client's types in `tappass::decision` and `tappass::agent`, on
//! purpose: it is the server the toolkit's tests hold the client against
//! (`GovernanceDecision::from_json` must read what this writes). Were both
//! written from one type, a field misnamed in it would pass every test. The
//! client's types are used where nothing of that is at stake: the
//! `WWW-Authenticate` challenge (whose quoting is the toolkit's), the
//! redactions of an envelope (`tappass::decision::Redaction`), and the
//! header names and id checks of `tappass::session`.
//!
//! The third vocabulary, the policy file's `decision = "…"`
//! ([`policy::Action`](crate::policy::Action)), is what a rule says, not what
//! the wire carries: it holds outcomes that are no governance decision
//! (`allow`, a redaction that lets evaluation go on, `/v1/govern`'s 200
//! outcomes `block`, `needs_approval` and `escalate`) and settings (durations
//! rather than instants), and [`Stop::from_action`](stop::Stop::from_action)
//! turns it into a decision when a rule stops a call.

pub(crate) mod correlate;
pub(crate) mod prompt;
pub(crate) mod stop;
pub(crate) mod tool_call;
