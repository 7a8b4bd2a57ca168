//! OpenAPI schemas of the governance responses, for [`utoipa`] 5 (cargo
//! feature `utoipa`).
//!
//! - Every governance body has a schema ([`utoipa::ToSchema`]): one per
//!   decision kind ([`PolicyBlock`],
//!   [`ApprovalRequired`], …), the
//!   decision ([`GovernanceDecision`](crate::GovernanceDecision)), the
//!   toolkit's error ([`Error`](crate::Error), named `TapPassError`), the
//!   failures alone ([`FailureBody`]), the rejections of the layer and the
//!   extractors ([`SessionRejection`],
//!   [`InvalidHeader`],
//!   [`AgentRejection`]) and the RFC 9457
//!   members ([`ProblemDetails`]).
//! - [`GovernanceResponses`] declares, in one word, the responses that any
//!   governed route can give besides its own: `400`, `401`, `403`, `422`,
//!   `428`, `500`, `502` and `503`, each with its body's schema (inlined, so
//!   the document needs nothing else) and headers (the correlation headers,
//!   `Retry-After`, `WWW-Authenticate`). [`ProblemGovernanceResponses`] is
//!   the same for a layer built with
//!   [`problem_json(true)`](crate::layer::TapPassLayerBuilder::problem_json).
//! - Your own error types get a schema from the derive: add
//!   `#[governance(openapi)]` beside `#[derive(tappass::GovernanceError)]`
//!   (see the [macros guide](derive@crate::GovernanceError#openapi-schemas)).
//!
//! ```
//! use axum::Json;
//! use utoipa::OpenApi;
//!
//! #[derive(serde::Serialize, utoipa::ToSchema)]
//! struct ChatOut {
//!     content: String,
//! }
//!
//! /// One governed chat call.
//! #[utoipa::path(
//!     post,
//!     path = "/chat",
//!     responses((status = 200, body = ChatOut), tappass::openapi::GovernanceResponses)
//! )]
//! async fn chat(agent: tappass::Agent) -> Result<Json<ChatOut>, tappass::Error> {
//!     let content = agent.chat("Summarize Q4 revenue").await?.content;
//!     Ok(Json(ChatOut { content }))
//! }
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(chat))]
//! struct ApiDoc;
//!
//! let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
//! let responses = &doc["paths"]["/chat"]["post"]["responses"];
//! for status in ["200", "400", "401", "403", "422", "428", "500", "502", "503"] {
//!     assert!(responses.get(status).is_some(), "{status}");
//! }
//! let approval = &responses["428"]["content"]["application/json"]["schema"];
//! assert_eq!(approval["properties"]["error"]["enum"][0], "approval_required");
//! ```
//!
//! The schemas follow the bodies exactly: `error` (an `enum` of the case's
//! code), `message`, the case's fields (always present, `null` when empty),
//! and `session_id` / `audit_url` when the request has a session. A type with
//! several cases is a `oneOf` of them when their codes are fixed and distinct,
//! and an `anyOf` otherwise (a `transparent` case or a code read from a field
//! may overlap another case).
//!
//! This module pins utoipa 5, whose `rust-version` matches this crate's.

#[doc(hidden)]
pub mod schema;

use std::borrow::Cow;
use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AllOfBuilder, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{ContentBuilder, RefOr};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

use self::schema::{cases, Case, CaseSchema};
use crate::decision::{
    ApprovalRequired, AuthorizationRequired, BreakGlassActive, OtherDecision, PolicyBlock,
    RedactionApplied, ToolIntegrityViolation, TrustTierDenied,
};
use crate::extract::{AgentRejection, SessionRejection};
use crate::response::GovernanceError;
use crate::response::PROBLEM_JSON;
use crate::session::InvalidHeader;

/// The governance responses of a governed route, for the `responses(…)` of
/// `#[utoipa::path]`: `400` (a malformed correlation header, a missing
/// session), `401` (authorization required), `403` (policy block, redaction,
/// trust tier, other decisions), `422` (tool integrity), `428` (approval
/// required), `500` (misconfigured), `502` (protocol error) and `503` (break
/// glass, control plane unavailable), as `application/json`.
///
/// ```
/// # #[derive(serde::Serialize, utoipa::ToSchema)] struct Out { content: String }
/// #[utoipa::path(
///     get,
///     path = "/report",
///     responses((status = 200, body = Out), tappass::openapi::GovernanceResponses)
/// )]
/// async fn report() -> Result<axum::Json<Out>, tappass::Error> {
///     # todo!()
/// }
/// ```
///
/// Each response has its body's schema inlined and the headers it carries:
/// the correlation headers on all of them, `Retry-After` on `503` and
/// `WWW-Authenticate` on `401`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GovernanceResponses;

