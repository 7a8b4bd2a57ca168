//! Capability tokens in axum, in-process (`tower::ServiceExt::oneshot`):
//! `#[governed(tool = …)]`, `RequireCapability` (router-wide and per
//! route), the `AuthResult` and `RequireClearance` extractors, where the
//! authorizer comes from, and each refusal's status, code and body.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::request::Parts;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tappass::capability::{
    level, AuthResult, Authorizer, CapabilityToken, Clearance, ConstraintSet, Exact,
    RequireCapability, RequireClearance, SigningKey, Subpath,
};
use tappass::propagate::PresentCapability;
use tappass::TapPassLayer;
use tower::ServiceExt;

/// The control plane's key, the agent's, a stranger's.
pub fn control_plane() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
}
pub fn agent() -> SigningKey {
    SigningKey::from_bytes(&[12; 32])
}
fn stranger() -> SigningKey {
    SigningKey::from_bytes(&[13; 32])
}

pub fn authorizer() -> Authorizer {
    Authorizer::builder()
        .trusted_root(control_plane().public_key())
        .min_trust_score(50)
        .build()
        .unwrap()
}

/// `read_file` under `/data`, `search` for `q` in `docs`/`wiki`; INTERNAL.
pub fn token() -> CapabilityToken {
    CapabilityToken::builder()
        .holder(agent().public_key())
        .tool(
            "read_file",
            ConstraintSet::new().with("path", Subpath::new("/data").unwrap()),
        )
        .tool(
            "search",
            ConstraintSet::new()
                .with("q", tappass::capability::Pattern::new("*"))
                .with("index", tappass::capability::OneOf::new(["docs", "wiki"])),
        )
        .tool(
            "create_ticket",
            ConstraintSet::new()
                .with("title", tappass::capability::Pattern::new("*"))
                .with("priority", tappass::capability::Range::at_most(3).unwrap()),
        )
        .trust_score(80)
        .session_id("ses_routes")
        .agent_id("agent-routes")
        .sign(&control_plane())
        .unwrap()
}

fn args(v: Value) -> tappass::capability::Args {
    v.as_object().unwrap().clone()
}

/// Counts the handler's runs and the runs of an extractor placed before the
/// body: a refused request reaches neither.
#[derive(Clone, Default)]
struct Runs {
    handler: Arc<AtomicUsize>,
    extractor: Arc<AtomicUsize>,
}

/// An extractor that counts itself (in the handler's `Extension<Runs>`).
struct Counted;

impl<S: Send + Sync> FromRequestParts<S> for Counted {
    type Rejection = StatusCode;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        if let Some(runs) = parts.extensions.get::<Runs>() {
            runs.extractor.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Counted)
    }
}

#[tappass::governed(tool = "read_file", path_param = "path", min_clearance = "INTERNAL")]
async fn read(
    auth: AuthResult,
    _counted: Counted,
    Extension(runs): Extension<Runs>,
    Path(path): Path<String>,
) -> String {
    runs.handler.fetch_add(1, Ordering::SeqCst);
    format!("{} read {path}", auth.token_id())
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    q: String,
    index: Option<String>,
}

#[tappass::governed(tool = "search", query = ["q", "index"])]
async fn search(auth: Option<AuthResult>, Query(query): Query<SearchQuery>) -> String {
    format!(
        "{} searched {} in {}",
        auth.map(|a| a.tool().to_owned()).unwrap_or_default(),
        query.q,
        query.index.unwrap_or_default()
    )
}

#[tappass::governed(tool = "reset")]
async fn reset(RequireClearance(auth, ..): RequireClearance<level::System>) -> String {
    format!("reset by {}", auth.token_id())
}

/// The service: behind a layer that only verifies capability tokens.
fn app(problem_json: bool) -> (Router, Runs) {
    let runs = Runs::default();
    let layer = TapPassLayer::builder()
        .capabilities(authorizer())
        .problem_json(problem_json)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/files/{*path}", get(read))
        .route("/search", get(search))
        .route("/reset", post(reset))
        .layer(Extension(runs.clone()))
        .layer(layer);
    (app, runs)
}

