//! The stores: what the server remembers, each bounded, each behind its own
//! lock in [`Shared`](crate::state::Shared). They know nothing of HTTP routes
//! or of the policy: the governing logic and the routes write to them, the
//! console reads them.

pub(crate) mod agents;
pub(crate) mod answers;
pub(crate) mod approvals;
pub(crate) mod capability_tokens;
pub(crate) mod db;
pub(crate) mod event_log;
pub(crate) mod mandates;
pub(crate) mod signing_keys;
pub(crate) mod traces;