/// [`GovernanceResponses`] as `application/problem+json`, for a layer built
/// with [`problem_json(true)`](crate::layer::TapPassLayerBuilder::problem_json):
/// each body is the [`ProblemDetails`] members together with the plain body's.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemGovernanceResponses;

impl IntoResponses for GovernanceResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(false)
    }
}

impl IntoResponses for ProblemGovernanceResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(true)
    }
}

/// The RFC 9457 members of a problem+json body: `type`, `title`, `status`,
/// `detail` (see [`tappass::response`](crate::response#problem-details-rfc-9457)).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemDetails;

impl PartialSchema for ProblemDetails {
    fn schema() -> RefOr<Schema> {
        let string = || ObjectBuilder::new().schema_type(SchemaType::new(Type::String));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("Problem details (RFC 9457)."))
            .property(
                "type",
                string()
                    .format(Some(SchemaFormat::Custom("uri-reference".to_owned())))
                    .description(Some(
                        "`urn:tappass:error:` followed by the `error` code, e.g. `urn:tappass:error:policy_block`.",
                    )),
            )
            .required("type")
            .property(
                "title",
                string().description(Some(
                    "The canonical reason phrase of the status, e.g. `Forbidden`.",
                )),
            )
            .required("title")
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("The HTTP status.")),
            )
            .required("status")
            .property(
                "detail",
                string().description(Some("The `message`: what happened, in words.")),
            )
            .into()
    }
}

impl ToSchema for ProblemDetails {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ProblemDetails")
    }
}

/// The body of a failure of the governance itself, as opposed to a decision:
/// `governance_misconfigured` (500), `governance_protocol_error` (502) or
/// `governance_unavailable` (503, fail closed). Its message is fixed; the
/// details go to the service's logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailureBody;

impl PartialSchema for FailureBody {
    fn schema() -> RefOr<Schema> {
        cases(
            Some("A failure of the governance itself; the request was refused (fail closed)."),
            vec![misconfigured(), protocol_error(), unavailable()],
        )
    }
}

impl ToSchema for FailureBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("GovernanceFailure")
    }
}

impl PartialSchema for InvalidHeader {
    fn schema() -> RefOr<Schema> {
        invalid_correlation().1
    }
}

impl ToSchema for InvalidHeader {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("InvalidHeader")
    }
}

impl PartialSchema for SessionRejection {
    fn schema() -> RefOr<Schema> {
        cases(
            Some("A request refused before the handler ran, for its correlation headers."),
            vec![invalid_correlation(), session_required()],
        )
    }
}

impl ToSchema for SessionRejection {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SessionRejection")
    }
}

impl PartialSchema for AgentRejection {
    fn schema() -> RefOr<Schema> {
        agent_missing().1
    }
}

impl ToSchema for AgentRejection {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AgentRejection")
    }
}

fn invalid_correlation() -> CaseSchema {
    Case::new(
        &mut Vec::new(),
        400,
        Some("invalid_correlation_header"),
        Some("A correlation header is malformed; its value is never echoed."),
        None,
    )
    .field::<String>(
        "header",
        Some("The header's name, e.g. `X-TapPass-Session-Id`."),
    )
    .build()
}

fn session_required() -> CaseSchema {
    Case::new(
        &mut Vec::new(),
        400,
        Some("session_required"),
        Some("The route needs a TapPass session: send `X-TapPass-Session-Id`."),
        None,
    )
    .build()
}

fn agent_missing() -> CaseSchema {
    Case::new(
        &mut Vec::new(),
        500,
        Some("governance_misconfigured"),
        Some("The governance layer of the service is missing (no `TapPassLayer`, no agent)."),
        None,
    )
    .build()
}

fn failure(error: crate::error::Error, docs: &'static str) -> CaseSchema {
    let status = error.status().as_u16();
    // The codes of `Error`'s failures are literals, hence 'static.
    let code = match error.code() {
        "governance_misconfigured" => "governance_misconfigured",
        "governance_unavailable" => "governance_unavailable",
        _ => "governance_protocol_error",
    };
    Case::new(
        &mut Vec::new(),
        status,
        Some(code),
        Some(docs),
        error.public_message(),
    )
    .build()
}

