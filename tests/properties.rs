//! Property tests: correlation-header parsing and decision-body parsing never
//! panic on arbitrary input, and valid input round-trips.

use axum::response::IntoResponse;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::{json, Value};
use tappass::session::{from_headers, Session};
use tappass::GovernanceDecision;

const NAMES: [&str; 5] = [
    "x-tappass-session-id",
    "x-tappass-session",
    "x-tappass-agent-uuid",
    "x-tappass-pipeline-uuid",
    "x-tappass-audit-url",
];

/// Any bytes an HTTP header value may hold (visible ASCII, space, tab, obs-text).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff],
        0..300,
    )
}

fn valid_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,128}"
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop::sample::select(vec![
            "policy_block",
            "approval_required",
            "trust_tier_denied",
            "break_glass_active",
            "tool_integrity_violation",
            "redaction_applied",
            "authorization_required",
            "2030-01-01T00:00:00Z",
            "not-a-date",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "decision",
                    "code",
                    "blocked_by",
                    "reason",
                    "message",
                    "details",
                    "session_id",
                    "audit_url",
                    "expires_at",
                    "redactions",
                    "scopes",
                    "required_tier",
                    "actual_tier",
                    "level",
                    "tool_name",
                    "violation",
                    "provider",
                    "authorize_url",
                    "approval_url",
                    "resume_token",
                    "kind",
                    "start",
                ])
                .prop_map(str::to_owned),
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_correlation_headers_never_panic(
        values in prop::collection::vec((0usize..5, header_bytes()), 0..6)
    ) {
        let mut headers = HeaderMap::new();
        for (name, bytes) in &values {
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                headers.append(HeaderName::from_static(NAMES[*name]), value);
            }
        }
        if let Ok(Some(session)) = from_headers(&headers) {
            // Whatever was accepted is safe to send on.
            let echoed = session.headers();
            prop_assert_eq!(echoed["x-tappass-session-id"].to_str().unwrap(), session.id());
        }
    }

    #[test]
    fn valid_correlation_round_trips(
        id in valid_id(),
        agent in proptest::option::of(valid_id()),
        pipeline in proptest::option::of(valid_id()),
        audit_path in proptest::option::of("[a-z0-9/_-]{0,60}"),
    ) {
        let mut builder = Session::builder(id.clone());
        if let Some(a) = &agent { builder = builder.agent_uuid(a.clone()); }
        if let Some(p) = &pipeline { builder = builder.pipeline_uuid(p.clone()); }
        let audit = audit_path.map(|p| format!("https://tappass.example.com/{p}"));
        if let Some(u) = &audit { builder = builder.audit_url(u.clone()); }
        let session = builder.build().unwrap();
        let joined = from_headers(&session.headers()).unwrap().unwrap();
        prop_assert_eq!(joined.id(), id.as_str());
        prop_assert_eq!(joined.agent_uuid(), agent.as_deref());
        prop_assert_eq!(joined.pipeline_uuid(), pipeline.as_deref());
        prop_assert_eq!(joined.audit_url(), audit.as_deref());
    }

    #[test]
    fn arbitrary_decision_bodies_never_panic(body in json_value()) {
        if let Some(decision) = GovernanceDecision::from_json(&body) {
            let response = tappass::Error::from(decision).into_response();
            prop_assert!(response.status().is_client_error() || response.status().is_server_error());
        }
    }

    #[test]
    fn valid_decisions_round_trip_through_the_http_body(
        reason in "[ -~]{0,60}",
        blocked_by in "[a-z_]{1,20}",
        tool in "[a-z_]{1,20}",
        tier in "[A-Za-z0-9]{1,8}",
        secs in 0u64..4_000_000_000,
    ) {
        let expires = tappass::Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        let cases = [
            json!({"decision": "policy_block", "blocked_by": blocked_by, "reason": reason}),
            json!({"decision": "tool_integrity_violation", "tool_name": tool, "violation": "revoked", "reason": reason}),
            json!({"decision": "trust_tier_denied", "required_tier": tier, "actual_tier": "T0", "reason": reason}),
            json!({"decision": "break_glass_active", "level": "relax", "expires_at": expires.to_string(), "reason": reason}),
            json!({"decision": "approval_required", "resume_token": tool, "expires_at": expires.to_string(), "reason": reason}),
        ];
        for sent in cases {
            let decision = GovernanceDecision::from_json(&sent).unwrap();
            let response = decision.into_response();
            let bytes = futures_util::FutureExt::now_or_never(
                http_body_util::BodyExt::collect(response.into_body()),
            )
            .unwrap()
            .unwrap()
            .to_bytes();
            let got: Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(&got["error"], &sent["decision"]);
            for (key, value) in sent.as_object().unwrap() {
                if key != "decision" {
                    prop_assert_eq!(&got[key], value, "field {}", key);
                }
            }
        }
    }
}
