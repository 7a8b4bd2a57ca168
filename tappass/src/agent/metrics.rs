//! The agent's metrics: the GenAI client metrics
//! (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`) and the
//! governance decisions by kind and route (`tappass.governance.decisions`).
//!
//! The instruments are made once, when the agent is built, from the meter
//! provider given to
//! [`AgentBuilder::meter_provider`](crate::agent::AgentBuilder::meter_provider),
//! else from the global one: install the application's provider before
//! building the agent (instruments made from the default global provider
//! record nothing, now or later).

use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider};
use opentelemetry::{InstrumentationScope, KeyValue};

use super::telemetry::{Kind, PROVIDER};
use super::Usage;

/// `gen_ai.client.operation.duration`'s buckets, in seconds (the conventions').
const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// `gen_ai.client.token.usage`'s buckets (the conventions').
const TOKEN_BUCKETS: [f64; 14] = [
    1.0,
    4.0,
    16.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// The instruments of one agent.
#[derive(Clone)]
pub(crate) struct Metrics {
    duration: Histogram<f64>,
    tokens: Histogram<u64>,
    decisions: Counter<u64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The instrumentation scope the toolkit's meters are made with.
fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("tappass")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

impl Metrics {
    /// The instruments, from `provider`'s meter.
    pub(crate) fn new<P: MeterProvider + ?Sized>(provider: &P) -> Metrics {
        Metrics::from_meter(&provider.meter_with_scope(scope()))
    }

    /// The instruments, from the global meter provider.
    pub(crate) fn global() -> Metrics {
        Metrics::from_meter(&opentelemetry::global::meter_with_scope(scope()))
    }

    fn from_meter(meter: &Meter) -> Metrics {
        Metrics {
            duration: meter
                .f64_histogram("gen_ai.client.operation.duration")
                .with_description("GenAI operation duration: the agent's calls to TapPass")
                .with_unit("s")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            tokens: meter
                .u64_histogram("gen_ai.client.token.usage")
                .with_description("Number of input and output tokens used")
                .with_unit("{token}")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            decisions: meter
                .u64_counter("tappass.governance.decisions")
                .with_description(
                    "Governance decisions TapPass made on the agent's calls, by kind and route",
                )
                .with_unit("{decision}")
                .build(),
        }
    }

    /// Records a call's duration and, when it reached a decision, the decision.
    pub(crate) fn operation(
        &self,
        kind: Kind,
        subject: &str,
        elapsed: Duration,
        error: Option<&str>,
        decision: Option<&str>,
    ) {
        let mut attributes = Vec::with_capacity(5);
        attributes.push(KeyValue::new("gen_ai.operation.name", kind.name()));
        attributes.push(KeyValue::new("gen_ai.provider.name", PROVIDER));
        match kind {
            Kind::Chat => {
                attributes.push(KeyValue::new("gen_ai.request.model", subject.to_owned()))
            }
            Kind::ExecuteTool => {
                attributes.push(KeyValue::new("gen_ai.tool.name", subject.to_owned()))
            }
        }
        if let Some(error) = error {
            attributes.push(KeyValue::new("error.type", error.to_owned()));
        }
        self.duration.record(elapsed.as_secs_f64(), &attributes);
        if let Some(decision) = decision {
            let mut attributes = vec![
                KeyValue::new("tappass.decision", decision.to_owned()),
                KeyValue::new("gen_ai.operation.name", kind.name()),
            ];
            if let Some(route) = crate::session::scope::route() {
                attributes.push(KeyValue::new("http.route", route.as_str().to_owned()));
            }
            self.decisions.add(1, &attributes);
        }
    }

    /// Records a chat's token usage.
    pub(crate) fn tokens(&self, model: &str, usage: &Usage) {
        for (kind, count) in [
            ("input", usage.prompt_tokens),
            ("output", usage.completion_tokens),
        ] {
            self.tokens.record(
                count,
                &[
                    KeyValue::new("gen_ai.operation.name", "chat"),
                    KeyValue::new("gen_ai.provider.name", PROVIDER),
                    KeyValue::new("gen_ai.request.model", model.to_owned()),
                    KeyValue::new("gen_ai.token.type", kind),
                ],
            );
        }
    }
}
