//! Signed requests (feature `signing`): byte for byte what the Python SDK's
//! `tappass/signing.py` signs, in both directions, and the development
//! server's checks of them over real sockets (a registered key, a replayed
//! nonce, a stale timestamp, an altered body, an unknown agent).

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use tappass::signing::{sign_request, verify_request, SignedRequest, SigningKey, MAX_CLOCK_SKEW};
use tappass::Agent;
use tappass_dev::DevServer;

/// Runs `cases` through `tests/python/signing_cases.py` in one process.
fn python_cases(cases: &[Value]) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/signing_cases.py");
    let mut child = Command::new(crate::support::python::python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test virtualenv's python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(cases).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Python side failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// One request to sign, drawn at random: its method, path, query, body,
/// agent, key, time and nonce.
#[derive(Debug, Clone)]
struct Case {
    agent_id: String,
    key: [u8; 32],
    method: String,
    path: String,
    query: String,
    body: Vec<u8>,
    timestamp: u64,
    nonce: String,
}

fn case() -> impl Strategy<Value = Case> {
    (
        "[a-z][a-z0-9_.:-]{0,30}",
        any::<[u8; 32]>(),
        prop_oneof![Just("POST"), Just("GET"), Just("post"), Just("PATCH")],
        "/[a-z0-9/_%.-]{0,40}",
        prop_oneof![
            Just(String::new()),
            "[a-z_]{1,8}=[a-zA-Z0-9%+]{0,12}(&[a-z]{1,4}=[0-9]{1,3}){0,2}"
        ],
        prop::collection::vec(any::<u8>(), 0..300),
        0u64..4_000_000_000,
        "[A-Za-z0-9_-]{22}",
    )
        .prop_map(
            |(agent_id, key, method, path, query, body, timestamp, nonce)| Case {
                agent_id,
                key,
                method: method.to_owned(),
                path,
                query,
                body,
                timestamp,
                nonce,
            },
        )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 300 requests signed by both: the same five headers, byte for byte
/// (Ed25519 signatures are deterministic); and 300 Rust signatures that the
/// SDK's canonical string verifies, with a tampered one that it does not.
#[test]
fn rust_signs_as_the_python_sdk_signs_and_each_verifies_the_other() {
    let mut runner = TestRunner::deterministic();
    let cases: Vec<Case> = (0..300)
        .map(|_| case().new_tree(&mut runner).unwrap().current())
        .collect();
    let mut requests = Vec::new();
    for c in &cases {
        requests.push(json!({"sign": {
            "agent_id": c.agent_id, "key": hex(&c.key), "method": c.method, "path": c.path,
            "query": c.query, "body": hex(&c.body), "timestamp": c.timestamp, "nonce": c.nonce,
        }}));
    }
    let mut ours = Vec::new();
    for c in &cases {
        let key = SigningKey::from_bytes(&c.key);
        let signed = sign_request(
            &c.agent_id,
            &key,
            &c.method,
            &c.path,
            &c.query,
            &c.body,
            c.timestamp,
            &c.nonce,
        )
        .unwrap();
        let signature = signed.headers()[4].1.clone();
        for (tampered, body) in [
            (false, c.body.clone()),
            (true, [c.body.as_slice(), b"!"].concat()),
        ] {
            requests.push(json!({"verify": {
                "public_key": key.public_key().to_hex(), "method": c.method, "path": c.path,
                "query": c.query, "body": hex(&body), "timestamp": c.timestamp, "nonce": c.nonce,
                "signature": signature,
            }}));
            ours.push(tampered);
        }
    }
    let answers = python_cases(&requests);
    let mut answers = answers.into_iter();
    for c in &cases {
        let python = answers.next().unwrap();
        let key = SigningKey::from_bytes(&c.key);
        let signed = sign_request(
            &c.agent_id,
            &key,
            &c.method,
            &c.path,
            &c.query,
            &c.body,
            c.timestamp,
            &c.nonce,
        )
        .unwrap();
        for (name, value) in signed.headers() {
            assert_eq!(python["headers"][name], value, "{name} of {c:?}");
        }
        // Python's headers read back and verify here too.
        let mut map = http::HeaderMap::new();
        for (name, value) in python["headers"].as_object().unwrap() {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.as_str().unwrap().parse().unwrap(),
            );
        }
        let read = SignedRequest::from_headers(&map).unwrap().unwrap();
        verify_request(
            &key.public_key(),
            &c.method,
            &c.path,
            &c.query,
            &c.body,
            &read,
            c.timestamp,
            MAX_CLOCK_SKEW,
        )
        .unwrap();
    }
    for tampered in ours {
        let verdict = answers.next().unwrap();
        assert_eq!(verdict["valid"], !tampered, "{verdict}");
    }
}

async fn signed_agent(dev: &DevServer, key: &SigningKey) -> Agent {
    Agent::builder(dev.url())
        .api_key("tp_signer")
        .agent_id("billing-agent")
        .signing_key(key.clone())
        .build()
        .unwrap()
}

/// An agent whose key the dev server knows: its calls are checked and
/// recorded as signed; the console marks them.
#[tokio::test]
async fn the_dev_server_records_a_registered_agents_calls_as_signed() {
    let dev = DevServer::start().await.unwrap();
    let key = SigningKey::generate().unwrap();
    assert!(dev.register_signing_key("billing-agent", key.public_key()));
    let agent = signed_agent(&dev, &key).await;
    let session = tappass::Session::builder("ses_signed").build().unwrap();
    tappass::session::scope(session, async {
        agent.chat("hello").await.unwrap();
        agent
            .govern_tool("search", json!({"q": "x"}))
            .await
            .unwrap();
    })
    .await;
    let events = dev.events_for_session("ses_signed");
    let signed: Vec<&Value> = events
        .iter()
        .filter(|e| e["details"]["signed_by"] == "billing-agent")
        .collect();
    assert!(signed.len() >= 2, "the chat and the tool call: {events:?}");
    let page = reqwest::Client::new()
        .get(format!("{}/v1/audit/sessions/ses_signed", dev.url()))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let document = scraper::Html::parse_document(&page);
    let badges = document
        .select(&scraper::Selector::parse(".badge.signed").unwrap())
        .count();
    assert!(badges >= 2, "the timeline marks the signed calls");
    // An unsigned agent's calls are served and not marked.
    let plain = Agent::new(dev.url(), "tp_plain").unwrap();
    let plain_session = tappass::Session::builder("ses_plain").build().unwrap();
    tappass::session::scope(plain_session, plain.chat("hello"))
        .await
        .unwrap();
    assert!(dev
        .events_for_session("ses_plain")
        .iter()
        .all(|e| e["details"].get("signed_by").is_none()));
}

/// A signed request sent again as it was (the same nonce), or signed ten
/// minutes ago, or with its body changed, or as an agent with no registered
/// key: each a `401` that says why.
#[tokio::test]
async fn replays_stale_altered_and_unknown_signatures_are_refused() {
    let dev = DevServer::start().await.unwrap();
    let key = SigningKey::generate().unwrap();
    assert!(dev.register_signing_key("billing-agent", key.public_key()));
    let body =
        serde_json::to_vec(&json!({"messages": [{"role": "user", "content": "hi"}]})).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let send = |signed: SignedRequest, body: Vec<u8>| {
        let url = format!("{}/v1/chat/completions", dev.url());
        async move {
            let mut request = reqwest::Client::new()
                .post(url)
                .bearer_auth("tp_signer")
                .header("content-type", "application/json")
                .body(body);
            for (name, value) in signed.headers() {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let sign = |agent: &str, key: &SigningKey, at: u64, nonce: &str| {
        sign_request(
            agent,
            key,
            "POST",
            "/v1/chat/completions",
            "",
            &body,
            at,
            nonce,
        )
        .unwrap()
    };
    let fresh = sign("billing-agent", &key, now, "AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(send(fresh.clone(), body.clone()).await.0, 200);
    let (status, answer) = send(fresh, body.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("replayed_nonce")),
        "{answer}"
    );
    let stale = sign("billing-agent", &key, now - 600, "BBBBBBBBBBBBBBBBBBBBBB");
    let (status, answer) = send(stale, body.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("invalid_signature")),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().unwrap().contains("timestamp"),
        "{answer}"
    );
    let altered = sign("billing-agent", &key, now, "CCCCCCCCCCCCCCCCCCCCCC");
    let (status, answer) = send(altered, [body.as_slice(), b" "].concat()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("invalid_signature")),
        "{answer}"
    );
    let other_key = SigningKey::generate().unwrap();
    let wrong_key = sign("billing-agent", &other_key, now, "DDDDDDDDDDDDDDDDDDDDDD");
    let (status, answer) = send(wrong_key, body.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("invalid_signature")),
        "{answer}"
    );
    let unknown = sign("nobody", &key, now, "EEEEEEEEEEEEEEEEEEEEEE");
    let (status, answer) = send(unknown, body.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("unknown_signing_key")),
        "{answer}"
    );
    // Five headers or none: three of them are no signature.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", dev.url()))
        .bearer_auth("tp_signer")
        .header("X-TapPass-Agent-Id", "billing-agent")
        .header("X-TapPass-Nonce", "FFFFFFFFFFFFFFFFFFFFFF")
        .header("X-TapPass-Timestamp", now.to_string())
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// A signing key signs as an agent id: an agent built without one is a
/// configuration error that names the setting; its `Debug` never shows the key.
#[test]
fn building_a_signing_agent_needs_an_agent_id() {
    let key = SigningKey::generate().unwrap();
    let err = Agent::builder("http://127.0.0.1:9")
        .api_key("tp_x")
        .signing_key(key.clone())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains(".agent_id("), "{err}");
    let built = Agent::builder("http://127.0.0.1:9")
        .api_key("tp_x")
        .agent_id("billing-agent")
        .signing_key(key.clone())
        .build()
        .unwrap();
    assert!(
        !format!("{built:?}").contains(&key.to_hex()),
        "Debug never shows the key"
    );
}
