//! The dev server's OTLP/HTTP receiver against an exporter we did not write:
//! the OpenTelemetry Python SDK's (protobuf over HTTP, from the test
//! virtualenv of `tests/requirements.txt`).

use std::path::Path;
use std::process::Command;

use tappass_dev::DevServer;

use crate::support::python::python;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdks_otlp_exporter_lands_its_spans_in_the_session() {
    let dev = DevServer::start().await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/otlp_export.py");
    let url = dev.url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .arg(url)
            .arg("ses_python_trace")
            .output()
            .expect("the test virtualenv's python runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the Python exporter failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trace_id = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let traces = dev.traces_for_session("ses_python_trace");
    assert_eq!(traces.len(), 1, "the session's trace only: {traces:#?}");
    let trace = &traces[0];
    assert_eq!(trace["trace_id"], trace_id.as_str());
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(
        spans.len(),
        2,
        "the span without the id joins through its trace"
    );
    let parent = &spans[0];
    assert_eq!(parent["name"], "python handler");
    assert_eq!(parent["kind"], "server");
    assert_eq!(parent["service"], "python-estate");
    assert_eq!(parent["parent_span_id"], serde_json::Value::Null);
    assert_eq!(parent["attributes"]["http.route"], "/refund");
    let child = &spans[1];
    assert_eq!(child["name"], "execute_tool refund");
    assert_eq!(child["parent_span_id"], parent["span_id"]);
    assert_eq!(child["status"], "error");
    assert_eq!(child["status_message"], "policy_block");
    let event = &child["events"][0];
    assert_eq!(event["name"], "gen_ai.guardrail.result");
    let attributes = &event["attributes"];
    assert_eq!(attributes["gen_ai.guardrail.result.value"], "policy_block");
    assert_eq!(
        attributes["gen_ai.guardrail.policy.rule.id"],
        "refund_limit"
    );
    assert_eq!(attributes["retries"], "2");
    assert_eq!(attributes["ratio"], "0.5");
    assert_eq!(attributes["flags"], "[true, false]");
    assert!(dev.traces_for_session("ses_other").is_empty());
    dev.shutdown().await;
}
