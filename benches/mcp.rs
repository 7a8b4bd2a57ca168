//! A governed MCP `tools/call` against the same call on the bare rmcp
//! server, in one run, as ratios.
//!
//! The server is the example's `lookup_invoice` tool (a string formatted),
//! served by rmcp's streamable-HTTP service in axum with its default
//! configuration (MCP sessions, answers as SSE) and called in-process
//! (`oneshot` on the router, the whole answer read), each call a `POST` in
//! an MCP session initialized before the clock starts. Variants:
//!
//! - `bare rmcp`: the server without governance (the baseline);
//! - `bare rmcp behind McpService`: the bare server behind the HTTP side of
//!   a governed one (`tappass::mcp::McpService`, which reads each `POST`
//!   body before rmcp does), and nothing else: what that reading costs;
//! - `bare + Agent::govern_tool`: the same call, then the one `POST
//!   /v1/govern` a governed call makes, by hand: the least governing can
//!   cost;
//! - `governed, caller's session`: `Governance::streamable_http_service`,
//!   the caller's session in `_meta` (decided by the dev server's policy,
//!   audited);
//! - `governed, opened session`: the same with `auto_open_session` and no
//!   session sent (two more events: `session_open`, `session_close`);
//! - `governed, audit-only tool`: the tool declared `audit_only`: no
//!   round trip to TapPass, one event.
//!
//! The dev server stands in for a remote TapPass on a runtime and a thread
//! of its own. Each governed batch's clock runs until its audit events are
//! delivered (`Governance::flush`), so that their delivery is its cost.
//! Variants run in interleaved rounds (`support::interleave`); the table
//! shows medians and the per-round ratios to `bare rmcp`, then to
//! `bare + Agent::govern_tool`.
//!
//! Run: `cargo bench --features mcp --bench mcp`.

#[allow(dead_code)]
mod support;

use axum::body::Body;
use axum::Router;
use http::Request;
use http_body_util::BodyExt;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{tool, tool_handler, tool_router, ServerHandler};
use serde_json::json;
use tappass::mcp::{Governance, McpService};
use tappass_dev::DevServer;
use tower::ServiceExt;

const BATCH: usize = 100;
const ROUNDS: usize = 25;

/// The tool, decided by the policy (no rule names it: allowed).
#[derive(Clone)]
struct Lookup {
    tool_router: ToolRouter<Self>,
}

