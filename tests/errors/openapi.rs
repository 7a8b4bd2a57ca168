//! The OpenAPI side (feature `utoipa`): the schemas of every governance body,
//! `GovernanceResponses` on a governed route, and the schema that
//! `#[governance(openapi)]` derives for a user's enum, all read back from the
//! serialized document.

use axum::response::IntoResponse;
use axum::Json;
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::{json, Value};
use tappass::openapi::{GovernanceResponses, ProblemGovernanceResponses};
use tappass::GovernanceDecision;
use utoipa::{OpenApi, PartialSchema, ToSchema};

// The design's enum, its schema derived; `Storage` with a fixed message,
// which the schema states.
crate::chat_error! {
    /// The errors of the chat route.
    #[governance(openapi)]
    #[allow(dead_code)]
    storage: #[governance(status = 500, message = "storage is unavailable")]
}

/// A conflict, named in the document by the attribute.
#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[error("the conversation changed meanwhile")]
#[governance(status = 409, openapi = "ConversationConflict")]
#[allow(dead_code)]
struct Conflict {
    version: u64,
    #[governance(rename = "conversation")]
    conversation_id: String,
    #[governance(skip)]
    internal: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ChatOut {
    content: String,
}

#[utoipa::path(
    post,
    path = "/chat",
    responses(
        (status = 200, body = ChatOut),
        (status = 409, body = Conflict),
        (status = "5XX", body = ChatError),
        GovernanceResponses
    )
)]
#[allow(dead_code)]
async fn chat() -> Result<Json<ChatOut>, ChatError> {
    unimplemented!()
}

#[utoipa::path(get, path = "/report", responses((status = 200, body = ChatOut), ProblemGovernanceResponses))]
#[allow(dead_code)]
async fn report() -> Result<Json<ChatOut>, tappass::response::Problem<tappass::Error>> {
    unimplemented!()
}

#[derive(OpenApi)]
#[openapi(
    paths(chat, report),
    components(schemas(
        tappass::openapi::FailureBody,
        tappass::openapi::ProblemDetails,
        tappass::extract::SessionRejection,
    ))
)]
struct ApiDoc;

fn doc() -> Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap()
}

fn schema_json<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap()
}

/// The items of a oneOf / anyOf schema.
fn items(schema: &Value) -> &Vec<Value> {
    schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("not a oneOf/anyOf: {schema}"))
}

fn codes(schema: &Value) -> Vec<String> {
    items(schema)
        .iter()
        .map(|item| match item.get("$ref") {
            Some(r) => r.as_str().unwrap().to_owned(),
            None => item["properties"]["error"]["enum"][0]
                .as_str()
                .unwrap_or("<any>")
                .to_owned(),
        })
        .collect()
}

#[test]
fn the_derived_enum_schema_lists_every_variant_body() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let chat = &schemas["ChatError"];
    assert_eq!(chat["description"], "The errors of the chat route.");
    // A transparent case may overlap the others: anyOf, not oneOf.
    assert!(chat.get("anyOf").is_some(), "{chat}");
    assert_eq!(
        codes(chat),
        [
            "prompt_rejected",
            "maintenance",
            "#/components/schemas/TapPassError",
            "storage"
        ]
    );

    let rejected = &items(chat)[0];
    assert_eq!(rejected["type"], "object");
    assert_eq!(rejected["title"], "prompt_rejected");
    assert_eq!(
        rejected["description"],
        "HTTP 403. The prompt was refused by our own checks."
    );
    assert_eq!(
        rejected["required"],
        json!(["error", "message", "reason", "audit_url"])
    );
    assert_eq!(rejected["properties"]["reason"]["type"], "string");
    assert_eq!(
        rejected["properties"]["reason"]["description"],
        "Why, in words."
    );
    assert!(rejected["properties"]["session_id"].is_object());
    // `audit_url` is the case's own field, not added a second time.
    assert!(rejected["properties"]["audit_url"].get("oneOf").is_some());

    let maintenance = &items(chat)[1];
    assert_eq!(maintenance["properties"]["until"]["type"], "string");
    assert_eq!(maintenance["properties"]["until"]["format"], "date-time");

    let storage = &items(chat)[3];
    assert_eq!(
        storage["properties"]["message"]["enum"],
        json!(["storage is unavailable"])
    );
    assert_eq!(storage["required"], json!(["error", "message"]));

    // The transparent case's schema and everything it refers to are in the document.
    for name in [
        "TapPassError",
        "GovernanceDecision",
        "PolicyBlock",
        "RedactionApplied",
        "ApprovalRequired",
        "AuthorizationRequired",
        "TrustTierDenied",
        "BreakGlassActive",
        "ToolIntegrityViolation",
        "OtherDecision",
    ] {
        assert!(schemas.get(name).is_some(), "missing schema {name}");
    }
}

