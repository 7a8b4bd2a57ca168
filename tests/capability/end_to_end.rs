//! End to end: the dev server mints a capability token in a chat answer,
//! a Rust agent presents it with proofs of possession to a Rust tool
//! service (axum, the layer's authorizer, `#[governed(tool = …)]`) and to
//! a Python one (FastAPI, the real SDK's `TapPassGuard`, under uvicorn);
//! both verify offline, and both refuse the same call with other
//! arguments. The console lists the token.

use std::time::Duration;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use scraper::{Html, Selector};
use serde_json::{json, Value};
use tappass::capability::{Args, AuthResult, Authorizer, CapabilityToken, PublicKey, SigningKey};
use tappass::propagate::PresentCapability;
use tappass::{Agent, TapPassLayer};
use tappass_dev::DevServer;

use super::python::Uvicorn;

const AGENT_ID: &str = "reports-agent";

#[derive(serde::Deserialize)]
struct ReadQuery {
    path: String,
}

#[tappass::governed(tool = "read_file", query = ["path"], min_clearance = "INTERNAL")]
async fn read_file(auth: AuthResult, Query(query): Query<ReadQuery>) -> String {
    format!("{} read {}", auth.token_id(), query.path)
}

/// The Rust tool service, trusting the key the dev server publishes (read
/// from its endpoint, as a service would), on a free port.
async fn rust_service(dev: &DevServer) -> String {
    let published: Value = reqwest::get(dev.capability_key_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let root = PublicKey::from_hex(published["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(root, dev.capability_public_key());
    let authorizer = Authorizer::builder()
        .trusted_root(root)
        .min_trust_score(50)
        .build()
        .unwrap();
    let layer = TapPassLayer::builder()
        .capabilities(authorizer)
        .build()
        .unwrap();
    let app = Router::new().route("/read", get(read_file)).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The agent: signs its requests with its registered key, so the token the
/// dev server mints is bound to that key.
async fn agent_with_token(dev: &DevServer, key: &SigningKey) -> CapabilityToken {
    assert!(dev.register_signing_key(AGENT_ID, key.public_key()));
    let agent = Agent::builder(dev.url())
        .api_key("tp_reports")
        .agent_id(AGENT_ID)
        .signing_key(key.clone())
        .build()
        .unwrap();
    let answer = agent.chat("show me the quarterly report").await.unwrap();
    assert_eq!(
        answer.pipeline().capability_token.as_deref(),
        answer.raw["tappass"]["capability_token"]["token"].as_str()
    );
    answer
        .capability_token()
        .unwrap()
        .expect("the answer carries a capability token")
}

fn args(v: Value) -> Args {
    v.as_object().unwrap().clone()
}

/// `GET {url}{path}` with the token and a proof for `tool(signed)`.
async fn call(
    url: &str,
    path: &str,
    token: &CapabilityToken,
    key: &SigningKey,
    tool: &str,
    signed: Value,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{url}{path}"))
        .with_capability(token, key, tool, &args(signed))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_a_chat_answer_opens_exactly_its_call_in_rust_and_in_python() {
    let dev = DevServer::start().await.unwrap();
    let key = SigningKey::generate().unwrap();
    let token = agent_with_token(&dev, &key).await;
    assert_eq!(token.holder(), Some(key.public_key()));
    let issued = dev.capability_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].token_id, token.id());
    assert_eq!(issued[0].holder_from, "signed request");

    // Rust: the call the token grants, verified offline.
    let rust = rust_service(&dev).await;
    let granted = json!({"path": "/data/q3.pdf"});
    let (status, body) = call(
        &rust,
        "/read?path=/data/q3.pdf",
        &token,
        &key,
        "read_file",
        granted.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, format!("{} read /data/q3.pdf", token.id()));
    // The same proof for other arguments, and a proof for arguments the
    // token does not allow: both refused.
    let (status, body) = call(
        &rust,
        "/read?path=/data/hr.csv",
        &token,
        &key,
        "read_file",
        granted.clone(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("capability_pop_invalid"))
    );
    let (status, body) = call(
        &rust,
        "/read?path=/etc/passwd",
        &token,
        &key,
        "read_file",
        json!({"path": "/etc/passwd"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("capability_constraint_violated"))
    );
    // Another key cannot use the token.
    let thief = SigningKey::generate().unwrap();
    let (status, body) = call(
        &rust,
        "/read?path=/data/q3.pdf",
        &token,
        &thief,
        "read_file",
        granted.clone(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("capability_pop_invalid"))
    );

    // Python: the SDK's own guard accepts what the Rust agent sends...
    let python = tokio::task::spawn_blocking({
        let root = dev.capability_public_key().to_hex();
        move || Uvicorn::start("capability_app:app", &[("TAPPASS_CAPABILITY_KEY", root)])
    })
    .await
    .unwrap();
    let (status, body) = call(
        &python.url,
        "/read?path=/data/q3.pdf",
        &token,
        &key,
        "read_file",
        granted.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["authorized"], true, "{body}");
    assert_eq!(body["token_id"], token.id());
    assert_eq!(body["clearance"], "INTERNAL");
    let (_, body) = call(
        &python.url,
        "/search?q=rust%20async&index=docs",
        &token,
        &key,
        "search",
        json!({"q": "rust async", "index": "docs"}),
    )
    .await;
    assert_eq!(body["authorized"], true, "{body}");
    // ...and refuses the same calls the Rust service refuses (with a
    // `200 {"authorized": false}`: the SDK leaves the refusal to the route).
    for (path, signer, signed) in [
        ("/read?path=/data/hr.csv", &key, granted.clone()),
        (
            "/read?path=/etc/passwd",
            &key,
            json!({"path": "/etc/passwd"}),
        ),
        ("/read?path=/data/q3.pdf", &thief, granted.clone()),
    ] {
        let (_, body) = call(&python.url, path, &token, signer, "read_file", signed).await;
        assert_eq!(body["authorized"], false, "{path}: {body}");
    }
    drop(python);
    dev.shutdown().await;
}

#[tokio::test]
async fn the_console_lists_the_tokens_it_minted_escaped() {
    let policy = tappass_dev::Policy::from_toml(
        r#"
[[rule]]
name = "markup"
match.prompt_contains = "open"
decision = "allow"
capability_token.tools.read_file = { path = { type = "exact", value = "<img src=x onerror=alert(1)>" } }
capability_token.clearance = "PARTNER"
capability_token.trust_score = 7
"#,
    )
    .unwrap();
    let dev = DevServer::builder().policy(policy).start().await.unwrap();
    let key = SigningKey::from_bytes(&[21; 32]);
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", dev.url()))
        .bearer_auth("tp_console")
        .header("x-tappass-holder-key", key.public_key().to_hex())
        .header("x-tappass-session-id", "ses_console_tokens")
        .json(&json!({"messages": [{"role": "user", "content": "open it"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_id = answer["tappass"]["capability_token"]["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = reqwest::Client::new()
        .get(format!("{}/capabilities", dev.url()))
        .header("accept", "text/html")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let doc = Html::parse_document(&page.text().await.unwrap());
    let sel = |css: &str| Selector::parse(css).unwrap();
    let rows: Vec<_> = doc.select(&sel("table.capabilities tbody tr")).collect();
    assert_eq!(rows.len(), 1);
    let row = rows[0];
    assert_eq!(row.value().attr("id"), Some(token_id.as_str()));
    let text = row.text().collect::<String>();
    for expected in [
        token_id.as_str(),
        "in force",
        "read_file",
        "PARTNER",
        "trust 7",
        "from header",
        "ses_console_tokens",
        "<img src=x onerror=alert(1)>",
    ] {
        assert!(text.contains(expected), "{expected:?} is not in {text:?}");
    }
    assert_eq!(
        row.select(&sel("td.holder span.mono"))
            .next()
            .unwrap()
            .text()
            .collect::<String>(),
        key.public_key().to_hex()
    );
    // The constraint's markup is text, never an element.
    assert!(doc.select(&sel("img")).next().is_none());
    // The page names the key tool services trust, and the navigation has it.
    let lead = doc.select(&sel("p.lead code.key")).next().unwrap();
    assert_eq!(
        lead.text().collect::<String>(),
        dev.capability_public_key().to_hex()
    );
    assert!(doc
        .select(&sel("nav a[aria-current=page]"))
        .any(|a| a.value().attr("href") == Some("/capabilities")));
    // At a host name, the page is refused (DNS rebinding).
    let foreign = reqwest::Client::new()
        .get(format!("{}/capabilities", dev.url()))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    dev.shutdown().await;
}
