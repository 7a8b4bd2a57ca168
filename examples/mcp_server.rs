//! A governed MCP server: three tools, each call decided by TapPass before
//! it runs and audited in the caller's session.
//!
//! ```text
//! cargo run --example mcp_server --features mcp
//! ```
//!
//! The tools, and what the development server's default policy does with
//! them:
//!
//! - `lookup_invoice`: no rule names it, so it is allowed;
//! - `send_email`: the rule `send_email_approval` asks a human first; the
//!   call's result (`isError`) carries the `approval_url` and the
//!   `resume_token`, and the same call made again with
//!   `_meta: {"tappass-resume-token": …, "tappass-correlation": {"session_id": …}}`
//!   runs once it is approved. It is also declared `#[governance(approval)]`,
//!   so it never runs without an approval, whatever the policy says;
//! - `delete_database`: the rule `destructive_tools` blocks it; it never runs.
//!
//! Unless `TAPPASS_URL` is set, the example starts the development server
//! in-process, so it runs on a fresh machine. It serves MCP over streamable
//! HTTP at `http://127.0.0.1:$PORT/mcp` (3001 by default) and prints how to
//! reach it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};
use tappass::mcp::Governance;
use tappass_dev::DevServer;

/// How many times each tool ran: what the tests read to prove that a
/// blocked tool never runs.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    pub(crate) lookup_invoice: AtomicUsize,
    pub(crate) send_email: AtomicUsize,
    pub(crate) delete_database: AtomicUsize,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct Invoice {
    /// The invoice's number, e.g. `INV-1042`.
    number: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct Email {
    /// Who receives it.
    to: String,
    /// Its subject line.
    subject: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct Database {
    /// The database to delete.
    name: String,
}

/// The server: three tools of a billing team.
#[derive(Clone)]
pub(crate) struct Billing {
    tool_router: ToolRouter<Self>,
    runs: Arc<Runs>,
}

impl Billing {
    pub(crate) fn new(runs: Arc<Runs>) -> Billing {
        Billing {
            tool_router: Self::tool_router(),
            runs,
        }
    }
}

// What each tool needs beyond TapPass's policy: `send_email` an approval on
// every call. The other two are left to the policy.
#[tappass::mcp::governed]
#[tool_router]
impl Billing {
    #[tool(description = "Look up an invoice by its number")]
    async fn lookup_invoice(&self, Parameters(Invoice { number }): Parameters<Invoice>) -> String {
        self.runs.lookup_invoice.fetch_add(1, Ordering::SeqCst);
        // In scope: the session the call runs in, as in a governed handler.
        let session = tappass::current_session();
        format!(
            "invoice {number}: 1,250.00 EUR, paid (session {})",
            session.as_ref().map_or("none", |s| s.id())
        )
    }

    #[tool(description = "Send an e-mail")]
    #[governance(approval)]
    async fn send_email(&self, Parameters(Email { to, subject }): Parameters<Email>) -> String {
        self.runs.send_email.fetch_add(1, Ordering::SeqCst);
        format!("sent `{subject}` to {to}")
    }

    #[tool(description = "Delete a database")]
    async fn delete_database(&self, Parameters(Database { name }): Parameters<Database>) -> String {
        self.runs.delete_database.fetch_add(1, Ordering::SeqCst);
        format!("deleted {name}")
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Billing {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("Billing tools, governed by TapPass")
    }
}

/// The application: the governed server at `/mcp`, separate from `main` so
/// that tests can serve it.
pub(crate) fn app(
    governance: &Governance,
    runs: Arc<Runs>,
) -> Result<axum::Router, tappass::Error> {
    let mcp = governance.streamable_http_service(
        move || Ok(Billing::new(runs.clone())),
        StreamableHttpServerConfig::default(),
    )?;
    Ok(axum::Router::new().nest_service("/mcp", mcp))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tappass=info".into()),
        )
        .init();

    // A hosted TapPass when TAPPASS_URL says so; the embedded dev server otherwise.
    let (dev, governance) = match std::env::var("TAPPASS_URL") {
        Ok(url) if !url.trim().is_empty() => {
            println!("Using the TapPass server at {url}");
            let governance = Governance::builder().auto_open_session(true).build()?;
            (None, governance)
        }
        _ => {
            let dev = DevServer::start().await?;
            println!("Started the TapPass development server at {}", dev.url());
            println!(
                "Its console (sessions, approvals, policy) is at {}/",
                dev.url()
            );
            let governance = Governance::builder()
                .tappass_url(dev.url())
                .api_key("tp_mcp_example_key")
                .auto_open_session(true)
                .build()?;
            (Some(dev), governance)
        }
    };

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, not `{p}`"))?,
        Err(_) => 3001,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("could not listen on {addr} ({e}); set PORT to a free port, e.g. PORT=3002")
    })?;
    let addr = listener.local_addr()?;
    println!("\nGoverned MCP server (streamable HTTP) at http://{addr}/mcp");
    println!("Its tools: lookup_invoice (allowed), send_email (needs a human approval), delete_database (blocked).");
    println!("Try it with the MCP Inspector: npx @modelcontextprotocol/inspector, transport \"Streamable HTTP\", URL http://{addr}/mcp");
    println!("Press Ctrl-C to stop.");

    axum::serve(listener, app(&governance, Arc::default())?)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;

    // Deliver the queued audit events before leaving.
    governance.flush().await;
    if let Some(dev) = dev {
        dev.shutdown().await;
    }
    Ok(())
}
