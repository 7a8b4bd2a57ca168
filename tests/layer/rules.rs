//! The layer's rules (the `tappass::layer` docs), one test per rule, through
//! real axum routers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tappass::{Agent, Session, TapPassLayer};
use tower::ServiceExt;

use crate::support::sockets::refused_url;

fn layer(auto_open: bool) -> TapPassLayer {
    TapPassLayer::builder()
        .tappass_url(refused_url())
        .api_key("tp_layer_tests")
        .auto_open_session(auto_open)
        .build()
        .unwrap()
}

/// What the handler saw of the current session, as text.
async fn seen() -> String {
    match tappass::current_session() {
        Some(s) => format!(
            "{}|{}|{}|{}",
            s.id(),
            s.agent_uuid().unwrap_or("-"),
            s.pipeline_uuid().unwrap_or("-"),
            s.audit_url().unwrap_or("-")
        ),
        None => "none".to_owned(),
    }
}

fn app(auto_open: bool) -> Router {
    Router::new().route("/", get(seen)).layer(layer(auto_open))
}

async fn call(app: Router, headers: &[(&str, &str)]) -> (StatusCode, http::HeaderMap, String) {
    let mut request = Request::get("/");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

const FULL: [(&str, &str); 4] = [
    ("X-TapPass-Session-Id", "ses_join"),
    ("X-TapPass-Agent-UUID", "agt-1"),
    ("X-TapPass-Pipeline-Uuid", "pip-1"),
    (
        "X-TapPass-Audit-Url",
        "https://tappass.example.com/sessions/ses_join",
    ),
];

#[tokio::test]
async fn joins_the_callers_session_and_echoes_all_correlation_headers() {
    for auto_open in [false, true] {
        let (status, headers, body) = call(app(auto_open), &FULL).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            "ses_join|agt-1|pip-1|https://tappass.example.com/sessions/ses_join"
        );
        assert_eq!(headers["x-tappass-session-id"], "ses_join");
        assert_eq!(headers["x-tappass-agent-uuid"], "agt-1");
        assert_eq!(headers["x-tappass-pipeline-uuid"], "pip-1");
        assert_eq!(
            headers["x-tappass-audit-url"],
            "https://tappass.example.com/sessions/ses_join"
        );
    }
}

#[tokio::test]
async fn joins_through_the_session_alias_header() {
    let (_, headers, body) = call(app(false), &[("X-TapPass-Session", "ses_alias")]).await;
    assert_eq!(body, "ses_alias|-|-|-");
    assert_eq!(headers["x-tappass-session-id"], "ses_alias");
    assert!(headers.get("x-tappass-agent-uuid").is_none());
}

