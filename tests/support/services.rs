//! The services the tests serve: the one sample governed chat service
//! (`sample`, served with `serve_sample` or behind a layer of the test's own
//! with `serve`), and the error enum of the design (`chat_error!`).
//!
//! A test whose service differs in what it checks keeps that service beside
//! it: the route-flag table's handlers (`tests/governed`), Python-style
//! service B and the propagating services A (`tests/estate`), the services
//! that verify mandates (`tests/mandates`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};
use tappass::extract::Json;
use tappass::{Agent, Error, TapPassLayer};
use tappass_dev::DevServer;
use tokio::task::JoinHandle;

/// The error enum of the design: a service's own errors beside
/// `tappass::Error` (`Rejected`, `Maintenance`, `TapPass`, `Storage`), as
/// `tests/macros/pass/derive_design_enum.rs` compiles it from the docs.
/// Written once here for the tests that derive it at run time; what they
/// need beyond it is a parameter, never a copy:
///
/// - attributes of the enum (`#[governance(openapi)]` and its doc comment in
///   `tests/errors/openapi.rs`);
/// - the `#[governance(..)]` of `Storage`: its display text as the message
///   in `tests/errors/derive.rs`, a fixed message in `tests/errors/openapi.rs`,
///   whose schema states it;
/// - variants after the design's four (every other attribute of the derive,
///   in `tests/errors/derive.rs`).
///
/// It declares `ChatError` where it is invoked:
///
/// ```ignore
/// crate::chat_error! {
///     #[allow(dead_code)] // the enum's attributes, if any
///     storage: #[governance(status = 500)]
///     // more variants, if any
/// }
/// ```
#[macro_export]
macro_rules! chat_error {
    (
        $(#[$attr:meta])*
        storage: #[governance($($storage:tt)*)]
        $($more:tt)*
    ) => {
        #[derive(Debug, thiserror::Error, tappass::GovernanceError)]
        $(#[$attr])*
        enum ChatError {
            /// The prompt was refused by our own checks.
            #[error("prompt rejected: {reason}")]
            #[governance(status = 403, code = "prompt_rejected")]
            Rejected {
                /// Why, in words.
                reason: String,
                audit_url: Option<String>,
            },

            #[error("maintenance window")]
            #[governance(status = 503, retry_after = until)]
            Maintenance { until: tappass::Timestamp },

            #[error(transparent)]
            #[governance(transparent)]
            TapPass(#[from] tappass::Error),

            #[error("storage failed")]
            #[governance($($storage)*)]
            Storage(#[source] std::io::Error),

            $($more)*
        }
    };
}

// ---- the sample service -----------------------------------------------------

/// `{"prompt": ..}`: what the sample's chat routes read.
#[derive(Deserialize)]
pub struct PromptIn {
    pub prompt: String,
}

/// `{"tool": .., "args": ..}`: what the sample's `/tool` reads.
#[derive(Deserialize)]
pub struct ToolIn {
    pub tool: String,
    pub args: Value,
}

/// The sample governed chat service, without a layer: every route calls
/// TapPass through the `Agent` extractor (the layer's), and a decision or a
/// failure is the route's `tappass::Error`, answered as the mapping says.
/// Bodies are read with the toolkit's `Json`.
///
/// | route | reads | answers |
/// |---|---|---|
/// | `POST /chat` | `{"prompt"}` | JSON: the `content`, the session the server used (`session_id`, `audit_url`), how many `redactions`, the server's `steps` |
/// | `POST /stream` | `{"prompt"}` | the stream relayed as SSE, each event `data: <session>\|<text>` naming the session the body was polled in; an error item `<error code>` |
/// | `POST /stream/joined` | `{"prompt"}` | JSON: the streamed `content`, joined; an error item is the route's error |
/// | `POST /tool` | `{"tool", "args"}` | JSON: `allowed`, the verdict's `reason` and `approval` |
/// | `POST /hi` | nothing | a chat of `hi`: its content as text |
/// | `POST /hi/stream` | nothing | a stream of `hi` relayed as text; an error item fails the body |
/// | `POST /echo` | `{"prompt"}` | the prompt as text, without calling TapPass |
/// | `POST /report` | `{"prompt"}` | the stream as SSE, through `ChatStream::into_sse` |
pub fn sample() -> Router {
    Router::new()
        .route("/chat", post(chat))
        .route("/stream", post(stream))
        .route("/stream/joined", post(stream_joined))
        .route("/tool", post(tool))
        .route("/hi", post(hi))
        .route("/hi/stream", post(hi_stream))
        .route("/echo", post(echo))
        .route("/report", post(report))
}

async fn chat(agent: Agent, Json(req): Json<PromptIn>) -> Result<Json<Value>, Error> {
    let response = agent.chat(req.prompt).await?;
    Ok(Json(json!({
        "content": response.content,
        "session_id": response.correlation.session_id,
        "audit_url": response.correlation.audit_url,
        "redactions": response.redactions.len(),
        "steps": response.raw["tappass"]["steps"],
    })))
}

/// Relays the agent's stream as SSE; each event also says which session the
/// body was polled in.
async fn stream(agent: Agent, Json(req): Json<PromptIn>) -> Result<Response, Error> {
    let chunks = agent.stream(req.prompt).await?;
    let lines = chunks.map(|chunk| {
        let session = tappass::current_session()
            .map(|s| s.id().to_owned())
            .unwrap_or_default();
        let text = match chunk {
            Ok(c) => c.content,
            Err(e) => format!("<error {}>", tappass::GovernanceError::code(&e)),
        };
        Ok::<_, std::convert::Infallible>(format!("data: {session}|{text}\n\n"))
    });
    Ok((
        [(CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(lines),
    )
        .into_response())
}

async fn stream_joined(agent: Agent, Json(req): Json<PromptIn>) -> Result<Json<Value>, Error> {
    let mut chunks = agent.stream(req.prompt).await?;
    let mut content = String::new();
    while let Some(chunk) = chunks.next().await {
        content.push_str(&chunk?.content);
    }
    Ok(Json(json!({ "content": content })))
}

async fn tool(agent: Agent, Json(req): Json<ToolIn>) -> Result<Json<Value>, Error> {
    let verdict = agent.govern_tool(req.tool, req.args).await?;
    Ok(Json(json!({
        "allowed": true,
        "reason": verdict.reason,
        "approval": verdict.raw["approval"],
    })))
}

async fn hi(agent: Agent) -> Result<String, Error> {
    Ok(agent.chat("hi").await?.content)
}

/// Relays the streamed text; an error item of the stream fails the body.
async fn hi_stream(agent: Agent) -> Result<Response, Error> {
    let chunks = agent.stream("hi").await?;
    let body =
        chunks.map(|item| -> Result<Bytes, tappass::BoxError> { Ok(Bytes::from(item?.content)) });
    Ok(([(CONTENT_TYPE, "text/plain")], Body::from_stream(body)).into_response())
}

async fn echo(Json(req): Json<PromptIn>) -> String {
    req.prompt
}

async fn report(agent: Agent, Json(req): Json<PromptIn>) -> Result<impl IntoResponse, Error> {
    Ok(agent.stream(req.prompt).await?.into_sse())
}

// ---- serving ------------------------------------------------------------------

/// A router served on `127.0.0.1:0`, stopped when dropped.
pub struct Served {
    addr: SocketAddr,
    url: String,
    client: reqwest::Client,
    /// `None` once detached.
    task: Option<JoinHandle<()>>,
}

/// Serves `router` on `127.0.0.1:0` until the returned handle drops.
pub async fn serve(router: Router) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("the service serves until the test ends");
    });
    Served {
        addr,
        url: format!("http://{addr}"),
        client: reqwest::Client::new(),
        task: Some(task),
    }
}

/// The sample service behind a layer with `agent`, which opens a session
/// for a request without one when `auto_open` says so; served.
pub async fn serve_sample(agent: Agent, auto_open: bool) -> Served {
    let layer = TapPassLayer::builder()
        .agent(agent)
        .auto_open_session(auto_open)
        .build()
        .expect("layer");
    serve(sample().layer(layer)).await
}

/// The sample service behind a layer of its own on the TapPass at `url`,
/// with `api_key`, answering problem+json when `problem_json`; served.
pub async fn serve_layered(url: &str, api_key: &str, problem_json: bool) -> Served {
    let layer = TapPassLayer::builder()
        .tappass_url(url)
        .api_key(api_key)
        .problem_json(problem_json)
        .build()
        .unwrap();
    serve(sample().layer(layer)).await
}

/// An agent of the TapPass at `url` (the dev server, or a relay in front of
/// it) with `key`, its default retries and a 10 s timeout.
pub fn keyed_agent(url: &str, key: &str) -> Agent {
    Agent::builder(url)
        .api_key(key)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("agent")
}

/// An agent of `dev` that never retries, as the sample's tests use it.
pub fn sample_agent(dev: &DevServer) -> Agent {
    Agent::builder(dev.url())
        .api_key("tp_e2e_key")
        .max_retries(0)
        .build()
        .unwrap()
}

/// A dev server, and the sample service in front of it with a
/// [`sample_agent`], joining sessions and opening none.
pub async fn sample_on_dev() -> (DevServer, Served) {
    let dev = DevServer::start().await.unwrap();
    let app = serve_sample(sample_agent(&dev), false).await;
    (dev, app)
}

/// The session the sample's caller joins in [`Served::chat`].
pub const CALLER_SESSION: &str = "ses_e2e";

impl Served {
    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Leaves the server running for as long as the test's runtime, for a
    /// service that outlives the function that served it; its address.
    pub fn detach(mut self) -> SocketAddr {
        self.task = None;
        self.addr
    }

    /// A client for requests of the test's own.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// POSTs `body` as JSON to `path` with `headers`, within 20 s: the
    /// status, the headers, and the body as JSON (as a JSON string when it is
    /// not JSON).
    pub async fn post_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (u16, HeaderMap, Value) {
        let mut request = self.client.post(format!("{}{path}", self.url)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(Duration::from_secs(20), request.send())
            .await
            .expect("no hang")
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, json)
    }

    /// [`Served::post_with`] as the caller of `session`, or of no session.
    pub async fn post(
        &self,
        path: &str,
        body: Value,
        session: Option<&str>,
    ) -> (u16, HeaderMap, Value) {
        let headers: Vec<(&str, &str)> = session
            .map(|id| ("X-TapPass-Session-Id", id))
            .into_iter()
            .collect();
        self.post_with(path, &body, &headers).await
    }

    /// A chat of `prompt` on the sample's `/chat`, in [`CALLER_SESSION`].
    pub async fn chat(&self, prompt: &str) -> (u16, HeaderMap, Value) {
        self.post("/chat", json!({"prompt": prompt}), Some(CALLER_SESSION))
            .await
    }

    /// POSTs `body` as it is to `path` as the caller of `session`, with this
    /// content type or none: the status, the content type and the text.
    pub async fn post_raw(
        &self,
        path: &str,
        session: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (u16, String, String) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("X-TapPass-Session-Id", session)
            .body(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