#[tappass::mcp::governed]
#[tool_router]
impl Lookup {
    #[tool(description = "Look up an invoice")]
    async fn lookup_invoice(&self) -> String {
        format!(
            "invoice {}: 1,250.00 EUR, paid",
            std::hint::black_box("INV-1042")
        )
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Lookup {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The same tool, declared audit-only.
#[derive(Clone)]
struct Recorded {
    tool_router: ToolRouter<Self>,
}

#[tappass::mcp::governed]
#[tool_router]
impl Recorded {
    #[tool(description = "Look up an invoice")]
    #[governance(audit_only)]
    async fn lookup_invoice(&self) -> String {
        format!(
            "invoice {}: 1,250.00 EUR, paid",
            std::hint::black_box("INV-1042")
        )
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Recorded {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn post(session: Option<&str>, body: serde_json::Value) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header("host", "127.0.0.1")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

/// An initialized MCP session on `app`: its id.
async fn initialize(app: &Router) -> String {
    let response = app
        .clone()
        .oneshot(post(
            None,
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"}}}),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = response.into_body().collect().await.unwrap();
    let notified = app
        .clone()
        .oneshot(post(
            Some(&session),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ))
        .await
        .unwrap();
    assert_eq!(notified.status(), 202);
    session
}

/// One `tools/call` of `lookup_invoice`, with `meta`.
fn call(session: &str, meta: &serde_json::Value) -> Request<Body> {
    let mut params = json!({"name": "lookup_invoice", "arguments": {}});
    if !meta.is_null() {
        params["_meta"] = meta.clone();
    }
    post(
        Some(session),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}),
    )
}

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, batch) = if quick { (1, 5) } else { (ROUNDS, BATCH) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dev = server.block_on(DevServer::start()).unwrap();
    let governance = |auto_open: bool| {
        Governance::builder()
            .tappass_url(dev.url())
            .api_key("tp_bench")
            .auto_open_session(auto_open)
            .build()
            .unwrap()
    };
    let (joined, opened) = (governance(false), governance(true));
    let config = StreamableHttpServerConfig::default;
    let lookup = || {
        Ok(Lookup {
            tool_router: Lookup::tool_router(),
        })
    };
    let bare_service: StreamableHttpService<Lookup, LocalSessionManager> =
        StreamableHttpService::new(lookup, Default::default(), config());
    let read_first = McpService::new(
        StreamableHttpService::<Lookup, LocalSessionManager>::new(
            lookup,
            Default::default(),
            config(),
        ),
        config().max_request_body_bytes,
    );
    let apps = [
        Router::new().nest_service("/mcp", bare_service),
        Router::new().nest_service(
            "/mcp",
            joined.streamable_http_service(lookup, config()).unwrap(),
        ),
        Router::new().nest_service(
            "/mcp",
            opened.streamable_http_service(lookup, config()).unwrap(),
        ),
        Router::new().nest_service(
            "/mcp",
            joined
                .streamable_http_service(
                    || {
                        Ok(Recorded {
                            tool_router: Recorded::tool_router(),
                        })
                    },
                    config(),
                )
                .unwrap(),
        ),
        Router::new().nest_service("/mcp", read_first),
    ];
    let sessions: Vec<String> = apps
        .iter()
        .map(|app| rt.block_on(initialize(app)))
        .collect();
    let caller = json!({"tappass-correlation": {"session_id": "ses_bench_caller", "agent_uuid": "agt-bench"}});
    let agent = joined.agent().clone();

    // (name, app, its MCP session, the call's `_meta`, a govern by hand, the governance to flush)
    let variants_of: [(&str, usize, serde_json::Value, bool, Option<&Governance>); 6] = [
        ("bare rmcp", 0, serde_json::Value::Null, false, None),
        (
            "bare rmcp behind McpService",
            4,
            serde_json::Value::Null,
            false,
            None,
        ),
        (
            "bare + Agent::govern_tool",
            0,
            serde_json::Value::Null,
            true,
            None,
        ),
        (
            "governed, caller's session",
            1,
            caller.clone(),
            false,
            Some(&joined),
        ),
        (
            "governed, opened session",
            2,
            serde_json::Value::Null,
            false,
            Some(&opened),
        ),
        (
            "governed, audit-only tool",
            3,
            caller.clone(),
            false,
            Some(&joined),
        ),
    ];
    let mut variants: Vec<Box<dyn FnMut() -> f64 + '_>> = variants_of
        .iter()
        .map(|(_, app, meta, by_hand, flush)| {
            let (app, session) = (&apps[*app], &sessions[*app]);
            let (rt, agent) = (&rt, &agent);
            Box::new(move || {
                let requests: Vec<Request<Body>> =
                    (0..batch).map(|_| call(session, meta)).collect();
                rt.block_on(async {
                    let start = std::time::Instant::now();
                    for request in requests {
                        let response = app.clone().oneshot(request).await.unwrap();
                        assert_eq!(response.status(), 200);
                        let body = response.into_body().collect().await.unwrap().to_bytes();
                        assert!(
                            std::hint::black_box(&body)
                                .windows(8)
                                .any(|w| w == b"INV-1042"),
                            "{}",
                            String::from_utf8_lossy(&body)
                        );
                        if *by_hand {
                            agent
                                .govern_tool("lookup_invoice", json!({}))
                                .await
                                .unwrap();
                        }
                    }
                    if let Some(governance) = flush {
                        governance.flush().await;
                    }
                    start.elapsed().as_nanos() as f64 / batch as f64
                })
            }) as Box<dyn FnMut() -> f64 + '_>
        })
        .collect();
    let results = support::interleave(rounds, &mut variants);
    drop(variants);
    let names = variants_of.map(|(name, ..)| name);
    support::print_interleaved(
        &format!(
            "MCP tools/call, governed vs bare rmcp: {rounds} interleaved rounds of {batch} calls"
        ),
        &names,
        &results,
    );
    // The same run, against the least governing can cost.
    let order = [2, 3, 4, 5];
    support::print_interleaved(
        "the same, against the bare call plus one govern_tool",
        &order.map(|i| names[i]),
        &order.map(|i| results[i].clone()),
    );
    server.block_on(dev.shutdown());
}