/// A service built on the Python SDK sends `""` for the fields it does not
/// know: an empty optional header is absent (not echoed, not learned from),
/// while an empty session id stays a `400`.
#[tokio::test]
async fn empty_optional_headers_are_absent_as_the_python_sdk_sends_them() {
    let (status, headers, body) = call(
        app(false),
        &[
            ("X-TapPass-Session", "ses_py"),
            ("X-TapPass-Agent-UUID", ""),
            ("X-TapPass-Pipeline-UUID", ""),
            ("X-TapPass-Audit-URL", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "ses_py|-|-|-");
    assert_eq!(headers["x-tappass-session-id"], "ses_py");
    for absent in [
        "x-tappass-agent-uuid",
        "x-tappass-pipeline-uuid",
        "x-tappass-audit-url",
    ] {
        assert!(headers.get(absent).is_none(), "{absent} was echoed");
    }
    let (status, _, body) = call(app(false), &[("X-TapPass-Session", "")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn opens_a_fresh_session_when_asked_and_none_is_sent() {
    let (_, headers, body) = call(app(true), &[]).await;
    let id = headers["x-tappass-session-id"].to_str().unwrap().to_owned();
    assert!(id.starts_with("ses_") && id.len() >= 4 + 22, "{id}");
    assert!(id[4..]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(body, format!("{id}|-|-|-"));
    let (_, again, _) = call(app(true), &[]).await;
    assert_ne!(
        again["x-tappass-session-id"],
        id.as_str(),
        "every request gets its own"
    );
}

#[tokio::test]
async fn no_session_without_headers_when_auto_open_is_off() {
    let (status, headers, body) = call(app(false), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "none");
    assert!(headers.get("x-tappass-session-id").is_none());
}

#[tokio::test]
async fn echoes_headers_on_error_responses_too() {
    let app = Router::new()
        .route(
            "/fail",
            get(|| async { Err::<(), _>(tappass::Error::Protocol("x".into())) }),
        )
        .route(
            "/panic-free-500",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .layer(layer(false));
    for path in ["/fail", "/panic-free-500", "/no-such-route"] {
        let request = Request::get(path)
            .header("x-tappass-session-id", "ses_err")
            .header("x-tappass-agent-uuid", "agt-err")
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert!(!response.status().is_success(), "{path}");
        assert_eq!(
            response.headers()["x-tappass-session-id"],
            "ses_err",
            "{path}"
        );
        assert_eq!(
            response.headers()["x-tappass-agent-uuid"],
            "agt-err",
            "{path}"
        );
    }
}

#[tokio::test]
async fn rejects_malformed_correlation_headers_with_400_without_calling_the_handler() {
    let long_id = "a".repeat(129);
    let long_url = format!("https://example.com/{}", "p".repeat(2048));
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("x-tappass-session-id", "")], "X-TapPass-Session-Id"),
        (
            vec![("x-tappass-session-id", &long_id)],
            "X-TapPass-Session-Id",
        ),
        (
            vec![("x-tappass-session-id", "ses one")],
            "X-TapPass-Session-Id",
        ),
        (
            vec![("x-tappass-session-id", "ses/1<script>")],
            "X-TapPass-Session-Id",
        ),
        (
            vec![
                ("x-tappass-session-id", "ses_a"),
                ("x-tappass-session-id", "ses_b"),
            ],
            "X-TapPass-Session-Id",
        ),
        (
            vec![("x-tappass-session", "bad value")],
            "X-TapPass-Session",
        ),
        (
            vec![
                ("x-tappass-session-id", "s"),
                ("x-tappass-agent-uuid", "agt@1"),
            ],
            "X-TapPass-Agent-Uuid",
        ),
        (
            vec![
                ("x-tappass-session-id", "s"),
                ("x-tappass-pipeline-uuid", "pipe line"),
            ],
            "X-TapPass-Pipeline-Uuid",
        ),
        // A dot segment is no id: a URL that carried it would read it as a
        // step of its path.
        (vec![("x-tappass-session-id", "..")], "X-TapPass-Session-Id"),
        (vec![("x-tappass-session-id", ".")], "X-TapPass-Session-Id"),
        (vec![("x-tappass-session", "..")], "X-TapPass-Session"),
        (
            vec![
                ("x-tappass-session-id", "s"),
                ("x-tappass-agent-uuid", ".."),
            ],
            "X-TapPass-Agent-Uuid",
        ),
        (
            vec![
                ("x-tappass-session-id", "s"),
                ("x-tappass-resume-token", ".."),
            ],
            "X-TapPass-Resume-Token",
        ),
        (
            vec![
                ("x-tappass-session-id", "s"),
                ("x-tappass-audit-url", "javascript:alert(1)"),
            ],
            "X-TapPass-Audit-Url",
        ),
        (
            vec![
                ("x-tappass-session-id", "s"),
                ("x-tappass-audit-url", "/relative/path"),
            ],
            "X-TapPass-Audit-Url",
        ),
        (
            vec![
                ("x-tappass-session-id", "s"),
                ("x-tappass-audit-url", &long_url),
            ],
            "X-TapPass-Audit-Url",
        ),
        // An agent header alone is still checked.
        (
            vec![("x-tappass-agent-uuid", "has space")],
            "X-TapPass-Agent-Uuid",
        ),
    ];
    for (headers, named) in cases {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let app = Router::new()
            .route(
                "/",
                get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async { "handled" }
                }),
            )
            .layer(layer(true));
        let (status, response_headers, body) = call(app, &headers).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{headers:?}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the handler ran for {headers:?}"
        );
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], "invalid_correlation_header");
        assert_eq!(json["header"], named, "{headers:?}");
        assert!(json["message"].as_str().unwrap().contains(named));
        for (_, value) in &headers {
            // (dots are in any sentence, so their absence proves nothing)
            if !value.is_empty() && *value != "s" && !value.chars().all(|c| c == '.') {
                assert!(
                    !body.contains(value),
                    "the rejected value was echoed: {body}"
                );
            }
        }
        assert!(response_headers.get("x-tappass-session-id").is_none());
    }
}

