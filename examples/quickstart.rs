//! The quick start: a governed `/chat` route in axum.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! `POST /chat {"prompt": "…"}` answers `{content, session_id, audit_url}`, or
//! the governance decision as its typed HTTP error (403, 428, 503, …);
//! `POST /report {"prompt": "…"}` streams the answer as Server-Sent Events.
//! The
//! service runs behind `TapPassLayer`, which joins the caller's session (or
//! opens one) and echoes the correlation headers; the handler gets the layer's
//! `Agent` injected.
//!
//! Unless `TAPPASS_URL` is set, the example starts the local TapPass
//! development server in-process (with its default policy), so it runs on a
//! fresh machine with nothing else installed. It listens on
//! `127.0.0.1:$PORT` (3000 by default).
//!
//! With `--features otel`, its spans (the request's, each chat's, with the
//! governance decision on them) go over OTLP/HTTP to the dev server, whose
//! console shows them as a waterfall on each session's page; to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` when that is set (and with a hosted TapPass,
//! only then).

use std::net::SocketAddr;

use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use tappass_dev::DevServer;
// axum's `Json`, whose rejection (a body that is not JSON or does not fit)
// answers in the same JSON shape as every governance error.
use tappass::extract::Json;
use tappass::{Agent, TapPassLayer};

#[derive(Deserialize)]
struct ChatIn {
    prompt: String,
}

#[derive(Serialize)]
struct ChatOut {
    content: String,
    session_id: Option<String>,
    audit_url: Option<String>,
}

/// The route: one governed chat call. A decision becomes its HTTP error via `?`.
#[tappass::governed]
async fn chat(agent: Agent, Json(req): Json<ChatIn>) -> Result<Json<ChatOut>, tappass::Error> {
    let response = agent.chat(req.prompt).await?;
    Ok(Json(ChatOut {
        content: response.content,
        session_id: response.correlation.session_id,
        audit_url: response.correlation.audit_url,
    }))
}

/// A streamed answer, as Server-Sent Events in one call: `chunk` events, then
/// `done`; a decision the server takes mid-stream is the last event
/// (`decision`, with the body a `?` would have answered). A decision before
/// the stream starts is the route's typed HTTP error, as for `/chat`.
#[tappass::governed]
async fn report(
    agent: Agent,
    Json(req): Json<ChatIn>,
) -> Result<impl IntoResponse, tappass::Error> {
    Ok(agent.stream(req.prompt).await?.into_sse())
}

/// The application, separate from `main` so that tests can drive it.
pub(crate) fn app(layer: TapPassLayer) -> Router {
    Router::new()
        .route("/chat", post(chat))
        .route("/report", post(report))
        .layer(layer)
}

/// The log filter: `RUST_LOG`, else info.
fn filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
}

/// With `--features otel`: a tracer provider that exports the spans over
/// OTLP/HTTP to the collector at `endpoint` (batched, through tappass's own
/// HTTP client), and the subscriber that logs them and hands them to it.
#[cfg(feature = "otel")]
pub(crate) fn telemetry(
    endpoint: &str,
) -> Result<
    (
        opentelemetry_sdk::trace::SdkTracerProvider,
        impl tracing::Subscriber + Send + Sync,
    ),
    tappass::Error,
> {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::prelude::*;

    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(tappass::otel::span_exporter(endpoint)?)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("quickstart")
                .build(),
        )
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(filter())
        .with(tracing_subscriber::fmt::layer())
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("quickstart")));
    Ok((provider, subscriber))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A hosted TapPass when TAPPASS_URL says so; the embedded dev server otherwise.
    let (dev, layer) = match std::env::var("TAPPASS_URL") {
        Ok(url) if !url.trim().is_empty() => {
            println!("Using the TapPass server at {url}");
            (
                None,
                TapPassLayer::builder().auto_open_session(true).build()?,
            )
        }
        _ => {
            let dev = DevServer::start().await?;
            println!("Started the TapPass development server at {}", dev.url());
            println!(
                "Its console (sessions, approvals, mandates, policy) is at {}/",
                dev.url()
            );
            let layer = TapPassLayer::builder()
                .tappass_url(dev.url())
                .api_key("tp_quickstart_dev_key")
                .auto_open_session(true)
                .build()?;
            (Some(dev), layer)
        }
    };

    // tappass logs through `tracing` (decisions at info, failures at warn, a
    // 5xx's details at error): without a subscriber they go nowhere. The
    // one line is `tracing_subscriber::fmt::init();`; this one also reads
    // RUST_LOG. With `--features otel` the spans also go to a collector.
    #[cfg(feature = "otel")]
    let provider = {
        let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .or_else(|| dev.as_ref().map(DevServer::url));
        match endpoint {
            Some(endpoint) => {
                let (provider, subscriber) = telemetry(&endpoint)?;
                tracing::subscriber::set_global_default(subscriber)?;
                println!("Exporting spans over OTLP/HTTP to {endpoint}");
                Some(provider)
            }
            None => {
                tracing_subscriber::fmt().with_env_filter(filter()).init();
                None
            }
        }
    };
    #[cfg(not(feature = "otel"))]
    tracing_subscriber::fmt().with_env_filter(filter()).init();

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, not `{p}`"))?,
        Err(_) => 3000,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("could not listen on {addr} ({e}); set PORT to a free port, e.g. PORT=3001")
    })?;
    print_try_it(listener.local_addr()?);

    axum::serve(listener, app(layer.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;

    // Deliver the queued audit events (and spans) before leaving.
    layer.flush().await;
    #[cfg(feature = "otel")]
    if let Some(provider) = provider {
        // Blocking: off the runtime's threads, which serve the dev server.
        tokio::task::spawn_blocking(move || provider.shutdown()).await??;
    }
    if let Some(dev) = dev {
        dev.shutdown().await;
    }
    Ok(())
}

fn print_try_it(addr: SocketAddr) {
    let curl = |prompt: &str| {
        format!(
            "curl -si http://{addr}/chat -H 'content-type: application/json' -d '{{\"prompt\": \"{prompt}\"}}'"
        )
    };
    println!("\nGoverned service listening on http://{addr}. Try it:\n");
    for (what, prompt) in [
        ("allowed (200)", "Summarize Q4 revenue"),
        ("policy block (403)", "My SSN is 123-45-6789"),
        (
            "approval required (428)",
            "Please wire transfer $5000 to ACME",
        ),
        ("trust tier denied (403)", "drop the production database"),
        ("break glass active (503)", "we are in incident mode"),
        (
            "tool integrity violation (422)",
            "run the legacy_export tool",
        ),
        ("authorization required (401)", "connect my github"),
        (
            "redacted, answered (200)",
            "mail jane@example.com the report",
        ),
    ] {
        println!("# {what}\n{}\n", curl(prompt));
    }
    println!(
        "# streamed as Server-Sent Events\ncurl -sN http://{addr}/report -H 'content-type: application/json' -d '{{\"prompt\": \"Write a short report\"}}'\n"
    );
    println!("# resume after a 428 once the approval is approved (the console's link is in approval_url):");
    println!("#   send the same request again with -H 'X-TapPass-Resume-Token: <resume_token from the 428>'\n");
    println!("# join an existing session: add -H 'X-TapPass-Session-Id: ses_demo'\n");
    println!("Press Ctrl-C to stop.");
}