async fn send(
    app: &Router,
    request: Request<axum::body::Body>,
) -> (StatusCode, http::HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

fn get_with(uri: &str, token: &CapabilityToken, tool: &str, a: Value) -> Request<axum::body::Body> {
    Request::get(uri)
        .body(axum::body::Body::empty())
        .unwrap()
        .with_capability(token, &agent(), tool, &args(a))
}

#[tokio::test]
async fn a_governed_tool_route_verifies_the_call_before_any_extractor() {
    let (app, runs) = app(false);
    let t = token();
    let (status, _, body) = send(
        &app,
        get_with(
            "/files//data/q3%20report.pdf",
            &t,
            "read_file",
            json!({"path": "/data/q3 report.pdf"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, format!("{} read /data/q3 report.pdf", t.id()));
    assert_eq!(runs.handler.load(Ordering::SeqCst), 1);
    assert_eq!(runs.extractor.load(Ordering::SeqCst), 1);

    // The same proof for other arguments: refused before any extractor.
    let pop_for_q3 = get_with(
        "/files//data/other.pdf",
        &t,
        "read_file",
        json!({"path": "/data/q3 report.pdf"}),
    );
    let (status, _, body) = send(&app, pop_for_q3).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "capability_pop_invalid");
    // Signed for its own arguments, the call is outside the grant.
    let (status, _, body) = send(
        &app,
        get_with(
            "/files//etc/passwd",
            &t,
            "read_file",
            json!({"path": "/etc/passwd"}),
        ),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "capability_constraint_violated");
    assert_eq!(runs.handler.load(Ordering::SeqCst), 1);
    assert_eq!(
        runs.extractor.load(Ordering::SeqCst),
        1,
        "no extractor ran for a refused call"
    );
}

#[tokio::test]
async fn query_parameters_are_arguments_and_an_optional_auth_result_reads_the_call() {
    let (app, _) = app(false);
    let t = token();
    let (status, _, body) = send(
        &app,
        get_with(
            "/search?q=rust+async&index=docs&page=2",
            &t,
            "search",
            json!({"q": "rust async", "index": "docs"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "search searched rust async in docs");
    // An index outside the token's OneOf.
    let (status, _, body) = send(
        &app,
        get_with(
            "/search?q=x&index=hr",
            &t,
            "search",
            json!({"q": "x", "index": "hr"}),
        ),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["argument"].as_str()),
        (403, Some("index"))
    );
    // A named parameter given twice: which one was signed is a guess.
    let (status, _, body) = send(
        &app,
        get_with("/search?q=a&q=b", &t, "search", json!({"q": "b"})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("capability_arguments_unreadable"))
    );
}

/// Each refusal: its status, its code, its body's fields, and never the
/// token or the proof.
#[tokio::test]
async fn each_rejection_has_its_status_code_and_body() {
    let (app, runs) = app(false);
    let t = token();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let path = json!({"path": "/data/x"});
    let expired = CapabilityToken::builder()
        .holder(agent().public_key())
        .tool("read_file", ConstraintSet::new())
        .trust_score(80)
        .issued_at(now - 600)
        .expires_at(now - 1)
        .sign(&control_plane())
        .unwrap();
    let low_trust = CapabilityToken::builder()
        .holder(agent().public_key())
        .tool("read_file", ConstraintSet::new())
        .trust_score(10)
        .sign(&control_plane())
        .unwrap();
    let untrusted = CapabilityToken::builder()
        .holder(agent().public_key())
        .tool("read_file", ConstraintSet::new())
        .trust_score(80)
        .sign(&stranger())
        .unwrap();
    let external = CapabilityToken::builder()
        .holder(agent().public_key())
        .tool("read_file", ConstraintSet::new())
        .trust_score(80)
        .clearance(Clearance::External)
        .sign(&control_plane())
        .unwrap();
    let other_tool = CapabilityToken::builder()
        .holder(agent().public_key())
        .tool("search", ConstraintSet::new())
        .trust_score(80)
        .sign(&control_plane())
        .unwrap();
    let bare = || {
        Request::get("/files//data/x")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let token_only = |t: &CapabilityToken| {
        Request::get("/files//data/x")
            .header("x-tappass-token", t.encode())
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let mut bad_pop = get_with("/files//data/x", &t, "read_file", path.clone());
    bad_pop
        .headers_mut()
        .insert("x-tappass-pop", "AAAA".parse().unwrap());
    let cases: Vec<(&str, Request<axum::body::Body>, u16, &str, Value)> = vec![
        (
            "missing",
            bare(),
            401,
            "capability_missing",
            json!({"header": "x-tappass-token"}),
        ),
        (
            "malformed",
            Request::get("/files//data/x")
                .header("x-tappass-token", "not-a-token")
                .body(axum::body::Body::empty())
                .unwrap(),
            401,
            "capability_invalid",
            json!({}),
        ),
        (
            "untrusted",
            get_with("/files//data/x", &untrusted, "read_file", path.clone()),
            401,
            "capability_invalid",
            json!({}),
        ),
        (
            "expired",
            get_with("/files//data/x", &expired, "read_file", path.clone()),
            401,
            "capability_expired",
            json!({"expires_at": now - 1}),
        ),
        (
            "tool not granted",
            get_with("/files//data/x", &other_tool, "read_file", path.clone()),
            403,
            "capability_tool_not_granted",
            json!({"tool": "read_file"}),
        ),
        (
            "constraint",
            get_with("/files//etc/x", &t, "read_file", json!({"path": "/etc/x"})),
            403,
            "capability_constraint_violated",
            json!({"tool": "read_file", "argument": "path"}),
        ),
        (
            "pop missing",
            token_only(&t),
            401,
            "capability_pop_missing",
            json!({"header": "x-tappass-pop"}),
        ),
        (
            "pop invalid",
            bad_pop,
            401,
            "capability_pop_invalid",
            json!({"tool": "read_file"}),
        ),
        (
            "clearance",
            get_with("/files//data/x", &external, "read_file", path.clone()),
            403,
            "capability_clearance",
            json!({"required_clearance": "INTERNAL", "clearance": "EXTERNAL"}),
        ),
        (
            "trust score",
            get_with("/files//data/x", &low_trust, "read_file", path.clone()),
            403,
            "capability_trust_score",
            json!({"min_trust_score": 50, "trust_score": 10}),
        ),
    ];
    for (case, request, status, code, fields) in cases {
        let sent: Vec<String> = request
            .headers()
            .iter()
            .filter(|(n, _)| n.as_str().starts_with("x-tappass"))
            .map(|(_, v)| v.to_str().unwrap().to_owned())
            .collect();
        let (got, headers, body) = send(&app, request).await;
        assert_eq!(got.as_u16(), status, "{case}: {body}");
        assert_eq!(body["error"], code, "{case}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}"
        );
        for (key, value) in fields.as_object().unwrap() {
            assert_eq!(&body[key], value, "{case}: {key}");
        }
        if status == 401 {
            assert_eq!(
                headers["www-authenticate"],
                format!("TapPass-Capability error=\"{code}\""),
                "{case}"
            );
        } else {
            assert!(headers.get("www-authenticate").is_none(), "{case}");
        }
        let text = body.to_string();
        for value in sent.iter().filter(|v| v.len() > 8) {
            assert!(!text.contains(value.as_str()), "{case} echoes a header");
        }
    }
    assert_eq!(runs.handler.load(Ordering::SeqCst), 0);
    assert_eq!(runs.extractor.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn under_problem_json_a_refusal_is_problem_details() {
    let (app, _) = app(true);
    let request = Request::get("/files//data/x")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, request).await;
    assert_eq!(status, 401);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["type"], "urn:tappass:error:capability_missing");
    assert_eq!(body["status"], 401);
    assert_eq!(body["error"], "capability_missing");
    assert_eq!(body["header"], "x-tappass-token");
    assert!(body["title"].is_string() && body["detail"].is_string());
}

#[tokio::test]
async fn require_clearance_reads_the_verified_call() {
    let (app, _) = app(false);
    let t = token(); // INTERNAL: not SYSTEM
    let grant_reset = CapabilityToken::builder()
        .holder(agent().public_key())
        .tool("reset", ConstraintSet::new())
        .trust_score(80)
        .clearance(Clearance::System)
        .sign(&control_plane())
        .unwrap();
    let internal_reset = CapabilityToken::builder()
        .holder(agent().public_key())
        .tool("reset", ConstraintSet::new())
        .trust_score(80)
        .sign(&control_plane())
        .unwrap();
    let post_with = |t: &CapabilityToken| {
        Request::post("/reset")
            .body(axum::body::Body::empty())
            .unwrap()
            .with_capability(t, &agent(), "reset", &args(json!({})))
    };
    let (status, _, body) = send(&app, post_with(&grant_reset)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = send(&app, post_with(&internal_reset)).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "capability_clearance");
    assert_eq!(body["required_clearance"], "SYSTEM");
    let (status, _, body) = send(&app, post_with(&t)).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (403, Some("capability_tool_not_granted"))
    );
}

/// Where the authorizer comes from: the layer (above), an `Extension`, the
/// state; without any, a `500` that says how to configure one.
#[tokio::test]
async fn the_authorizer_comes_from_the_layer_an_extension_or_the_state() {
    #[tappass::governed(tool = "read_file", path_param = "path")]
    async fn plain(Path(path): Path<String>) -> String {
        path
    }
    #[derive(Clone)]
    struct AppState {
        authorizer: Authorizer,
    }
    impl axum::extract::FromRef<AppState> for Authorizer {
        fn from_ref(state: &AppState) -> Authorizer {
            state.authorizer.clone()
        }
    }
    #[tappass::governed(tool = "read_file", path_param = "path")]
    async fn stateful(State(_): State<AppState>, Path(path): Path<String>) -> String {
        path
    }
    let t = token();
    let ok = || {
        get_with(
            "/files//data/x",
            &t,
            "read_file",
            json!({"path": "/data/x"}),
        )
    };
    let by_extension = Router::new()
        .route("/files/{*path}", get(plain))
        .layer(Extension(authorizer()));
    assert_eq!(send(&by_extension, ok()).await.0, 200);
    let by_state = Router::new()
        .route("/files/{*path}", get(stateful))
        .with_state(AppState {
            authorizer: authorizer(),
        });
    assert_eq!(send(&by_state, ok()).await.0, 200);
    let none = Router::new().route("/files/{*path}", get(plain));
    let (status, _, body) = send(&none, ok()).await;
    assert_eq!(status, 500);
    assert_eq!(body["error"], "governance_misconfigured");
}

#[tokio::test]
async fn a_path_param_the_route_lacks_is_a_500_never_an_unchecked_argument() {
    #[tappass::governed(tool = "read_file", path_param = "file")]
    async fn misnamed(Path(path): Path<String>) -> String {
        path
    }
    let app = Router::new()
        .route("/files/{*path}", get(misnamed))
        .layer(Extension(authorizer()));
    let t = token();
    let (status, _, body) = send(&app, get_with("/files//etc/x", &t, "read_file", json!({}))).await;
    assert_eq!(status, 500);
    assert_eq!(body["error"], "governance_misconfigured");
}

/// `RequireCapability::new`: no route reachable without a valid token
/// (the SDK's `SecureAPIRouter`); per route, `RequireCapability::tool`
/// reads the JSON body's members too.
#[tokio::test]
async fn require_capability_guards_a_router_and_reads_the_body_per_route() {
    let app: Router = Router::new()
        .route(
            "/tickets",
            post(
                |auth: AuthResult, axum::Json(body): axum::Json<Value>| async move {
                    format!("{} created {}", auth.tool(), body["title"])
                },
            )
            .route_layer(RequireCapability::tool("create_ticket").body(["title", "priority"])),
        )
        .route("/health", get(|| async { "ok" }))
        .route(
            "/who",
            get(|auth: Option<AuthResult>| async move { format!("{}", auth.is_some()) }),
        )
        .layer(RequireCapability::new(authorizer()).min_clearance(Clearance::Partner))
        .layer(Extension(authorizer()));
    let t = token();
    // Router-wide: a valid token is needed everywhere...
    let (status, _, body) = send(
        &app,
        Request::get("/health")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (401, Some("capability_missing"))
    );
    let valid = || {
        Request::get("/who")
            .header("x-tappass-token", t.encode())
            .body(axum::body::Body::empty())
            .unwrap()
    };
    // ...and it is a token check, not a call: no `AuthResult` comes of it.
    assert_eq!(send(&app, valid()).await.2, json!(false));
    let forged = Request::get("/health")
        .header("x-tappass-token", token_signed_by(&stranger()).encode())
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&app, forged).await.2["error"], "capability_invalid");
    // Per route: the body's members are arguments, with their JSON values.
    let ticket = json!({"title": "printer", "priority": 2, "note": "not an argument"});
    let post_ticket = |signed: Value| {
        Request::post("/tickets")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(ticket.to_string()))
            .unwrap()
            .with_capability(&t, &agent(), "create_ticket", &args(signed))
    };
    let (status, _, body) = send(
        &app,
        post_ticket(json!({"title": "printer", "priority": 2})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "create_ticket created \"printer\"");
    let (status, _, body) = send(
        &app,
        post_ticket(json!({"title": "printer", "priority": 1})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (401, Some("capability_pop_invalid"))
    );
    let urgent = Request::post("/tickets")
        .body(axum::body::Body::from(
            json!({"title": "x", "priority": 9}).to_string(),
        ))
        .unwrap()
        .with_capability(
            &t,
            &agent(),
            "create_ticket",
            &args(json!({"title": "x", "priority": 9})),
        );
    let (status, _, body) = send(&app, urgent).await;
    assert_eq!(
        (status.as_u16(), body["argument"].as_str()),
        (403, Some("priority"))
    );
    let not_json = Request::post("/tickets")
        .header("x-tappass-token", t.encode())
        .body(axum::body::Body::from("[1, 2]"))
        .unwrap();
    assert_eq!(
        send(&app, not_json).await.2["error"],
        "capability_arguments_unreadable"
    );
}

fn token_signed_by(key: &SigningKey) -> CapabilityToken {
    CapabilityToken::builder()
        .holder(agent().public_key())
        .tool(
            "read_file",
            ConstraintSet::new().with("path", Exact::new("/data/x")),
        )
        .trust_score(80)
        .sign(key)
        .unwrap()
}

#[tokio::test]
async fn an_auth_result_without_a_checked_call_is_a_500() {
    let app: Router = Router::new()
        .route(
            "/",
            get(|auth: AuthResult| async move { auth.tool().to_owned() }),
        )
        .layer(Extension(authorizer()));
    let t = token();
    let (status, _, body) = send(&app, get_with("/", &t, "read_file", json!({}))).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (500, Some("governance_misconfigured"))
    );
}

#[cfg(feature = "utoipa")]
#[test]
fn the_openapi_schema_lists_every_refusal_code() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_value(tappass::capability::CapabilityRejection::schema()).unwrap();
    let text = schema.to_string();
    for code in [
        "capability_missing",
        "capability_invalid",
        "capability_expired",
        "capability_pop_missing",
        "capability_pop_invalid",
        "capability_tool_not_granted",
        "capability_constraint_violated",
        "capability_clearance",
        "capability_trust_score",
        "capability_arguments_unreadable",
        "governance_misconfigured",
    ] {
        assert!(text.contains(code), "{code} is not in the schema: {text}");
    }
}
