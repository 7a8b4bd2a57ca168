//! The agent's metrics: the GenAI client metrics and the decisions by kind
//! and route, read from the SDK's in-memory metric exporter.

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use serde_json::json;
use tappass::Agent;
use tappass_dev::DevServer;

use crate::capture::attr;
use crate::spans::served;
use crate::support::{bounded, KEY};

/// Each data point of `name`, as its attributes and its value (a counter's
/// sum, a histogram's count).
fn points(metrics: &[ResourceMetrics], name: &str) -> Vec<(Vec<KeyValue>, f64)> {
    let mut out = Vec::new();
    for resource in metrics {
        for scope in resource.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                match metric.data() {
                    AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                        for p in sum.data_points() {
                            out.push((p.attributes().cloned().collect(), p.value() as f64));
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            out.push((p.attributes().cloned().collect(), p.count() as f64));
                        }
                    }
                    AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            out.push((p.attributes().cloned().collect(), p.sum() as f64));
                        }
                    }
                    other => panic!("{name}: unexpected data {other:?}"),
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn decisions_durations_and_tokens_are_counted_by_kind_route_and_model() {
    bounded(async {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let dev = DevServer::start().await.unwrap();
        let agent = Agent::builder(dev.url())
            .api_key(KEY)
            .max_retries(0)
            .meter_provider(&provider)
            .build()
            .unwrap();
        let app = served(agent).await;
        for prompt in ["hello", "hello again", "my ssn is 123-45-6789"] {
            app.post("/chat", json!({"prompt": prompt}), None).await;
        }
        app.post(
            "/tool",
            json!({"tool": "delete_database", "args": {}}),
            None,
        )
        .await;
        provider.force_flush().unwrap();
        let metrics = exporter.get_finished_metrics().unwrap();

        let decisions = points(&metrics, "tappass.governance.decisions");
        let count = |decision: &str, operation: &str, route: &str| -> f64 {
            decisions
                .iter()
                .filter(|(a, _)| {
                    attr(a, "tappass.decision").as_deref() == Some(decision)
                        && attr(a, "gen_ai.operation.name").as_deref() == Some(operation)
                        && attr(a, "http.route").as_deref() == Some(route)
                })
                .map(|(_, v)| v)
                .sum()
        };
        assert_eq!(count("allow", "chat", "/chat"), 2.0, "{decisions:?}");
        assert_eq!(count("policy_block", "chat", "/chat"), 1.0, "{decisions:?}");
        assert_eq!(
            count("policy_block", "execute_tool", "/tool"),
            1.0,
            "{decisions:?}"
        );

        let durations = points(&metrics, "gen_ai.client.operation.duration");
        let calls: f64 = durations
            .iter()
            .filter(|(a, _)| attr(a, "gen_ai.request.model").as_deref() == Some("gpt-4o-mini"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(calls, 3.0, "{durations:?}");
        assert!(durations.iter().any(|(a, _)| {
            attr(a, "error.type").as_deref() == Some("policy_block")
                && attr(a, "gen_ai.tool.name").as_deref() == Some("delete_database")
        }));

        let tokens = points(&metrics, "gen_ai.client.token.usage");
        for kind in ["input", "output"] {
            let sum: f64 = tokens
                .iter()
                .filter(|(a, _)| attr(a, "gen_ai.token.type").as_deref() == Some(kind))
                .map(|(_, v)| v)
                .sum();
            assert!(sum > 0.0, "{kind} tokens: {tokens:?}");
        }
    })
    .await
}
