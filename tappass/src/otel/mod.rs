#![doc = include_str!("../docs/otel.md")]

mod export;

pub use export::span_exporter;
