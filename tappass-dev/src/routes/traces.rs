//! `POST /v1/traces`: the OTLP/HTTP trace receiver.
//!
//! Any OpenTelemetry SDK's OTLP/HTTP exporter can send here, the toolkit's
//! `otel` feature and the Python SDK's alike: an `ExportTraceServiceRequest`
//! as binary protobuf (`application/x-protobuf`) or as OTLP/JSON
//! (`application/json`, hex ids, decoded by the official definitions' serde
//! mapping). The answer is an `ExportTraceServiceResponse` in the request's
//! encoding; spans the store cannot take (ids of the wrong length) are counted
//! in its `partial_success`, as the protocol asks, and the rest are kept.
//! A request the receiver cannot read answers `400` (or `415` for an encoding
//! it does not speak) with a `google.rpc.Status` body, so that the exporter
//! logs why.
//!
//! Spans need no API key: the receiver is a development tool's, on loopback,
//! and exporters are set up with an endpoint, rarely with headers. It stands
//! behind [`same_origin_only`](crate::origin::same_origin_only), so a web page
//! cannot make a browser post spans into the console.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use prost::Message as _;

use crate::state::Shared;
use crate::stores::traces::{Kind, Span, SpanEvent, Status};

/// The largest export the receiver reads: 4 MiB (an SDK's default batch of
/// 512 spans is far below it).
pub(crate) const MAX_EXPORT_BYTES: usize = 4 << 20;
/// The longest attribute value kept, in bytes; a longer one is cut at a
/// character boundary and marked with `…`.
const MAX_VALUE_BYTES: usize = 2048;
/// The most attributes kept of one span or event, and events of one span.
const MAX_ATTRIBUTES: usize = 128;
const MAX_EVENTS: usize = 128;

/// The two encodings OTLP/HTTP defines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP failure.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// `google.rpc.Code.INVALID_ARGUMENT`.
const INVALID_ARGUMENT: i32 = 3;

/// A failure answered in `encoding` (JSON when the request's is unknown).
fn failure(status: StatusCode, encoding: Encoding, message: String) -> Response {
    let body = RpcStatus {
        code: INVALID_ARGUMENT,
        message,
    };
    let bytes = match encoding {
        Encoding::Protobuf => body.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&body).unwrap_or_default(),
    };
    answer(status, encoding, bytes)
}

fn answer(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(encoding.content_type()),
        )],
        body,
    )
        .into_response()
}

/// The encoding a request's `Content-Type` names, parameters aside.
fn encoding(headers: &HeaderMap) -> Option<Encoding> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-protobuf") {
        Some(Encoding::Protobuf)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Some(Encoding::Json)
    } else {
        None
    }
}

/// `POST /v1/traces`.
pub(crate) async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(encoding) = encoding(&headers) else {
        return failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Json,
            "OTLP/HTTP spans come as `Content-Type: application/x-protobuf` or `application/json`"
                .to_owned(),
        );
    };
    if let Some(coding) = headers.get(header::CONTENT_ENCODING) {
        if !coding.as_bytes().eq_ignore_ascii_case(b"identity") {
            return failure(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                encoding,
                "the dev server reads uncompressed exports only; set the exporter's compression to none (OTEL_EXPORTER_OTLP_COMPRESSION=none)".to_owned(),
            );
        }
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let message = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "exports are limited to {} MiB; lower the batch size of the exporter",
                    MAX_EXPORT_BYTES >> 20
                )
            } else {
                rejection.body_text()
            };
            return failure(rejection.status(), encoding, message);
        }
    };
    let request = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|e| format!("the body is not an ExportTraceServiceRequest: {e}")),
        Encoding::Json => serde_json::from_slice::<ExportTraceServiceRequest>(&body)
            .map_err(|e| format!("the body is not an OTLP/JSON ExportTraceServiceRequest: {e}")),
    };
    let request = match request {
        Ok(request) => request,
        Err(message) => return failure(StatusCode::BAD_REQUEST, encoding, message),
    };
    let (spans, rejected) = read(request);
    {
        let mut traces = shared.traces();
        for span in spans {
            traces.add(span);
        }
    }
    let response = ExportTraceServiceResponse {
        partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: format!(
                "{rejected} span(s) without a 16-byte trace id and an 8-byte span id were dropped"
            ),
        }),
    };
    let bytes = match (encoding, &response.partial_success) {
        (Encoding::Protobuf, _) => response.encode_to_vec(),
        // proto3 JSON leaves an absent message out (the mapping would write `null`).
        (Encoding::Json, None) => b"{}".to_vec(),
        (Encoding::Json, Some(_)) => serde_json::to_vec(&response).unwrap_or_default(),
    };
    answer(StatusCode::OK, encoding, bytes)
}

