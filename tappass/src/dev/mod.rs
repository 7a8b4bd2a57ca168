//! A TapPass-compatible server for local development and tests.
//!
//! Start one in-process, send it the calls a hosted TapPass would get, and
//! look at what it decided and recorded:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tappass::dev::DevServer;
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
//! The files of this module follow the concepts of the guide below:
//! [`DevServer`] (`server.rs`), the [`Policy`] file (`policy/`), governed
//! chat (`chat.rs`), tool governance (`govern.rs`), [`ApprovalRecord`]s
//! (`approvals.rs`), audit events (`events.rs`) and mandates
//! (`mandates.rs`).
//!
#![doc = include_str!("../docs/dev-server.md")]

mod approvals;
mod chat;
mod console;
mod correlation;
mod decision;
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
pub use mandates::IssuedMandate;
pub use policy::{Policy, PolicyError, DEFAULT_POLICY};
pub use server::{DevServer, DevServerBuilder};
