//! Property tests: correlation-header parsing and decision-body parsing never
//! panic on arbitrary input, and valid input round-trips; correlation values
//! through a real router behind the layer, over their whole length range and
//! every shape of http(s) audit URL.

use std::sync::OnceLock;

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::FutureExt;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{json, Value};
use tappass::session::{from_headers, Session};
use tappass::GovernanceDecision;
use tower::ServiceExt;

use crate::support::sockets::refused_url;

const NAMES: [&str; 5] = [
    "x-tappass-session-id",
    "x-tappass-session",
    "x-tappass-agent-uuid",
    "x-tappass-pipeline-uuid",
    "x-tappass-audit-url",
];

/// Any bytes an HTTP header value may hold (visible ASCII, space, tab,
/// obs-text), of any length up to and past the 2,048-byte limit of an audit
/// url (and the 128 bytes of an id).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff],
        0..2_300,
    )
}

/// An RFC 3339 timestamp written here, not by the library: any year
/// 0000–9999, any second, an optional fraction of 1 to 9 digits, `Z`, `z`
/// or any offset up to ±23:59.
fn rfc3339() -> impl Strategy<Value = String> {
    (
        0u32..=9999,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        proptest::option::of("[0-9]{1,9}"),
        prop_oneof![
            Just("Z".to_owned()),
            Just("z".to_owned()),
            (prop_oneof![Just('+'), Just('-')], 0u32..24, 0u32..60)
                .prop_map(|(sign, h, m)| format!("{sign}{h:02}:{m:02}")),
        ],
    )
        .prop_map(|(y, mo, d, h, mi, se, fraction, offset)| {
            let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{fraction}{offset}")
        })
}

fn valid_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,128}".prop_filter("a dot segment is no id", |id| id != "." && id != "..")
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

    /// All eight kinds (the seven the toolkit names and one it does not),
    /// with any printable reason (non-ASCII included) and an expiry written
    /// by an independent generator: every field sent comes back in the
    /// body, timestamps as the same instant.
    #[test]
    fn valid_decisions_round_trip_through_the_http_body(
        reason in "\\PC{0,60}",
        blocked_by in "[a-z_]{1,20}",
        tool in "[a-z_]{1,20}",
        tier in "[A-Za-z0-9]{1,8}",
        expires in rfc3339(),
        content in "\\PC{0,40}",
        other in "[a-z][a-z_]{0,20}",
    ) {
        prop_assume!(!KNOWN.contains(&other.as_str()));
        let cases = [
            json!({"decision": "policy_block", "blocked_by": blocked_by, "reason": reason}),
            json!({"decision": "tool_integrity_violation", "tool_name": tool, "violation": "revoked", "reason": reason}),
            json!({"decision": "trust_tier_denied", "required_tier": tier, "actual_tier": "T0", "reason": reason}),
            json!({"decision": "break_glass_active", "level": "relax", "expires_at": expires, "reason": reason}),
            json!({"decision": "approval_required", "resume_token": tool, "expires_at": expires, "reason": reason}),
            json!({"decision": "redaction_applied", "reason": reason, "redacted_content": content,
                   "redactions": [{"kind": "email", "start": 0, "end": 3, "replacement": "[EMAIL]"}]}),
            json!({"decision": "authorization_required", "provider": tool, "reason": reason,
                   "authorize_url": "https://auth.example.com/authorize", "scopes": [blocked_by]}),
            json!({"decision": other, "reason": reason}),
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
                if key == "expires_at" {
                    let instant = |v: &Value| v.as_str().unwrap().parse::<tappass::Timestamp>().unwrap();
                    prop_assert_eq!(instant(&got[key]), instant(value), "{} of {}", key, sent);
                } else if key != "decision" {
                    prop_assert_eq!(&got[key], value, "field {} of {}", key, sent);
                }
            }
        }
    }
}

/// The decision kinds the toolkit names, and their aliases.
const KNOWN: [&str; 13] = [
    "policy_block",
    "block",
    "blocked",
    "approval_required",
    "needs_approval",
    "trust_tier_denied",
    "break_glass_active",
    "break_glass",
    "tool_integrity_violation",
    "redaction_applied",
    "redact",
    "redacted",
    "authorization_required",
];

