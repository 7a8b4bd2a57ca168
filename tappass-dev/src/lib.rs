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
//! The files of this crate follow the concepts of the guide above:
//! [`DevServer`] (`server.rs`), the [`Policy`] file (`policy/`), governed
//! chat (`chat.rs`), tool governance (`govern.rs`), [`ApprovalRecord`]s
//! (`approvals.rs`), audit events (`events.rs`) and mandates
//! (`mandates.rs`).
#![deny(missing_docs)]

mod approvals;
mod chat;
mod console;
mod correlation;
mod decision;
mod error;
mod events;
mod govern;
mod idempotency;
mod ids;
mod mandates;
mod policy;
mod server;
#[cfg(test)]
mod testing;

pub use approvals::{ApprovalRecord, ApprovalRecordState};
pub use error::Error;
pub use mandates::IssuedMandate;
pub use policy::{Policy, PolicyError, DEFAULT_POLICY};
pub use server::{DevServer, DevServerBuilder};

/// The workspace README's examples, compiled as doctests here: they run
/// against the dev server, which the toolkit's own crate cannot depend on.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
