//! Errors and their HTTP answers: the mapping of every decision and failure
//! (one test per row, in a router and end to end), the one error shape of
//! decisions, rejections and bodies that fail to parse, problem+json,
//! `#[derive(GovernanceError)]` at run time, the OpenAPI schemas (feature
//! `utoipa`), and time: `Retry-After` and RFC 3339 timestamps over their
//! whole range.
//!
//! Which server each test meets: most build the error in the handler, behind
//! a layer whose control plane is a port that refuses connections
//! (`support::sockets::refused_url`), or with no layer at all. `served.rs`
//! asks the dev server for each decision through the sample service
//! (`support::services`), as `shape.rs` does for bodies that fail to parse;
//! the scripted stand-in serves only what the dev server never sends: a
//! decision kind the toolkit does not know (`served.rs`) and decisions whose
//! timestamps sit at the ends of RFC 3339 (`time.rs`).

#[path = "../support/mod.rs"]
mod support;

mod derive;
mod mapping;
#[cfg(feature = "utoipa")]
mod openapi;
mod problem_json;
mod served;
mod shape;
mod time;