/// The spans of an export the store can keep, and how many it cannot.
fn read(request: ExportTraceServiceRequest) -> (Vec<Span>, i64) {
    let mut spans = Vec::new();
    let mut rejected = 0i64;
    for resource_spans in request.resource_spans {
        let service = resource_spans.resource.as_ref().and_then(|resource| {
            resource
                .attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(text)
        });
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                match convert(span, service.clone()) {
                    Some(span) => spans.push(span),
                    None => rejected += 1,
                }
            }
        }
    }
    (spans, rejected)
}

/// One OTLP span as the store keeps it; `None` for one whose ids are not
/// of OTLP's lengths (or all zero, which OTLP calls invalid).
fn convert(
    span: opentelemetry_proto::tonic::trace::v1::Span,
    service: Option<String>,
) -> Option<Span> {
    let trace_id = id(&span.trace_id, 16)?;
    let span_id = id(&span.span_id, 8)?;
    let parent_span_id = if span.parent_span_id.is_empty() {
        None
    } else {
        Some(id(&span.parent_span_id, 8)?)
    };
    let status = match span.status {
        Some(status) if status.code == OtlpStatus::Error as i32 => {
            Status::Error(cut(status.message))
        }
        Some(status) if status.code == OtlpStatus::Ok as i32 => Status::Ok,
        _ => Status::Unset,
    };
    Some(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: cut(span.name),
        kind: Kind::from_otlp(span.kind),
        start_unix_nano: span.start_time_unix_nano,
        end_unix_nano: span.end_time_unix_nano,
        status,
        service,
        attributes: attributes(&span.attributes),
        events: span
            .events
            .into_iter()
            .take(MAX_EVENTS)
            .map(|event| SpanEvent {
                name: cut(event.name),
                time_unix_nano: event.time_unix_nano,
                attributes: attributes(&event.attributes),
            })
            .collect(),
    })
}

/// Lower-case hex of an id of `len` bytes that are not all zero.
fn id(bytes: &[u8], len: usize) -> Option<String> {
    if bytes.len() != len || bytes.iter().all(|b| *b == 0) {
        return None;
    }
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn attributes(list: &[KeyValue]) -> Vec<(String, String)> {
    list.iter()
        .take(MAX_ATTRIBUTES)
        .map(|kv| {
            let value = kv.value.as_ref().map(text).unwrap_or_default();
            (cut(kv.key.clone()), value)
        })
        .collect()
}

/// An attribute value as text: strings as they are, the others as their
/// canonical text, arrays and maps as JSON-like lists; cut to
/// [`MAX_VALUE_BYTES`].
fn text(value: &AnyValue) -> String {
    cut(match &value.value {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(bytes)) => {
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
        Some(any_value::Value::ArrayValue(array)) => {
            let items: Vec<String> = array.values.iter().map(text).collect();
            format!("[{}]", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let items: Vec<String> = list
                .values
                .iter()
                .map(|kv| {
                    let value = kv.value.as_ref().map(text).unwrap_or_default();
                    format!("{}: {value}", kv.key)
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        #[allow(unreachable_patterns)]
        Some(_) => String::new(),
    })
}

/// `text` cut to [`MAX_VALUE_BYTES`] at a character boundary, marked `…`.
fn cut(mut text: String) -> String {
    if text.len() > MAX_VALUE_BYTES {
        let mut end = MAX_VALUE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests;
