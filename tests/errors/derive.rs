//! `#[derive(GovernanceError)]`: the generated mapping, observed through real
//! axum routers driven with `tower::ServiceExt::oneshot`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tappass::{GovernanceDecision, GovernanceError, Session, Timestamp};
use tower::ServiceExt;

// The design's enum, with a case for every other attribute of the derive.
crate::chat_error! {
    storage: #[governance(status = 500)]

    #[error("slow down")]
    #[governance(status = 429, retry_after = wait)]
    SlowDown {
        #[governance(skip)]
        wait: Duration,
        #[governance(rename = "limit_per_minute")]
        limit: u32,
        #[governance(skip)]
        internal_note: String,
    },

    #[error("closed until {until:?}")]
    #[governance(status = 503, retry_after = until)]
    Closed { until: SystemTime },

    #[error("closed for a while")]
    #[governance(status = 503, retry_after = until)]
    MaybeClosed { until: Option<Duration> },

    #[error("conflict on {kind}")]
    #[governance(status = 409, code = kind)]
    Conflict { kind: &'static str, id: u64 },

    #[error("database at {dsn} is down")]
    #[governance(
        status = 500,
        code = "storage_unavailable",
        message = "storage is unavailable; retry later"
    )]
    Database { dsn: String, attempt: u8 },

    #[error("sign in first")]
    #[governance(status = 401, headers = ChatError::challenge)]
    SignIn,
}

impl ChatError {
    fn challenge(&self, headers: &mut HeaderMap) {
        headers.insert("www-authenticate", "Bearer realm=\"chat\"".parse().unwrap());
    }
}

/// A struct takes its mapping from a container attribute.
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[error("quota of {tenant} exceeded")]
#[governance(status = 429, retry_after = reset_in)]
struct QuotaExceeded {
    tenant: String,
    #[governance(skip)]
    reset_in: Duration,
}

/// A transparent struct delegates to its only field.
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[error(transparent)]
#[governance(transparent)]
struct Wrapped(ChatError);

/// Generic types are supported; the bounds are the user's.
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[error("limit {limit} reached")]
#[governance(status = 429)]
struct LimitReached<T: std::fmt::Debug + std::fmt::Display + serde::Serialize> {
    limit: T,
}

/// An enum without variants compiles.
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum Never {}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// Serves `make()` as the error of a handler and returns what the client sees.
async fn serve<E>(make: fn() -> E) -> Reply
where
    E: axum::response::IntoResponse + 'static,
{
    let app = Router::new().route("/", get(move || async move { Err::<(), E>(make()) }));
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).expect("the body is JSON");
    Reply {
        status,
        headers,
        body,
    }
}

fn maintenance_until() -> Timestamp {
    "2099-11-23T10:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn a_variant_maps_to_its_status_code_and_named_fields() {
    let reply = serve(|| ChatError::Rejected {
        reason: "contains a secret".into(),
        audit_url: Some("https://tappass.example/a/1".into()),
    })
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(
        reply.body,
        json!({
            "error": "prompt_rejected",
            "message": "prompt rejected: contains a secret",
            "reason": "contains a secret",
            "audit_url": "https://tappass.example/a/1",
        })
    );
}

#[tokio::test]
async fn the_default_code_is_the_snake_case_variant_name() {
    let reply = serve(|| ChatError::Maintenance {
        until: maintenance_until(),
    })
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"], "maintenance");
    assert_eq!(reply.body["message"], "maintenance window");
    assert_eq!(reply.body["until"], "2099-11-23T10:00:00Z");
}

#[tokio::test]
async fn retry_after_is_an_http_date_for_a_timestamp() {
    let reply = serve(|| ChatError::Maintenance {
        until: maintenance_until(),
    })
    .await;
    assert_eq!(
        reply.headers["retry-after"],
        "Mon, 23 Nov 2099 10:00:00 GMT"
    );
}

#[tokio::test]
async fn retry_after_is_an_http_date_for_a_system_time() {
    let reply = serve(|| ChatError::Closed {
        until: UNIX_EPOCH + Duration::from_secs(4_102_444_800),
    })
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.headers["retry-after"],
        "Fri, 01 Jan 2100 00:00:00 GMT"
    );
}

#[tokio::test]
async fn retry_after_is_delta_seconds_for_a_duration_rounded_up() {
    let reply = serve(|| ChatError::SlowDown {
        wait: Duration::from_millis(90_500),
        limit: 60,
        internal_note: "tenant 7 is noisy".into(),
    })
    .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.headers["retry-after"], "91");
}

#[tokio::test]
async fn an_optional_retry_after_sends_the_header_only_when_set() {
    let with = serve(|| ChatError::MaybeClosed {
        until: Some(Duration::from_secs(30)),
    })
    .await;
    assert_eq!(with.headers["retry-after"], "30");
    let without = serve(|| ChatError::MaybeClosed { until: None }).await;
    assert!(!without.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn skipped_fields_stay_out_and_renamed_fields_use_their_key() {
    let reply = serve(|| ChatError::SlowDown {
        wait: Duration::from_secs(5),
        limit: 60,
        internal_note: "tenant 7 is noisy".into(),
    })
    .await;
    assert_eq!(
        reply.body,
        json!({"audit_url": null, "error": "slow_down", "message": "slow down", "limit_per_minute": 60})
    );
}

#[tokio::test]
async fn unnamed_fields_never_reach_the_body() {
    let reply = serve(|| ChatError::Storage(std::io::Error::other("disk /dev/sda1 is full"))).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.body,
        json!({"audit_url": null, "error": "storage", "message": "storage failed"})
    );
}

#[tokio::test]
async fn a_code_can_come_from_a_field() {
    let reply = serve(|| ChatError::Conflict {
        kind: "duplicate_thread",
        id: 7,
    })
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.body["error"], "duplicate_thread");
    assert_eq!(reply.body["kind"], "duplicate_thread");
    assert_eq!(reply.body["id"], 7);
}

