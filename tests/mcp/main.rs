//! Governed MCP servers (`tappass::mcp`, feature `mcp`): the example's three
//! tools decided by the dev server's default policy, approvals resumed once,
//! sessions joined from every place a client puts them, `tools/list`
//! filtered by grants, audit events, and bad input refused without a panic,
//! from clients these tests did not write: the official Python MCP SDK and
//! the TapPass Python SDK (`python.rs`), rmcp's own client (`rust_client.rs`),
//! and plain JSON-RPC over HTTP where a test needs the exact bytes
//! (`calls.rs`, `bad_input.rs`, `grants.rs`).
//!
//! Which server each test meets: the dev server, always, behind the
//! example's server (`examples/mcp_server.rs`, compiled in as a module so
//! that its own `Billing` and `app()` are what runs, with the counters that
//! prove a tool did not run) or a server of the test's own, served over
//! loopback on `127.0.0.1:0`.

#[path = "../support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "../../examples/mcp_server.rs"]
mod example;

mod bad_input;
mod calls;
#[cfg(all(feature = "capability", feature = "mandate"))]
mod grants;
mod python;
mod rust_client;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};
use tappass::mcp::Governance;
use tappass_dev::DevServer;

/// The API key of these tests' agents.
const KEY: &str = "tp_mcp_tests";

/// The example's server over loopback, on a dev server of its own.
struct Served {
    dev: DevServer,
    governance: Governance,
    runs: Arc<example::Runs>,
    /// The MCP endpoint: `http://127.0.0.1:…/mcp`.
    url: String,
}

impl Served {
    /// The example's `app()`, with `auto_open_session` as given.
    async fn example(auto_open_session: bool) -> Served {
        let dev = DevServer::start().await.expect("the dev server starts");
        let governance = governance(&dev, auto_open_session);
        let runs = Arc::new(example::Runs::default());
        let app =
            example::app(&governance, runs.clone()).expect("the example's tools can be governed");
        let url = format!("{}/mcp", serve(app).await);
        Served {
            dev,
            governance,
            runs,
            url,
        }
    }

    /// How many times each of the example's tools ran:
    /// `[lookup_invoice, send_email, delete_database]`.
    fn runs(&self) -> [usize; 3] {
        [
            self.runs.lookup_invoice.load(Ordering::SeqCst),
            self.runs.send_email.load(Ordering::SeqCst),
            self.runs.delete_database.load(Ordering::SeqCst),
        ]
    }

    /// The session's events on the dev server, once the queued ones are
    /// delivered.
    async fn timeline(&self, session_id: &str) -> Vec<Value> {
        self.governance.flush().await;
        self.dev.events_for_session(session_id)
    }
}

fn governance(dev: &DevServer, auto_open_session: bool) -> Governance {
    Governance::builder()
        .tappass_url(dev.url())
        .api_key(KEY)
        .auto_open_session(auto_open_session)
        .build()
        .expect("a governance")
}

/// Serves `app` on `127.0.0.1:0` for the rest of the test: `http://addr`.
async fn serve(app: axum::Router) -> String {
    let addr = support::services::serve(app).await.detach();
    format!("http://{addr}")
}

/// The events this module reported (`source: tappass::mcp`) of a kind.
fn ours<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == kind && e["details"]["source"] == "tappass::mcp")
        .collect()
}

/// Plain JSON-RPC over streamable HTTP, for the tests that need the exact
/// bytes: an initialized MCP session, each answer read from its SSE event or
/// its JSON body.
struct Raw {
    http: reqwest::Client,
    url: String,
    session: String,
    next_id: std::sync::atomic::AtomicU64,
}

/// A JSON-RPC answer: the HTTP status and the message (or the text of a
/// body that is none).
struct Answer {
    status: u16,
    message: Value,
}

impl Answer {
    /// The call's result, which must be there.
    fn result(&self) -> &Value {
        assert!(
            self.message.get("result").is_some(),
            "a result, not {}",
            self.message
        );
        &self.message["result"]
    }

    /// The JSON-RPC error, which must be there.
    fn error(&self) -> &Value {
        assert!(
            self.message.get("error").is_some(),
            "a JSON-RPC error, not {}",
            self.message
        );
        &self.message["error"]
    }
}

impl Raw {
    /// Initializes an MCP session with `url`.
    async fn connect(url: &str) -> Raw {
        let http = reqwest::Client::new();
        let response = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .json(
                &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "tappass-tests", "version": "1"}}}),
            )
            .send()
            .await
            .expect("the MCP server answers");
        let session = response
            .headers()
            .get("mcp-session-id")
            .expect("an MCP session")
            .to_str()
            .unwrap()
            .to_owned();
        let raw = Raw {
            http,
            url: url.to_owned(),
            session,
            next_id: 1.into(),
        };
        let _ = read(response).await;
        let answer = raw
            .post(
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
                &[],
            )
            .await;
        assert_eq!(answer.status, 202);
        raw
    }

    /// POSTs `body` as it is, with `headers`.
    async fn post(&self, body: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-06-18");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .body(body.to_owned())
            .send()
            .await
            .expect("the MCP server answers");
        read(response).await
    }

    /// A request with `params`, its answer.
    async fn request(&self, method: &str, params: Value, headers: &[(&str, &str)]) -> Answer {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.post(&body.to_string(), headers).await
    }

    /// `tools/call` of `tool` with `args`, and `extra` members in the params.
    async fn call(&self, tool: &str, args: Value, extra: Value) -> Answer {
        let mut params = json!({"name": tool, "arguments": args});
        if let Value::Object(extra) = extra {
            params.as_object_mut().unwrap().extend(extra);
        }
        self.request("tools/call", params, &[]).await
    }

    /// The names `tools/list` shows, sorted.
    async fn tool_names(&self, headers: &[(&str, &str)]) -> Vec<String> {
        let answer = self.request("tools/list", json!({}), headers).await;
        let mut names: Vec<String> = answer.result()["tools"]
            .as_array()
            .expect("a list of tools")
            .iter()
            .map(|tool| tool["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }
}

/// The message of an answer: its first SSE `data:` event that holds one, or
/// its JSON body, or its text.
async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let message = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|message| message.get("jsonrpc").is_some())
        .or_else(|| serde_json::from_str(&text).ok())
        .unwrap_or(Value::String(text));
    Answer { status, message }
}