fn misconfigured() -> CaseSchema {
    failure(
        crate::error::Error::Config(String::new()),
        "The governance of the service is misconfigured (settings, API key).",
    )
}

fn protocol_error() -> CaseSchema {
    failure(
        crate::error::Error::Protocol(String::new()),
        "The control plane answered outside its protocol.",
    )
}

fn unavailable() -> CaseSchema {
    failure(
        crate::error::Error::unavailable("", None),
        "The control plane is unavailable; the request was refused (fail closed). Retry later.",
    )
}

/// The responses of [`GovernanceResponses`], or of
/// [`ProblemGovernanceResponses`] with `problem`.
fn responses(problem: bool) -> BTreeMap<String, RefOr<Response>> {
    let body = |schema: RefOr<Schema>| -> RefOr<Schema> {
        if problem {
            AllOfBuilder::new()
                .item(ProblemDetails::schema())
                .item(schema)
                .into()
        } else {
            schema
        }
    };
    let content_type = if problem {
        PROBLEM_JSON
    } else {
        "application/json"
    };
    let response = |description: &str, schema: RefOr<Schema>| -> ResponseBuilder {
        let mut builder = ResponseBuilder::new().description(description).content(
            content_type,
            ContentBuilder::new().schema(Some(body(schema))).build(),
        );
        for (name, description) in CORRELATION_HEADERS {
            builder = builder.header(name, header(description));
        }
        builder
    };

    let mut out = BTreeMap::new();
    let mut add = |status: &str, builder: ResponseBuilder| {
        out.insert(status.to_owned(), RefOr::T(builder.build()));
    };
    add(
        "400",
        response(
            "Governance: a malformed correlation header (`invalid_correlation_header`) or a missing session (`session_required`).",
            SessionRejection::schema(),
        ),
    );
    add(
        "401",
        response(
            "Governance: the end user must connect an account first (`authorization_required`).",
            AuthorizationRequired::schema(),
        )
        .header(
            "WWW-Authenticate",
            header("`TapPass realm=\"tappass\"` with the provider, `authorize_url` and scope."),
        ),
    );
    add(
        "403",
        response(
            "Governance: a policy block, a redaction treated as an error, a too-low trust tier or another decision.",
            cases(
                None,
                vec![
                    (Some("policy_block"), PolicyBlock::schema()),
                    (Some("redaction_applied"), RedactionApplied::schema()),
                    (Some("trust_tier_denied"), TrustTierDenied::schema()),
                    (None, OtherDecision::schema()),
                ],
            ),
        ),
    );
    add(
        "422",
        response(
            "Governance: the tool is unapproved, altered or revoked (`tool_integrity_violation`).",
            ToolIntegrityViolation::schema(),
        ),
    );
    add(
        "428",
        response(
            "Governance: paused until a human approves (`approval_required`).",
            ApprovalRequired::schema(),
        ),
    );
    add(
        "500",
        response(
            "Governance: the service's governance is misconfigured (`governance_misconfigured`).",
            cases(None, vec![misconfigured(), agent_missing()]),
        ),
    );
    add(
        "502",
        response(
            "Governance: the control plane answered outside its protocol (`governance_protocol_error`).",
            protocol_error().1,
        ),
    );
    add(
        "503",
        response(
            "Governance: break glass is active (`break_glass_active`) or the control plane is unavailable (`governance_unavailable`, fail closed).",
            cases(
                None,
                vec![
                    (Some("break_glass_active"), BreakGlassActive::schema()),
                    unavailable(),
                ],
            ),
        )
        .header(
            "Retry-After",
            header("When break glass ends, as an HTTP date."),
        ),
    );
    out
}

const CORRELATION_HEADERS: [(&str, &str); 4] = [
    (
        "X-TapPass-Session-Id",
        "The request's TapPass session, when it has one.",
    ),
    ("X-TapPass-Agent-Uuid", "The session's agent, when known."),
    (
        "X-TapPass-Pipeline-Uuid",
        "The session's pipeline, when known.",
    ),
    (
        "X-TapPass-Audit-Url",
        "The dashboard link of the session, when known.",
    ),
];

fn header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(SchemaType::new(Type::String)))
        .description(Some(description))
        .build()
}