#[tokio::test]
async fn a_fixed_message_replaces_the_display_text() {
    let reply = serve(|| ChatError::Database {
        dsn: "postgres://admin:secret@db".into(),
        attempt: 3,
    })
    .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body["error"], "storage_unavailable");
    assert_eq!(reply.body["message"], "storage is unavailable; retry later");
    assert_eq!(reply.body["attempt"], 3);
}

#[tokio::test]
async fn a_headers_fn_adds_its_headers() {
    let reply = serve(|| ChatError::SignIn).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.headers["www-authenticate"], "Bearer realm=\"chat\"");
    assert_eq!(
        reply.body,
        json!({"audit_url": null, "error": "sign_in", "message": "sign in first"})
    );
}

#[tokio::test]
async fn a_struct_takes_its_mapping_from_the_container_attribute() {
    let reply = serve(|| QuotaExceeded {
        tenant: "acme".into(),
        reset_in: Duration::from_secs(60),
    })
    .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.headers["retry-after"], "60");
    assert_eq!(
        reply.body,
        json!({"audit_url": null, "error": "quota_exceeded", "message": "quota of acme exceeded", "tenant": "acme"})
    );
}

#[tokio::test]
async fn a_generic_struct_is_supported() {
    let reply = serve(|| LimitReached { limit: 10u32 }).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply.body,
        json!({"audit_url": null, "error": "limit_reached", "message": "limit 10 reached", "limit": 10})
    );
}

fn policy_block() -> tappass::Error {
    let decision = GovernanceDecision::from_json(&json!({
        "decision": "policy_block",
        "blocked_by": "detect_pii",
        "reason": "the prompt holds an email address",
        "session_id": "ses_server",
        "audit_url": "https://tappass.example/a/ses_server",
    }))
    .expect("a decision");
    tappass::Error::from(decision)
}

#[tokio::test]
async fn a_transparent_variant_uses_the_mapping_of_tappass_error() {
    let ours = serve(|| ChatError::TapPass(policy_block())).await;
    let theirs = serve(policy_block).await;
    assert_eq!(ours.status, StatusCode::FORBIDDEN);
    assert_eq!(ours.status, theirs.status);
    assert_eq!(ours.body, theirs.body);
    assert_eq!(ours.body["error"], "policy_block");
    assert_eq!(ours.body["blocked_by"], "detect_pii");
    assert_eq!(ours.body["session_id"], "ses_server");
}

#[tokio::test]
async fn a_transparent_variant_keeps_the_fixed_message_of_a_failure() {
    let reply =
        serve(|| ChatError::TapPass(tappass::Error::Protocol("bad json at 3:7".into()))).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.body["error"], "governance_protocol_error");
    assert!(!reply.body["message"].as_str().unwrap().contains("3:7"));
}

#[tokio::test]
async fn a_transparent_struct_delegates_headers_too() {
    let reply = serve(|| {
        Wrapped(ChatError::Maintenance {
            until: maintenance_until(),
        })
    })
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"], "maintenance");
    assert_eq!(
        reply.headers["retry-after"],
        "Mon, 23 Nov 2099 10:00:00 GMT"
    );
}

#[tokio::test]
async fn the_body_carries_the_correlation_of_the_current_session() {
    let session = Session::builder("ses_x")
        .audit_url("https://a/x")
        .build()
        .unwrap();
    let app = Router::new().route(
        "/",
        get(|| async {
            Err::<(), _>(ChatError::Rejected {
                reason: "no".into(),
                audit_url: None,
            })
        }),
    );
    let response = tappass::session::scope(
        session,
        app.oneshot(Request::get("/").body(Body::empty()).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(response.headers()["x-tappass-session-id"], "ses_x");
    assert_eq!(response.headers()["x-tappass-audit-url"], "https://a/x");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    // The variant's own `audit_url` field is written (as null) and wins; the
    // session's id fills in what the fields do not carry.
    assert_eq!(
        body,
        json!({
            "error": "prompt_rejected",
            "message": "prompt rejected: no",
            "reason": "no",
            "audit_url": null,
            "session_id": "ses_x",
        })
    );
}

#[tokio::test]
async fn the_session_audit_url_fills_in_when_the_case_has_none() {
    let session = Session::builder("ses_x")
        .audit_url("https://a/x")
        .build()
        .unwrap();
    let app = Router::new().route("/", get(|| async { Err::<(), _>(ChatError::SignIn) }));
    let response = tappass::session::scope(
        session,
        app.oneshot(Request::get("/").body(Body::empty()).unwrap()),
    )
    .await
    .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["session_id"], "ses_x");
    assert_eq!(body["audit_url"], "https://a/x");
}

#[test]
fn field_names_list_the_keys_written() {
    let slow = ChatError::SlowDown {
        wait: Duration::from_secs(1),
        limit: 1,
        internal_note: String::new(),
    };
    assert_eq!(slow.field_names(), &["limit_per_minute"]);
    assert_eq!(ChatError::SignIn.field_names(), &[] as &[&str]);
    let rejected = ChatError::Rejected {
        reason: String::new(),
        audit_url: None,
    };
    assert_eq!(rejected.field_names(), &["reason", "audit_url"]);
    assert_eq!(rejected.public_message(), None);
    let tappass = ChatError::TapPass(policy_block());
    assert_eq!(tappass.field_names(), policy_block().field_names());
}

#[test]
fn an_empty_enum_implements_the_trait() {
    fn assert_impl<T: GovernanceError + axum::response::IntoResponse>() {}
    assert_impl::<Never>();
}