/// A router behind the layer whose handler answers the audit URL it sees.
fn layered() -> Router {
    static APP: OnceLock<Router> = OnceLock::new();
    APP.get_or_init(|| {
        let layer = tappass::TapPassLayer::builder()
            .tappass_url(refused_url())
            .api_key("tp_properties")
            .build()
            .unwrap();
        Router::new()
            .route(
                "/",
                get(|| async {
                    let session = tappass::current_session().unwrap();
                    format!("{}|{}", session.id(), session.audit_url().unwrap_or("-"))
                }),
            )
            .layer(layer)
    })
    .clone()
}

/// One request through [`layered`], driven to the end in place (nothing in it
/// waits on I/O).
fn answer(headers: &[(HeaderName, &[u8])]) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get("/");
    for (name, value) in headers {
        request = request.header(name, HeaderValue::from_bytes(value).unwrap());
    }
    let response = layered()
        .oneshot(request.body(Body::empty()).unwrap())
        .now_or_never()
        .expect("the layer answers without waiting")
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .now_or_never()
        .expect("the body is ready")
        .unwrap()
        .to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn refused_naming(answer: &(StatusCode, HeaderMap, String), header: &str) -> bool {
    let body: Value = serde_json::from_str(&answer.2).unwrap();
    answer.0 == StatusCode::BAD_REQUEST
        && body["error"] == "invalid_correlation_header"
        && body["header"] == header
}

