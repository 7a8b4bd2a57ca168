#![doc = include_str!("../docs/mandates.md")]

mod claims;
pub(crate) mod extract;
mod fetch;
mod keys;
mod layer;
mod rejection;
mod revocation;
mod verifier;

pub use claims::{Capability, Mandate};
pub use layer::{RequireMandate, RequireMandateService};
pub use rejection::MandateRejection;
pub use revocation::{BoxFuture, RevocationSource};
pub use verifier::{MandateVerifier, MandateVerifierBuilder, MANDATE_HEADER, MAX_TOKEN_BYTES};
