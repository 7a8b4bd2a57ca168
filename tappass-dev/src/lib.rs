#![doc = include_str!("../README.md")]
//!
//! ## A first look
//!
//! Start one in-process, send it the calls a hosted TapPass would get, and
//! look at what it decided and recorded:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tappass_dev::DevServer;
//!
//! let server = DevServer::start().await?; // the default policy, 127.0.0.1, a free port
//! let health = reqwest::get(format!("{}/health", server.url())).await?.text().await?;
//! let health: serde_json::Value = serde_json::from_str(&health)?;
//! assert_eq!(health["status"], "ok");
//! assert_eq!(health["version"], "0.6.3");
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Where things are
//!
//! The crate is built in floors; each file imports only from the floors
//! below it:
//!
//! - `server.rs`: [`DevServer`] and its builder, and the router that puts
//!   the routes and the console together;
//! - `routes/`: the HTTP routes of the protocol, one file per route or family
//!   (`chat`, `govern`, `approvals`, `events`, `mandates`, `capability`,
//!   `health`), and the
//!   middleware they run behind (`auth`, `idempotency`);
//! - `console/`: the pages for people, mounted beside the routes (the audit
//!   route hands a browser the console's page of the session);
//! - `decide/`: the governing logic, what the [`Policy`] decides of a prompt
//!   or a tool call, and the decision bodies the server writes (why it
//!   writes them itself rather than with the client's types is said there);
//! - `state.rs`: what every route and page shares; `stores/`: what the
//!   server remembers (approvals, the event log, idempotent answers,
//!   mandates and their keys, capability tokens and their key, the agents
//!   seen), each bounded;
//! - at the bottom, `policy/` (the policy file: its model, reader and
//!   matching), `reply.rs` (plain JSON answers and body reading), `ids.rs`
//!   and `error.rs`.
#![deny(missing_docs)]

mod console;
mod decide;
mod error;
mod ids;
mod origin;
mod policy;
mod reply;
mod routes;
mod server;
mod state;
mod stores;
#[cfg(test)]
mod testing;

pub use error::Error;
pub use policy::{Policy, PolicyError, DEFAULT_POLICY};
pub use server::{DevServer, DevServerBuilder};
pub use state::Availability;
pub use stores::approvals::ApprovalRecord;
pub use stores::capability_tokens::IssuedCapabilityToken;
pub use stores::mandates::IssuedMandate;

/// The workspace README's examples, compiled as doctests here: they run
/// against the dev server, which the toolkit's own crate cannot depend on.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