/// An http(s) URL of any shape: scheme in any case, hosts by name or IPv4,
/// default, odd and absent ports, dot segments, percent-encoding (valid and
/// not), characters the URL standard escapes, queries and fragments.
fn audit_url() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec!["http", "https", "HTTP", "Https"]);
    let host = prop_oneof![
        "[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?(\\.[a-zA-Z]{2,6}){0,2}",
        (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
    ];
    let port = prop_oneof![
        Just(String::new()),
        Just(":80".to_owned()),
        Just(":443".to_owned()),
        (0u32..=70_000).prop_map(|p| format!(":{p}")),
    ];
    let piece = prop_oneof![
        "[A-Za-z0-9._~-]{1,12}",
        "%[0-9A-Fa-f]{2}",
        Just("%".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        "[!$&'()*+,;=:@{}|^`\\[\\]\"<>]",
    ];
    let path = prop::collection::vec(prop::collection::vec(piece.clone(), 0..4), 0..6).prop_map(
        |segments| {
            segments
                .iter()
                .map(|s| format!("/{}", s.concat()))
                .collect::<String>()
        },
    );
    let query =
        proptest::option::of(prop::collection::vec(piece.clone(), 0..6).prop_map(|p| p.concat()));
    let fragment =
        proptest::option::of(prop::collection::vec(piece, 0..4).prop_map(|p| p.concat()));
    (scheme, host, port, path, query, fragment).prop_map(
        |(scheme, host, port, path, query, fragment)| {
            let mut url = format!("{scheme}://{host}{port}{path}");
            if let Some(q) = query {
                url.push('?');
                url.push_str(&q);
            }
            if let Some(f) = fragment {
                url.push('#');
                url.push_str(&f);
            }
            url
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Ids of every length from empty to well past the limit: accepted and
    /// echoed as sent exactly when they are 1 to 128 bytes and not a dot
    /// segment (`.`, `..`); an empty agent header is absent (not echoed),
    /// as the Python SDK sends what it does not know.
    #[test]
    fn id_headers_are_accepted_exactly_up_to_128_bytes(
        id in prop_oneof![4 => "[A-Za-z0-9._:-]{0,300}", 1 => "[.]{1,3}"],
        agent in prop_oneof![4 => "[A-Za-z0-9._:-]{0,300}", 1 => "[.]{0,3}"],
    ) {
        let sent = [
            (tappass::session::SESSION_ID, id.as_bytes()),
            (tappass::session::AGENT_UUID, agent.as_bytes()),
        ];
        let got = answer(&sent);
        let an_id = |v: &str| (1..=128).contains(&v.len()) && v != "." && v != "..";
        let id_ok = an_id(&id);
        let agent_ok = agent.is_empty() || an_id(&agent);
        if id_ok && agent_ok {
            prop_assert_eq!(got.0, StatusCode::OK);
            prop_assert_eq!(&got.1["x-tappass-session-id"], id.as_str());
            if agent.is_empty() {
                prop_assert!(got.1.get("x-tappass-agent-uuid").is_none());
            } else {
                prop_assert_eq!(&got.1["x-tappass-agent-uuid"], agent.as_str());
            }
        } else if !id_ok {
            prop_assert!(refused_naming(&got, "X-TapPass-Session-Id"), "{:?}", got);
        } else {
            prop_assert!(refused_naming(&got, "X-TapPass-Agent-Uuid"), "{:?}", got);
        }
    }

    /// Audit URLs up to and past 2,048 bytes: accepted exactly up to the
    /// limit (this one is already in its normal form).
    #[test]
    fn audit_urls_are_accepted_exactly_up_to_2048_bytes(len in 1_800usize..2_300) {
        let prefix = "https://dash.example.com/";
        let url = format!("{prefix}{}", "a".repeat(len - prefix.len()));
        let got = answer(&[
            (tappass::session::SESSION_ID, b"ses_len"),
            (tappass::session::AUDIT_URL, url.as_bytes()),
        ]);
        if url.len() <= tappass::session::MAX_AUDIT_URL_LEN {
            prop_assert_eq!(got.0, StatusCode::OK);
            prop_assert_eq!(&got.1["x-tappass-audit-url"], url.as_str());
        } else {
            prop_assert!(refused_naming(&got, "X-TapPass-Audit-Url"), "{:?}", got);
        }
    }

    /// Any http(s) audit URL is either refused with a 400 naming its header,
    /// or accepted in a normal form that is what the handler sees, what is
    /// echoed, what `Session::builder` gives for it, at most 2,048 bytes, and
    /// a fixed point: the next layer keeps it unchanged.
    #[test]
    fn audit_urls_are_normalised_once_and_then_kept(url in audit_url()) {
        let got = answer(&[
            (tappass::session::SESSION_ID, b"ses_url"),
            (tappass::session::AUDIT_URL, url.as_bytes()),
        ]);
        let built = Session::builder("ses_url").audit_url(url.clone()).build();
        if got.0 == StatusCode::OK {
            let echoed = got.1["x-tappass-audit-url"].to_str().unwrap().to_owned();
            prop_assert_eq!(&got.2, &format!("ses_url|{echoed}"));
            prop_assert!(echoed.len() <= tappass::session::MAX_AUDIT_URL_LEN);
            prop_assert!(echoed.starts_with("http://") || echoed.starts_with("https://"), "{}", echoed);
            prop_assert!(!echoed.contains(":443/") || echoed.starts_with("http://"), "{}", echoed);
            prop_assert!(!echoed.contains(":80/") || echoed.starts_with("https://"), "{}", echoed);
            let built = built.unwrap();
            prop_assert_eq!(built.audit_url(), Some(echoed.as_str()));
            let again = answer(&[
                (tappass::session::SESSION_ID, b"ses_url"),
                (tappass::session::AUDIT_URL, echoed.as_bytes()),
            ]);
            prop_assert_eq!(again.0, StatusCode::OK);
            prop_assert_eq!(&again.1["x-tappass-audit-url"], echoed.as_str());
        } else {
            prop_assert!(refused_naming(&got, "X-TapPass-Audit-Url"), "{} -> {:?}", url, got);
            prop_assert_eq!(built.unwrap_err().header, "X-TapPass-Audit-Url");
        }
    }

    /// User info is refused whatever else the URL holds, and never echoed.
    #[test]
    fn audit_urls_with_user_info_are_refused_and_never_echoed(
        url in audit_url(),
        user in "[A-Za-z0-9]{0,8}",
        password in proptest::option::of("[A-Za-z0-9]{1,12}"),
    ) {
        prop_assume!(!user.is_empty() || password.is_some());
        let (scheme, rest) = url.split_once("://").unwrap();
        let secret = match &password {
            Some(p) => format!("{user}:{p}Secret"),
            None => format!("{user}Secret"),
        };
        let with_creds = format!("{scheme}://{secret}@{rest}");
        let got = answer(&[
            (tappass::session::SESSION_ID, b"ses_creds"),
            (tappass::session::AUDIT_URL, with_creds.as_bytes()),
        ]);
        prop_assert!(refused_naming(&got, "X-TapPass-Audit-Url"), "{} -> {:?}", with_creds, got);
        let without = answer(&[
            (tappass::session::SESSION_ID, b"ses_creds"),
            (tappass::session::AUDIT_URL, url.as_bytes()),
        ]);
        if without.0 == StatusCode::OK {
            // Refused for its user info, not for something else.
            prop_assert!(got.2.contains("holds user info"), "{}", got.2);
        }
        prop_assert!(!got.2.contains("Secret"), "{}", got.2);
        prop_assert!(got.1.values().all(|v| !v.as_bytes().windows(6).any(|w| w == b"Secret")));
        prop_assert!(Session::builder("s").audit_url(with_creds).build().is_err());
    }
}