#[test]
fn a_derived_struct_schema_is_its_body_and_can_be_renamed() {
    let doc = doc();
    let conflict = &doc["components"]["schemas"]["ConversationConflict"];
    assert_eq!(conflict["properties"]["error"]["enum"], json!(["conflict"]));
    assert_eq!(conflict["properties"]["version"]["type"], "integer");
    assert_eq!(conflict["properties"]["conversation"]["type"], "string");
    assert!(conflict["properties"].get("conversation_id").is_none());
    assert!(conflict["properties"].get("internal").is_none());
    let responses = &doc["paths"]["/chat"]["post"]["responses"];
    assert_eq!(
        responses["409"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ConversationConflict"
    );
}

#[test]
fn governance_responses_declare_every_status_with_schema_and_headers() {
    let doc = doc();
    let responses = &doc["paths"]["/chat"]["post"]["responses"];
    for status in [
        "200", "400", "401", "403", "409", "422", "428", "500", "502", "503",
    ] {
        assert!(responses.get(status).is_some(), "missing {status}");
    }
    let schema = |status: &str| &responses[status]["content"]["application/json"]["schema"];
    let code = |status: &str| schema(status)["properties"]["error"]["enum"][0].clone();
    assert_eq!(code("401"), "authorization_required");
    assert_eq!(code("422"), "tool_integrity_violation");
    assert_eq!(code("428"), "approval_required");
    assert_eq!(code("502"), "governance_protocol_error");
    assert_eq!(
        codes(schema("400")),
        ["invalid_correlation_header", "session_required"]
    );
    assert_eq!(
        codes(schema("403")),
        [
            "policy_block",
            "redaction_applied",
            "trust_tier_denied",
            "<any>"
        ]
    );
    assert_eq!(
        codes(schema("503")),
        ["break_glass_active", "governance_unavailable"]
    );
    // 400 and 503 have distinct fixed codes: oneOf.
    assert!(schema("503").get("oneOf").is_some());

    assert!(responses["503"]["headers"].get("Retry-After").is_some());
    assert!(responses["401"]["headers"]
        .get("WWW-Authenticate")
        .is_some());
    for status in ["400", "401", "403", "422", "428", "500", "502", "503"] {
        for header in [
            "X-TapPass-Session-Id",
            "X-TapPass-Agent-Uuid",
            "X-TapPass-Pipeline-Uuid",
            "X-TapPass-Audit-Url",
        ] {
            assert!(
                responses[status]["headers"].get(header).is_some(),
                "{status} {header}"
            );
        }
    }
    // Inlined: no reference that the document would have to resolve.
    assert!(!schema("428").to_string().contains("$ref"));
}

#[test]
fn problem_responses_add_the_rfc_9457_members() {
    let doc = doc();
    let responses = &doc["paths"]["/report"]["get"]["responses"];
    let schema = &responses["428"]["content"]["application/problem+json"]["schema"];
    assert!(responses["428"]["content"]
        .get("application/json")
        .is_none());
    let all = schema["allOf"].as_array().unwrap();
    assert_eq!(all[0]["required"], json!(["type", "title", "status"]));
    assert_eq!(all[0]["properties"]["status"]["type"], "integer");
    assert_eq!(
        all[1]["properties"]["error"]["enum"],
        json!(["approval_required"])
    );
    let problem = &doc["components"]["schemas"]["ProblemDetails"];
    assert_eq!(problem["properties"]["type"]["format"], "uri-reference");
}

#[test]
fn failure_and_rejection_bodies_have_schemas() {
    let doc = doc();
    let schemas = &doc["components"]["schemas"];
    let failure = &schemas["GovernanceFailure"];
    assert!(failure.get("oneOf").is_some(), "{failure}");
    assert_eq!(
        codes(failure),
        [
            "governance_misconfigured",
            "governance_protocol_error",
            "governance_unavailable"
        ]
    );
    // The public message is fixed, and the schema says which.
    assert_eq!(
        items(failure)[2]["properties"]["message"]["enum"][0],
        "the governance control plane is unavailable, so the request was refused (fail closed); retry later"
    );
    assert_eq!(
        codes(&schemas["SessionRejection"]),
        ["invalid_correlation_header", "session_required"]
    );
    let invalid = schema_json::<tappass::session::InvalidHeader>();
    assert_eq!(invalid["required"], json!(["error", "message", "header"]));
    assert_eq!(
        tappass::extract::AgentRejection::name(),
        "AgentRejection".to_owned()
    );
}

/// The schemas describe the bodies as rendered: every key of a rendered body
/// is a property, and every required property is in the body.
#[tokio::test]
async fn schemas_match_the_rendered_bodies() {
    let cases = [
        json!({"decision": "policy_block", "blocked_by": "detect_pii", "reason": "PII", "session_id": "ses_1"}),
        json!({"decision": "redaction_applied", "redactions": [{"kind": "email", "start": 1, "end": 5, "replacement": "[email]"}], "redacted_content": "x"}),
        json!({"decision": "approval_required", "approval_url": "https://a/1", "resume_token": "r", "expires_at": "2030-01-01T00:00:00Z"}),
        json!({"code": "authorization_required", "provider": "github", "scopes": ["repo"]}),
        json!({"decision": "trust_tier_denied", "required_tier": "gold", "actual_tier": "bronze"}),
        json!({"decision": "break_glass_active", "level": "full_bypass", "expires_at": "2030-01-01T00:00:00Z"}),
        json!({"decision": "tool_integrity_violation", "tool_name": "t", "violation": "revoked"}),
        json!({"decision": "quarantined", "reason": "r"}),
    ];
    for case in cases {
        let decision = GovernanceDecision::from_json(&case).unwrap();
        let schema = match &decision {
            GovernanceDecision::PolicyBlock(_) => schema_json::<tappass::decision::PolicyBlock>(),
            GovernanceDecision::RedactionApplied(_) => {
                schema_json::<tappass::decision::RedactionApplied>()
            }
            GovernanceDecision::ApprovalRequired(_) => {
                schema_json::<tappass::decision::ApprovalRequired>()
            }
            GovernanceDecision::AuthorizationRequired(_) => {
                schema_json::<tappass::decision::AuthorizationRequired>()
            }
            GovernanceDecision::TrustTierDenied(_) => {
                schema_json::<tappass::decision::TrustTierDenied>()
            }
            GovernanceDecision::BreakGlassActive(_) => {
                schema_json::<tappass::decision::BreakGlassActive>()
            }
            GovernanceDecision::ToolIntegrityViolation(_) => {
                schema_json::<tappass::decision::ToolIntegrityViolation>()
            }
            _ => schema_json::<tappass::decision::OtherDecision>(),
        };
        let response = tappass::Error::from(decision).into_response();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        for key in body.as_object().unwrap().keys() {
            assert!(
                properties.contains_key(key),
                "{key} of {body} not in {schema}"
            );
        }
        for key in schema["required"].as_array().unwrap() {
            assert!(
                body.get(key.as_str().unwrap()).is_some(),
                "{key} not in {body}"
            );
        }
        if let Some(code) = schema["properties"]["error"]["enum"].get(0) {
            assert_eq!(&body["error"], code);
        }
    }
}
