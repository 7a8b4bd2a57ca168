//! OpenTelemetry (feature `otel`): the spans of the layer and the agent with
//! their GenAI attributes and the governance decision on them, read from the
//! SDK's in-memory exporter (`spans.rs`); what they never carry unless asked
//! (`content.rs`); the W3C trace context continued from a request and sent
//! with the agent's calls and `.propagate_session()` (`context.rs`); the
//! agent's metrics (`metrics.rs`); `Server-Timing` (`timing.rs`); and the
//! dev server's OTLP/HTTP receiver fed by exporters we did not write
//! (`receiver.rs`: the Python SDK's) and by the quick start, read in a
//! browser (`console.rs`).
//!
//! Every test runs on a current-thread runtime with its own subscriber set
//! as the thread's default: the service, the agent and the dev server run on
//! that thread, so each test sees its own spans and no other test's.

#[path = "../support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;

mod capture;
mod console;
mod content;
mod context;
mod metrics;
mod receiver;
mod spans;
mod timing;
