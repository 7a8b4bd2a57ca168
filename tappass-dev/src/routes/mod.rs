//! The HTTP routes of the TapPass protocol (and the dev server's extensions):
//! each file is one route or a family of them, plus the middleware they run
//! behind, [`auth`], [`idempotency`] and [`outage`]. They read requests, ask the
//! governing logic ([`decide`](crate::decide)) or the stores, and answer;
//! [`router`](crate::server::router) puts them together.

pub(crate) mod approvals;
pub(crate) mod auth;
pub(crate) mod capability;
pub(crate) mod chat;
pub(crate) mod events;
pub(crate) mod govern;
pub(crate) mod health;
pub(crate) mod idempotency;
pub(crate) mod mandates;
pub(crate) mod outage;
pub(crate) mod signature;
pub(crate) mod traces;
