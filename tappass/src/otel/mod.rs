#![doc = include_str!("../docs/otel.md")]

pub(crate) mod context;
mod export;
pub(crate) mod metrics;

pub use export::span_exporter;
