use axum::body::Body;
use http::{header, Method, Request, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message as _;
use serde_json::json;

use super::MAX_VALUE_BYTES;
use crate::stores::traces::{self, Kind};
use crate::testing::*;

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

fn otlp_span(trace: u8, id: u8, parent: Option<u8>, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: format!("span {id}"),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: 1_000 + u64::from(id),
        end_time_unix_nano: 2_000,
        attributes,
        ..Span::default()
    }
}

fn export(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", "orders")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn post(content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/v1/traces")
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn protobuf_spans_are_kept_and_a_trace_joins_the_session_one_of_its_spans_names() {
    let h = Harness::new();
    let mut decided = otlp_span(
        1,
        2,
        Some(1),
        vec![string("gen_ai.conversation.id", "ses_otlp")],
    );
    decided.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "policy_block".into(),
    });
    decided.events.push(span::Event {
        name: "gen_ai.guardrail.result".into(),
        time_unix_nano: 1_500,
        attributes: vec![string("gen_ai.guardrail.result.value", "policy_block")],
        ..span::Event::default()
    });
    let request = export(vec![otlp_span(1, 1, None, Vec::new()), decided]);
    let a = h
        .send(post("application/x-protobuf", request.encode_to_vec()))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/x-protobuf");
    let response = ExportTraceServiceResponse::decode(a.bytes.clone()).unwrap();
    assert_eq!(response.partial_success, None, "everything was taken");

    let shown = h.shared.traces().of_session("ses_otlp");
    assert_eq!(shown.len(), 1);
    let trace = &shown[0];
    assert_eq!(trace.trace_id, "01".repeat(16));
    assert_eq!(
        trace.spans.len(),
        2,
        "the root without the id comes with its trace"
    );
    let root = &trace.spans[0];
    assert_eq!(root.span_id, "01".repeat(8));
    assert_eq!(root.parent_span_id, None);
    assert_eq!(root.service.as_deref(), Some("orders"));
    assert_eq!(root.kind, Kind::Client);
    let child = &trace.spans[1];
    assert_eq!(
        child.parent_span_id.as_deref(),
        Some("01".repeat(8).as_str())
    );
    assert_eq!(child.status, traces::Status::Error("policy_block".into()));
    assert_eq!(
        child.events[0].attribute("gen_ai.guardrail.result.value"),
        Some("policy_block")
    );
}

#[tokio::test]
async fn otlp_json_is_read_with_hex_ids_and_answered_in_json() {
    let h = Harness::new();
    // The OTLP/JSON of the protocol's own example: hex ids, lowerCamelCase,
    // 64-bit integers as strings, the enum as a number.
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "py"}}]},
        "scopeSpans": [{"scope": {"name": "manual"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "parentSpanId": "eee19b7ec3c1b173",
            "name": "execute_tool lookup",
            "kind": 1,
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": "1544712661000000000",
            "attributes": [
                {"key": "tappass.session_id", "value": {"stringValue": "ses_json"}},
                {"key": "retries", "value": {"intValue": "3"}},
                {"key": "ok", "value": {"boolValue": true}}
            ],
            "status": {"code": 1}
        }]}]
    }]});
    let a = h.send(post("application/json", body.to_string())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(a.json(), json!({}));
    let shown = h.shared.traces().of_session("ses_json");
    let span = &shown[0].spans[0];
    assert_eq!(span.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.parent_span_id.as_deref(), Some("eee19b7ec3c1b173"));
    assert_eq!(span.duration_nanos(), 1_000_000_000);
    assert_eq!(span.attribute("retries"), Some("3"));
    assert_eq!(span.attribute("ok"), Some("true"));
    assert_eq!(span.status, traces::Status::Ok);
    assert_eq!(span.kind, Kind::Internal);
}

#[tokio::test]
async fn spans_with_bad_ids_are_counted_as_rejected_and_the_rest_kept() {
    let h = Harness::new();
    let session = || vec![string("gen_ai.conversation.id", "ses_bad")];
    let mut short_trace = otlp_span(1, 1, None, session());
    short_trace.trace_id = vec![1; 15];
    let mut zero_span = otlp_span(1, 2, None, session());
    zero_span.span_id = vec![0; 8];
    let mut long_parent = otlp_span(1, 3, None, session());
    long_parent.parent_span_id = vec![1; 9];
    let good = otlp_span(1, 4, None, session());
    let request = export(vec![short_trace, zero_span, long_parent, good]);
    let a = h
        .send(post("application/x-protobuf", request.encode_to_vec()))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let response = ExportTraceServiceResponse::decode(a.bytes.clone()).unwrap();
    let partial = response.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 3);
    assert!(
        partial.error_message.contains("16-byte trace id"),
        "{}",
        partial.error_message
    );
    let shown = h.shared.traces().of_session("ses_bad");
    assert_eq!(shown[0].spans.len(), 1);
    assert_eq!(shown[0].spans[0].span_id, "04".repeat(8));
}

#[tokio::test]
async fn what_the_receiver_cannot_read_is_refused_with_a_status_saying_why() {
    let h = Harness::new();
    // Not protobuf: a field with an invalid wire type.
    let a = h
        .send(post("application/x-protobuf", vec![0x0fu8, 0xff, 0xff]))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/x-protobuf");
    let status = super::RpcStatus::decode(a.bytes.clone()).unwrap();
    assert!(
        status.message.contains("ExportTraceServiceRequest"),
        "{}",
        status.message
    );

    let a = h
        .send(post("application/json", "{\"resourceSpans\": 3}"))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json()["message"].as_str().unwrap().contains("OTLP/JSON"));

    let a = h.send(post("text/plain", "spans")).await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("application/x-protobuf"));

    let mut gzip = post("application/x-protobuf", export(vec![]).encode_to_vec());
    gzip.headers_mut()
        .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    let a = h.send(gzip).await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let status = super::RpcStatus::decode(a.bytes.clone()).unwrap();
    assert!(
        status.message.contains("compression to none"),
        "{}",
        status.message
    );

    let a = h
        .send(post(
            "application/x-protobuf",
            vec![0u8; super::MAX_EXPORT_BYTES + 1],
        ))
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.shared.traces().len(), 0);
}

#[tokio::test]
async fn a_page_of_another_site_cannot_post_spans() {
    let h = Harness::new();
    let request = export(vec![otlp_span(1, 1, None, Vec::new())]);
    let mut foreign = post("application/x-protobuf", request.encode_to_vec());
    foreign
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    assert_eq!(h.send(foreign).await.status, StatusCode::FORBIDDEN);
    let mut rebound = post("application/x-protobuf", request.encode_to_vec());
    rebound
        .headers_mut()
        .insert(header::HOST, "evil.example:9620".parse().unwrap());
    assert_eq!(h.send(rebound).await.status, StatusCode::FORBIDDEN);
    assert_eq!(h.shared.traces().len(), 0);
}

#[tokio::test]
async fn long_values_are_cut_at_a_character_boundary() {
    let h = Harness::new();
    let long = "é".repeat(MAX_VALUE_BYTES);
    let request = export(vec![otlp_span(
        1,
        1,
        None,
        vec![
            string("gen_ai.conversation.id", "ses_long"),
            string("note", &long),
        ],
    )]);
    let a = h
        .send(post("application/x-protobuf", request.encode_to_vec()))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let shown = h.shared.traces().of_session("ses_long");
    let note = shown[0].spans[0].attribute("note").unwrap();
    assert!(note.len() <= MAX_VALUE_BYTES + '…'.len_utf8());
    assert!(note.ends_with('…'));
}
