//! The layer and the macro: a layer that only verifies mandates,
//! `#[governed(capability = ..)]` (with `auto_open_session`, before the body,
//! every capability, the verifier from the layer, an `Extension` or the
//! router's state), and `RequireMandate::from_extension`.

use super::*;

#[tappass::governed(capability = "tool:call:search")]
async fn governed_search(mandate: Mandate, body: String) -> String {
    format!("{} {body}", mandate.id().unwrap_or("-"))
}

#[tappass::governed(auto_open_session = true, capability = "tool:call:search")]
async fn governed_opened(session: tappass::Session) -> String {
    session.id().to_owned()
}

/// Two capabilities, and a JSON body whose extractor would refuse a bad one
/// (`400`/`415`) if it ran before the mandate check.
#[tappass::governed(capability = "tool:call:search", capability = "tool:call:fetch")]
async fn governed_json(mandate: Mandate, axum::Json(body): axum::Json<Value>) -> String {
    format!("{} {body}", mandate.id().unwrap_or("-"))
}

async fn needs_agent(agent: Agent) -> String {
    agent.url().to_owned()
}

/// `POST {url}{path}` with `token` and `body`.
async fn post_with(
    url: &str,
    path: &str,
    token: Option<&str>,
    body: &'static str,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.with_mandate(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_layer_that_only_verifies_mandates_needs_no_api_key() {
    // The layer reads TAPPASS_API_KEY when no key is given; this test
    // process sets none.
    if std::env::var_os("TAPPASS_API_KEY").is_some() {
        return;
    }
    bounded(async {
        let server = default_server().await;
        let layer = tappass::TapPassLayer::builder()
            .mandates(verifier(&server).build().unwrap())
            .build()
            .unwrap();
        assert!(layer.agent().is_none());
        assert!(layer.mandates().is_some());
        let app = Router::new()
            .route("/search", post(governed_search))
            .route("/peek", get(peek))
            .route("/agent", get(needs_agent))
            .layer(layer);
        let b = serve(app).await;
        assert_refused(&call(b.url(), None).await, 403, "mandate_missing", "");
        let other = mandate_for(&server, "send_email").await;
        let insufficient = call(b.url(), Some(&other)).await;
        assert_refused(&insufficient, 403, "mandate_insufficient", &other);
        assert_eq!(insufficient.1["required_capability"], "tool:call:search");
        let token = mandate_for(&server, "search").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        let response = reqwest::Client::new()
            .post(format!("{}/search", b.url()))
            .with_mandate(&token)
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), format!("{id} hello"));
        // The layer's verifier serves a plain `Option<Mandate>` extractor too.
        let peeked = reqwest::Client::new()
            .get(format!("{}/peek", b.url()))
            .with_mandate(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(peeked.text().await.unwrap(), format!("some {id}"));
        // The layer has no agent to give: the clear 500 that says how.
        let agent = reqwest::get(format!("{}/agent", b.url())).await.unwrap();
        assert_eq!(agent.status(), 500);
        let body: Value = agent.json().await.unwrap();
        assert_eq!(body["error"], "governance_misconfigured");
        assert!(
            body["message"].as_str().unwrap().contains("API key"),
            "{body}"
        );

        // Opening sessions reports them, which needs a key.
        let err = tappass::TapPassLayer::builder()
            .mandates(verifier(&server).build().unwrap())
            .auto_open_session(true)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("needs an API key"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn capability_combines_with_auto_open_session() {
    bounded(async {
        let server = default_server().await;
        let layer = tappass::TapPassLayer::builder()
            .tappass_url(server.url())
            .api_key("tp_b")
            .mandates(verifier(&server).build().unwrap())
            .build()
            .unwrap();
        let app = Router::new()
            .route("/search", post(governed_opened))
            .layer(layer.clone());
        let b = serve(app).await;
        let missing = call(b.url(), None).await;
        assert_refused(&missing, 403, "mandate_missing", "");
        // Refused before the route resolves its session: none is opened.
        assert!(missing.2.get("x-tappass-session-id").is_none());
        let token = mandate_for(&server, "search").await;
        let response = reqwest::Client::new()
            .post(format!("{}/search", b.url()))
            .with_mandate(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let opened = response.headers()["x-tappass-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(opened.starts_with("ses_"));
        assert_eq!(response.text().await.unwrap(), opened);
        layer.flush().await;
        let kinds: Vec<Value> = server
            .events_for_session(&opened)
            .iter()
            .map(|event| event["event_type"].clone())
            .collect();
        assert_eq!(kinds, [json!("session_open"), json!("session_close")]);
    })
    .await;
}

#[tokio::test]
async fn capability_is_checked_before_the_body_and_requires_every_capability() {
    bounded(async {
        let server = dev_server(
            Policy::from_toml(
                r#"
                [[rule]]
                name = "research"
                match.tool_regex = "^research$"
                decision = "allow"
                capabilities = ["tool:call:search", "tool:call:fetch"]
                "#,
            )
            .unwrap(),
        )
        .await;
        // Without the layer: the verifier from an `Extension`.
        let app = Router::new()
            .route("/json", post(governed_json))
            .layer(Extension(verifier(&server).build().unwrap()));
        let b = serve(app).await;
        // A body the `Json` extractor refuses, and no mandate: the mandate
        // check answers first.
        let response = post_with(b.url(), "/json", None, "{not json").await;
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "mandate_missing");
        // One of the two capabilities is not enough.
        let search_only = mandate_for(&server, "search").await;
        let response = post_with(b.url(), "/json", Some(&search_only), "{not json").await;
        assert_eq!(response.status(), 403);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "mandate_insufficient");
        assert_eq!(body["required_capability"], "tool:call:fetch");
        // Both: the body extractor runs, and refuses the bad body.
        let both = mandate_for(&server, "research").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        let response = post_with(b.url(), "/json", Some(&both), "{not json").await;
        assert_eq!(response.status(), 400);
        let response = post_with(b.url(), "/json", Some(&both), r#"{"q":1}"#).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), format!(r#"{id} {{"q":1}}"#));
    })
    .await;
}

#[tokio::test]
async fn require_mandate_from_extension_uses_the_layers_verifier() {
    bounded(async {
        let server = default_server().await;
        let layer = tappass::TapPassLayer::builder()
            .agent(agent(&server))
            .mandates(verifier(&server).build().unwrap())
            .build()
            .unwrap();
        let app = Router::new()
            .route(
                "/search",
                post(search)
                    .route_layer(RequireMandate::from_extension().capability("tool:call:search")),
            )
            .layer(layer);
        let b = serve(app).await;
        assert_refused(&call(b.url(), None).await, 403, "mandate_missing", "");
        let other = mandate_for(&server, "send_email").await;
        assert_refused(
            &call(b.url(), Some(&other)).await,
            403,
            "mandate_insufficient",
            &other,
        );
        let token = mandate_for(&server, "search").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        let granted = call(b.url(), Some(&token)).await;
        assert_eq!(granted.0, 200, "{}", granted.1);
        assert_eq!(granted.1, Value::String(id));
    })
    .await;
}

/// A router state that holds the verifier.
#[derive(Clone)]
struct WithVerifier {
    verifier: MandateVerifier,
    greeting: &'static str,
}

impl axum::extract::FromRef<WithVerifier> for MandateVerifier {
    fn from_ref(state: &WithVerifier) -> MandateVerifier {
        state.verifier.clone()
    }
}

#[tappass::governed(capability = "tool:call:search")]
async fn governed_with_state(
    axum::extract::State(state): axum::extract::State<WithVerifier>,
    mandate: Mandate,
) -> String {
    format!("{} {}", state.greeting, mandate.id().unwrap_or("-"))
}

/// A state without a verifier: the route falls back to the `Extension`.
#[tappass::governed(capability = "tool:call:search")]
async fn governed_with_other_state(
    axum::extract::State(greeting): axum::extract::State<&'static str>,
    mandate: Mandate,
) -> String {
    format!("{greeting} {}", mandate.id().unwrap_or("-"))
}

#[tokio::test]
async fn capability_finds_the_verifier_in_the_routers_state() {
    bounded(async {
        let server = default_server().await;
        let state = WithVerifier {
            verifier: verifier(&server).build().unwrap(),
            greeting: "hi",
        };
        let b = serve(
            Router::new()
                .route("/search", post(governed_with_state))
                .with_state(state),
        )
        .await;
        assert_refused(&call(b.url(), None).await, 403, "mandate_missing", "");
        let other = mandate_for(&server, "send_email").await;
        assert_refused(
            &call(b.url(), Some(&other)).await,
            403,
            "mandate_insufficient",
            &other,
        );
        let token = mandate_for(&server, "search").await;
        let id = server.mandates().last().unwrap().mandate_id.clone();
        let granted = call(b.url(), Some(&token)).await;
        assert_eq!(granted.0, 200, "{}", granted.1);
        assert_eq!(granted.1, Value::String(format!("hi {id}")));

        // A state that holds none: the `Extension`'s; with neither, the 500.
        let with_extension = serve(
            Router::new()
                .route("/search", post(governed_with_other_state))
                .layer(Extension(verifier(&server).build().unwrap()))
                .with_state("hello"),
        )
        .await;
        let granted = call(with_extension.url(), Some(&token)).await;
        assert_eq!(granted.1, Value::String(format!("hello {id}")));
        let neither = serve(
            Router::new()
                .route("/search", post(governed_with_other_state))
                .with_state("hello"),
        )
        .await;
        let refused = call(neither.url(), Some(&token)).await;
        assert_eq!(refused.0, 500, "{}", refused.1);
        assert_eq!(refused.1["error"], "governance_misconfigured");
    })
    .await;
}