#[tokio::test]
async fn extractors_see_the_layers_session_and_agent() {
    async fn handler(agent: Agent, session: Session, maybe: Option<Session>) -> String {
        format!("{}|{}|{}", agent.url(), session.id(), maybe.unwrap().id())
    }
    let app = Router::new().route("/", get(handler)).layer(layer(false));
    let (status, _, body) = call(app, &[("x-tappass-session-id", "ses_x")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{}|ses_x|ses_x", refused_url()));
}

#[tokio::test]
async fn session_extractor_without_a_session_says_which_headers_to_send() {
    async fn needs(session: Session) -> String {
        session.id().to_owned()
    }
    async fn optional(session: Option<Session>) -> String {
        format!("{:?}", session.map(|s| s.id().to_owned()))
    }
    let app = Router::new()
        .route("/needs", get(needs))
        .route("/optional", get(optional))
        .layer(layer(false));
    let response = app
        .clone()
        .oneshot(Request::get("/needs").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["error"], "session_required");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("X-TapPass-Session-Id"));

    let response = app
        .oneshot(Request::get("/optional").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        &response.into_body().collect().await.unwrap().to_bytes()[..],
        b"None"
    );
}

#[tokio::test]
async fn session_extractors_work_without_the_layer_from_headers() {
    async fn handler(session: Option<Session>) -> String {
        session.map(|s| s.id().to_owned()).unwrap_or_default()
    }
    let app = Router::new().route("/", get(handler));
    let (status, _, body) = call(app.clone(), &[("x-tappass-session-id", "ses_nolayer")]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ses_nolayer"));
    let (status, _, _) = call(app, &[("x-tappass-session-id", "bad value")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn session_stays_in_scope_while_a_streamed_body_is_polled() {
    async fn stream() -> impl IntoResponse {
        // Each chunk is computed when the body is polled, after the handler returned.
        let chunks = futures_util::stream::unfold(0u8, |n| async move {
            if n == 3 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            let id = tappass::current_session()
                .map(|s| s.id().to_owned())
                .unwrap_or_else(|| "none".into());
            Some((
                Ok::<_, std::convert::Infallible>(format!("data: {id}\n\n")),
                n + 1,
            ))
        });
        (
            [("content-type", "text/event-stream")],
            Body::from_stream(chunks),
        )
    }
    let app = Router::new().route("/", get(stream)).layer(layer(false));
    let (_, _, body) = call(app, &[("x-tappass-session-id", "ses_stream")]).await;
    assert_eq!(body, "data: ses_stream\n\n".repeat(3));
}

#[tokio::test]
async fn spawned_work_sees_the_session_through_scope() {
    async fn handler() -> String {
        let session = tappass::current_session().unwrap();
        let plain = tokio::spawn(async { tappass::current_session().is_some() });
        let scoped = tokio::spawn(tappass::session::scope(session, async {
            tappass::current_session().map(|s| s.id().to_owned())
        }));
        format!(
            "{}|{}",
            plain.await.unwrap(),
            scoped.await.unwrap().unwrap()
        )
    }
    let app = Router::new().route("/", get(handler)).layer(layer(false));
    let (_, _, body) = call(app, &[("x-tappass-session-id", "ses_spawn")]).await;
    assert_eq!(body, "false|ses_spawn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_over_sockets_never_see_each_others_session() {
    async fn handler() -> String {
        // Yield and sleep so that requests interleave on the workers.
        tokio::task::yield_now().await;
        let before = tappass::current_session().unwrap().id().to_owned();
        tokio::time::sleep(Duration::from_millis(1)).await;
        let after = tappass::current_session().unwrap().id().to_owned();
        assert_eq!(before, after);
        after
    }
    let app = Router::new().route("/", get(handler)).layer(layer(true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let client = client.clone();
        tasks.spawn(async move {
            let id = format!("ses_{i}");
            let response = client
                .get(format!("http://{addr}/"))
                .header("x-tappass-session-id", &id)
                .send()
                .await
                .unwrap();
            let echoed = response.headers()["x-tappass-session-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = response.text().await.unwrap();
            (id, echoed, body)
        });
    }
    let mut n = 0;
    while let Some(result) = tasks.join_next().await {
        let (id, echoed, body) = result.unwrap();
        assert_eq!(echoed, id);
        assert_eq!(body, id);
        n += 1;
    }
    assert_eq!(n, 1000);
    server.abort();
}

#[test]
fn layer_build_reports_bad_configuration_clearly() {
    let err = TapPassLayer::builder()
        .tappass_url("not a url")
        .api_key("tp_x")
        .build()
        .unwrap_err();
    assert!(matches!(err, tappass::Error::Config(_)));
    assert!(err.to_string().contains("not a valid URL"), "{err}");

    let err = TapPassLayer::builder()
        .tappass_url("ftp://example.com")
        .api_key("tp_x")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("http://"), "{err}");

    let err = TapPassLayer::builder()
        .tappass_url("https://example.com")
        .api_key("  ")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("TAPPASS_API_KEY"), "{err}");
}

#[test]
fn debug_output_never_shows_the_api_key() {
    let layer = TapPassLayer::builder()
        .tappass_url("https://example.com/")
        .api_key("tp_SECRET_must_not_leak")
        .build()
        .unwrap();
    let text = format!(
        "{layer:?} {:?} {:?}",
        layer.agent().expect("a layer with an API key has an agent"),
        Agent::builder("https://x").api_key("tp_SECRET_must_not_leak")
    );
    assert!(!text.contains("SECRET"), "{text}");
    assert_eq!(layer.agent().map(Agent::url), Some("https://example.com"));
}

/// The layer can also wrap the whole router (one service instead of one per
/// route, which saves axum's second boxing of every layered route): served as
/// it is by `axum::serve`, over a real socket, it joins, scopes, extracts and
/// echoes exactly as through `Router::layer`, and still refuses a bad header.
#[tokio::test]
async fn wrapping_the_whole_router_behaves_like_router_layer() {
    use tower::Layer as _;

    async fn both(session: Option<Session>) -> String {
        let extracted = session.map(|s| s.id().to_owned()).unwrap_or_default();
        format!("{extracted}|{}", seen().await)
    }
    let app = layer(false).layer(Router::new().route("/", get(both)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
        )
        .await
    });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/");

    let joined = client
        .get(&url)
        .header("X-TapPass-Session-Id", "ses_wrapped")
        .header("X-TapPass-Agent-Uuid", "agt-w")
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), StatusCode::OK);
    assert_eq!(joined.headers()["x-tappass-session-id"], "ses_wrapped");
    assert_eq!(joined.headers()["x-tappass-agent-uuid"], "agt-w");
    assert_eq!(
        joined.text().await.unwrap(),
        "ses_wrapped|ses_wrapped|agt-w|-|-"
    );

    let bad = client
        .get(&url)
        .header("X-TapPass-Session-Id", "not valid")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["header"], "X-TapPass-Session-Id");

    let none = client.get(&url).send().await.unwrap();
    assert!(none.headers().get("x-tappass-session-id").is_none());
    assert_eq!(none.text().await.unwrap(), "|none");
    server.abort();
}

// ---- correlation values: normalised, and never with credentials ------------

/// The audit URL is stored, echoed and sent on in its normalised form.
#[tokio::test]
async fn the_audit_url_is_kept_echoed_and_sent_on_normalised() {
    async fn forwarded() -> String {
        // What this service sends to the next one.
        let session = tappass::current_session().unwrap();
        session.headers()["x-tappass-audit-url"]
            .to_str()
            .unwrap()
            .to_owned()
    }
    let app = Router::new()
        .route("/", get(seen))
        .route("/forwarded", get(forwarded))
        .layer(layer(false));
    let sent = "HTTPS://Dash.Example.COM:443/sessions/a%2fb/./c/../d?q=a b&x=%7e";
    let normal = "https://dash.example.com/sessions/a%2fb/d?q=a%20b&x=%7e";
    // A space cannot be in a header value: the query's is sent encoded.
    let sent = sent.replace(' ', "%20");
    let headers = [
        ("X-TapPass-Session-Id", "ses_norm"),
        ("X-TapPass-Audit-Url", sent.as_str()),
    ];
    let (status, echoed, body) = call(app.clone(), &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("ses_norm|-|-|{normal}"));
    assert_eq!(echoed["x-tappass-audit-url"], normal);

    let request = Request::get("/forwarded")
        .header("X-TapPass-Session-Id", "ses_norm")
        .header("X-TapPass-Audit-Url", sent.as_str())
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, normal.as_bytes());

    // The normalised form is a fixed point: the next layer keeps it as it is.
    let (status, echoed, _) = call(
        app,
        &[
            ("X-TapPass-Session-Id", "ses_norm"),
            ("X-TapPass-Audit-Url", normal),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed["x-tappass-audit-url"], normal);
}

/// An audit URL with user info is refused with 400 naming the header, by the
/// layer and by `#[governed]` on its own, and its value never comes back.
#[tokio::test]
async fn an_audit_url_with_user_info_is_refused_without_echoing_it() {
    #[tappass::governed]
    async fn governed(session: Option<Session>) -> String {
        session.map(|s| s.id().to_owned()).unwrap_or_default()
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let counted = move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "called" }
    };
    let apps = [
        Router::new().route("/", get(counted)).layer(layer(false)),
        Router::new().route("/", get(governed)),
    ];
    for app in apps {
        for url in [
            "https://user:hunter2secret@dash.example.com/s",
            "https://hunter2secret@dash.example.com/s",
            "http://:hunter2secret@dash.example.com:8080/s",
        ] {
            let (status, headers, body) = call(
                app.clone(),
                &[
                    ("X-TapPass-Session-Id", "ses_creds"),
                    ("X-TapPass-Audit-Url", url),
                ],
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
            let json: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["error"], "invalid_correlation_header");
            assert_eq!(json["header"], "X-TapPass-Audit-Url");
            assert!(json["message"].as_str().unwrap().contains("user info"));
            assert!(!body.contains("hunter2secret"), "{body}");
            assert!(headers
                .values()
                .all(|v| !v.to_str().unwrap_or_default().contains("hunter2secret")));
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// `Session::builder` applies the layer's rules: what it builds, the next
/// layer accepts; what the layer would refuse, it refuses with the same error.
#[tokio::test]
async fn a_built_session_is_always_accepted_by_the_next_layer() {
    let built = Session::builder("ses_built")
        .agent_uuid("agt-1")
        .pipeline_uuid("pip-1")
        .audit_url("http://Dash.example.com:80/s?x=1")
        .build()
        .unwrap();
    assert_eq!(built.audit_url(), Some("http://dash.example.com/s?x=1"));
    let headers: Vec<(String, String)> = built
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, _, body) = call(app(false), &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ses_built|agt-1|pip-1|http://dash.example.com/s?x=1");

    let refused = [
        (Session::builder("").build(), "X-TapPass-Session-Id"),
        (Session::builder("a b").build(), "X-TapPass-Session-Id"),
        (
            Session::builder("s").agent_uuid("x".repeat(129)).build(),
            "X-TapPass-Agent-Uuid",
        ),
        (
            Session::builder("s").pipeline_uuid("p/1").build(),
            "X-TapPass-Pipeline-Uuid",
        ),
        (
            Session::builder("s").audit_url("ftp://x/y").build(),
            "X-TapPass-Audit-Url",
        ),
        (
            Session::builder("s").audit_url("https://u:p@x/y").build(),
            "X-TapPass-Audit-Url",
        ),
    ];
    for (result, header) in refused {
        let error = result.unwrap_err();
        assert_eq!(error.header, header);
        assert!(error.to_string().contains(header), "{error}");
    }
}
