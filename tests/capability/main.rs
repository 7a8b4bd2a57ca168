//! Capability tokens (`tappass::capability`, feature `capability`) against
//! the real Python SDK (tappass 0.12.62, installed by `support/python.rs`
//! from `tests/requirements.txt`).
//!
//! - `wire.rs`: the encoding, byte for byte, both ways (canonical signing
//!   bytes, floats, non-ASCII, the header form).
//! - `constraints.rs`: every constraint type, Rust's verdict beside Python's
//!   on generated values, and the attack tables.
//! - `authorize.rs`: whole decisions on generated tokens and calls, minted
//!   in Python and decided by both, minted in Rust and checked by Python's
//!   `Authorizer.check`; each named strictness difference.
//! - `attacks.rs`: forged, tampered, replayed and widened tokens.
//! - `routes.rs`: the axum side in-process: `#[governed(tool = …)]`,
//!   `RequireCapability`, the extractors, each refusal's status and body.
//! - `guard.rs`: `#[tappass::guard]` at run time.
//! - `end_to_end.rs`: the dev server mints a token in a chat answer; a Rust
//!   agent presents it to a Rust tool service and to a Python one (the SDK's
//!   `TapPassGuard` under uvicorn); the console lists it.
//!
//! Each Python batch is one process (`sdk.py`), not one per case.

#[path = "../support/python.rs"]
mod python;

mod attacks;
mod authorize;
mod constraints;
mod end_to_end;
mod gen;
mod guard;
mod routes;
mod sdk;
mod wire;
