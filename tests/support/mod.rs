//! Shared helpers for the agent tests: a scripted TapPass stand-in, a black
//! hole that accepts connections and never answers, a port that refuses
//! them, a log capture and a retry recorder.
//!
//! Every test starts its own stand-in on `127.0.0.1:0`, so tests run in
//! parallel; nothing here touches process environment variables.
//!
//! # When the stand-in, and when the dev server
//!
//! An answer `tappass_dev::DevServer` gives is asked of the dev server: its
//! decisions (every kind its default policy has a demo trigger for, with the
//! real status, fields and headers, e.g. break glass's `Retry-After: 600`),
//! its redactions, approvals and refused keys. The stand-in serves only what
//! the dev server never sends, and each use is one of these:
//!
//! - **Faults**: hangs and stalls (`Reply::hang`, `Reply::stalled`, `stall`),
//!   slow answers, cut connections (`cut`), bodies too large
//!   (`Reply::huge`), non-JSON or truncated JSON, a plain `500`/`502`/`503`/
//!   `504`, `429` with or without `Retry-After`, `400`/`404`/`409`, a `401` or
//!   `403` that is no decision, a failing `/health` (`tests/agent/retries.rs`,
//!   `tests/agent/version.rs`, `tests/faults.rs`, `tests/hardening.rs`,
//!   `tests/mandates.rs` for a key server that is down).
//! - **Servers that echo the API key** into an error or a decision, to prove
//!   it is scrubbed (`tests/agent/secrecy.rs`, `tests/agent/stream.rs`,
//!   `tests/faults.rs`).
//! - **Wire shapes of PROTOCOL.md the dev server does not produce**: a
//!   decision without `decision` or spelled by `code` with its fields under
//!   `details`, a `403 redaction_applied`, an unknown kind, missing or
//!   malformed fields, no correlation (`tests/agent/decisions.rs`,
//!   `tests/e2e.rs`); a decision in the middle of a stream, OpenAI and native
//!   SSE deltas, CRLF, `[DONE]` without a newline, oversized events
//!   (`tests/agent/stream.rs`, `tests/adoption.rs`); answers with tool calls
//!   and every envelope field set or missing (`tests/agent/chat.rs`);
//!   timestamps in every RFC 3339 shape and without an offset (`tests/time.rs`,
//!   `tests/interop.rs`); other server versions, old, missing, garbage or
//!   pre-release (`tests/agent/version.rs`); `/wait` answered at once or with
//!   `Retry-After` (`tests/hardening.rs`); hostile values in a decision
//!   (`tests/interop.rs`).
//! - **A recorder of the exact request**: the bytes and headers the agent
//!   sent (bodies, correlation, bearer key, `Idempotency-Key` across retries,
//!   a proxy's absolute URL), which the dev server does not expose
//!   (`tests/agent/headers.rs`, `tests/agent/chat.rs`, `tests/interop.rs`,
//!   `tests/hardening.rs`, `tests/proxy.rs`).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A distinctive key: no output of the toolkit may ever contain it.
pub const KEY: &str = "tp_SECRET_must_not_leak";

/// The path of governed chat.
pub const CHAT: &str = "/v1/chat/completions";

/// Runs a test body, failing it instead of hanging CI.
pub async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(15), test)
        .await
        .expect("the test did not finish within 15 s")
}

// ---- scripted answers ------------------------------------------------------

/// How a scripted SSE body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The body ends normally.
    Clean,
    /// The connection is dropped without the body's final chunk.
    Cut,
    /// Nothing more is sent, and the connection stays open.
    Stall,
}

/// One scripted answer of the stand-in.
#[derive(Clone, Debug)]
pub struct Reply {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Script,
    delay: Duration,
}

#[derive(Clone, Debug)]
enum Script {
    Bytes(Bytes),
    /// Never answer (the request is recorded first).
    Hang,
    /// Server-Sent Events, sent as these raw chunks, then ended as `end` says.
    Sse {
        chunks: Vec<String>,
        end: End,
    },
    /// `total` bytes of spaces in 64 KiB chunks, without a Content-Length.
    Huge {
        total: usize,
    },
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Self {
        Reply::raw(status, body.to_string()).header("content-type", "application/json")
    }

    /// A `200` JSON answer.
    pub fn ok(body: Value) -> Self {
        Reply::json(200, body)
    }

    /// A status with a JSON body that holds no decision.
    pub fn status(status: u16) -> Self {
        Reply::json(status, json!({"message": "scripted failure"}))
    }

    /// An answer with this body as it is.
    pub fn raw(status: u16, body: impl Into<Bytes>) -> Self {
        Reply {
            status: StatusCode::from_u16(status).expect("a valid status"),
            headers: Vec::new(),
            body: Script::Bytes(body.into()),
            delay: Duration::ZERO,
        }
    }

    /// No answer at all: the connection stays open and silent.
    pub fn hang() -> Self {
        Reply {
            body: Script::Hang,
            ..Reply::raw(200, "")
        }
    }

    /// A `200` SSE answer made of these raw chunks, ended cleanly.
    pub fn sse<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Self {
        Reply {
            body: Script::Sse {
                chunks: chunks.into_iter().map(Into::into).collect(),
                end: End::Clean,
            },
            ..Reply::raw(200, "")
        }
        .header("content-type", "text/event-stream")
    }

    /// A `200` answer of `total` bytes, streamed in 64 KiB chunks without a
    /// Content-Length; the stand-in counts what it got to send.
    pub fn huge(total: usize) -> Self {
        Reply {
            body: Script::Huge { total },
            ..Reply::raw(200, "")
        }
        .header("content-type", "application/json")
    }

    /// A `200` answer with this content type whose body is sent as these raw
    /// chunks and then goes silent, keeping the connection open.
    pub fn stalled(content_type: &str, chunks: impl IntoIterator<Item = String>) -> Self {
        Reply {
            body: Script::Sse {
                chunks: chunks.into_iter().collect(),
                end: End::Stall,
            },
            ..Reply::raw(200, "")
        }
        .header("content-type", content_type)
    }

    /// Drops the connection after the SSE chunks instead of ending the body.
    pub fn cut(mut self) -> Self {
        if let Script::Sse { end, .. } = &mut self.body {
            *end = End::Cut;
        }
        self
    }

    /// Goes silent after the SSE chunks, keeping the connection open.
    pub fn stall(mut self) -> Self {
        if let Script::Sse { end, .. } = &mut self.body {
            *end = End::Stall;
        }
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// `data: {json}` and the blank line that ends an SSE event.
pub fn event(data: Value) -> String {
    format!("data: {data}\n\n")
}

/// A full `2xx` chat answer, OpenAI-shaped with the `tappass` envelope.
pub fn chat_answer(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "tool_calls": []},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        "tappass": {"session_id": "ses_srv", "task_id": "tsk_1", "blocked": false}
    })
}

// ---- the stand-in ------------------------------------------------------------

/// A request the stand-in got.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Shared {
    version: Option<String>,
    queues: Mutex<HashMap<String, VecDeque<Reply>>>,
    fallbacks: Mutex<HashMap<String, Reply>>,
    requests: Mutex<Vec<Recorded>>,
    huge_sent: AtomicUsize,
    /// How many [`Reply::huge`] bodies were dropped: sent to their end, or
    /// given up when the client hung up.
    huge_ended: tokio::sync::watch::Sender<usize>,
}

/// A scripted TapPass stand-in on `127.0.0.1:0`, stopped when dropped.
///
/// `/health` answers with the configured version (or none) unless a reply is
/// scripted for it; any other path plays its queue of replies, then its
/// fallback (see [`TapPass::always`]), then `404`.
pub struct TapPass {
    url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl TapPass {
    /// A stand-in that reports version 0.6.3.
    pub async fn start() -> TapPass {
        TapPass::with_version(Some("0.6.3")).await
    }

    /// A stand-in whose `/health` reports this version, or none.
    pub async fn with_version(version: Option<&str>) -> TapPass {
        let shared = Arc::new(Shared {
            version: version.map(str::to_owned),
            queues: Mutex::default(),
            fallbacks: Mutex::default(),
            requests: Mutex::default(),
            huge_sent: AtomicUsize::new(0),
            huge_ended: tokio::sync::watch::channel(0).0,
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the stand-in serves until it is dropped");
        });
        TapPass { url, shared, task }
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queues a reply for `path`.
    pub fn push(&self, path: &str, reply: Reply) -> &Self {
        self.shared
            .queues
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default()
            .push_back(reply);
        self
    }

    /// The reply for `path` once its queue is empty, for ever.
    pub fn always(&self, path: &str, reply: Reply) -> &Self {
        self.shared
            .fallbacks
            .lock()
            .unwrap()
            .insert(path.to_owned(), reply);
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests received for `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// How many requests `path` received.
    pub fn hits(&self, path: &str) -> usize {
        self.requests_to(path).len()
    }

    /// How many bytes of [`Reply::huge`] bodies were handed to the connection.
    pub fn huge_sent(&self) -> usize {
        self.shared.huge_sent.load(Ordering::SeqCst)
    }

    /// Waits until the [`Reply::huge`] body is dropped: sent to its end, or
    /// given up because the client hung up. [`TapPass::huge_sent`] is final then.
    pub async fn huge_ended(&self) {
        self.shared
            .huge_ended
            .subscribe()
            .wait_for(|&ended| ended > 0)
            .await
            .expect("the stand-in lives as long as its handle");
    }
}

impl Drop for TapPass {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    shared.requests.lock().unwrap().push(Recorded {
        method: parts.method,
        path: path.clone(),
        headers: parts.headers,
        body,
    });
    let scripted = shared
        .queues
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .or_else(|| shared.fallbacks.lock().unwrap().get(&path).cloned());
    let reply = match scripted {
        Some(reply) => reply,
        None if path == "/health" => {
            let mut health = json!({"status": "ok", "storage": "memory", "uptime_seconds": 1});
            if let Some(version) = &shared.version {
                health["version"] = json!(version);
            }
            Reply::ok(health)
        }
        None => Reply::json(404, json!({"error": "not scripted", "path": path})),
    };
    play(reply, &shared).await
}

async fn play(reply: Reply, shared: &Arc<Shared>) -> Response {
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let body = match reply.body {
        Script::Bytes(bytes) => Body::from(bytes),
        Script::Hang => std::future::pending().await,
        Script::Sse { chunks, end } => sse_body(chunks, end),
        Script::Huge { total } => huge_body(total, shared.clone()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    for (name, value) in reply.headers {
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(&value).expect("header value"),
        );
    }
    response
}

fn sse_body(chunks: Vec<String>, end: End) -> Body {
    let chunks: VecDeque<String> = chunks.into();
    let stream = futures_util::stream::unfold(Some(chunks), move |state| async move {
        let mut chunks = state?;
        match chunks.pop_front() {
            Some(chunk) => Some((Ok(Bytes::from(chunk)), Some(chunks))),
            None if end == End::Stall => std::future::pending().await,
            None if end == End::Cut => {
                // Hand the connection back to hyper once: its dispatcher
                // flushes what it buffered whenever the body is pending. Then
                // fail the body, and hyper drops the connection without the
                // final chunk.
                tokio::task::yield_now().await;
                Some((Err(io::Error::other("scripted cut")), None))
            }
            None => None,
        }
    });
    Body::from_stream(stream)
}

fn huge_body(total: usize, shared: Arc<Shared>) -> Body {
    static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];
    /// Counts the body's end when the stream drops, however it ends.
    struct Ended(Arc<Shared>);
    impl Drop for Ended {
        fn drop(&mut self) {
            self.0.huge_ended.send_modify(|ended| *ended += 1);
        }
    }
    let stream = futures_util::stream::unfold((total, Ended(shared)), |(left, ended)| async move {
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK.len());
        ended.0.huge_sent.fetch_add(n, Ordering::SeqCst);
        Some((
            Ok::<_, io::Error>(Bytes::from_static(&CHUNK[..n])),
            (left - n, ended),
        ))
    });
    Body::from_stream(stream)
}

// ---- other endpoints -------------------------------------------------------

/// A port that refuses connections: a socket bound to it and not listening,
/// held for as long as this lives, so that no other test can take the port.
pub struct Refusing {
    url: String,
    socket: tokio::net::TcpSocket,
}

impl Refusing {
    pub fn start() -> Refusing {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("address"))
            .expect("bind");
        let url = format!("http://{}", socket.local_addr().expect("local addr"));
        Refusing { url, socket }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts listening on the same port: the server "comes up".
    pub fn listen(self) -> TcpListener {
        self.socket.listen(128).expect("listen")
    }
}

/// The URL of a port that refuses connections, held by this test binary for
/// its whole life: for agents and layers whose control plane a test never
/// reaches, or must find down. A bound socket that does not listen refuses
/// every connection, and as it stays bound no other process can take the
/// port (unlike a port assumed dead, such as 9, or one released and rebound).
pub fn refused_url() -> &'static str {
    static REFUSING: std::sync::OnceLock<Refusing> = std::sync::OnceLock::new();
    REFUSING.get_or_init(Refusing::start).url()
}

/// A server that accepts connections and never reads nor answers; stopped
/// when dropped.
pub struct BlackHole {
    url: String,
    task: JoinHandle<()>,
}

impl BlackHole {
    pub async fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        BlackHole { url, task }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---- a raw SSE server ------------------------------------------------------

/// A bare HTTP/1.1 server for transport-level SSE tests: `/health` answers
/// version 0.6.3; any other request gets `body` as Server-Sent Events with
/// chunked transfer encoding, one HTTP chunk per element of `chunks`, written
/// in one go so that the server's own cost is next to nothing. Stopped when
/// dropped.
pub struct RawSse {
    url: String,
    task: JoinHandle<()>,
}

impl RawSse {
    pub async fn start(chunks: Vec<Vec<u8>>) -> RawSse {
        use std::io::Write as _;
        let mut wire = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
            write!(wire, "{:x}\r\n", chunk.len()).expect("write");
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let wire = Arc::new(wire);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve_raw(socket, wire.clone()));
            }
        });
        RawSse { url, task }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for RawSse {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_raw(mut socket: tokio::net::TcpStream, sse: Arc<Vec<u8>>) -> io::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = Vec::new();
    loop {
        // Read one request: its head, then its Content-Length body.
        let (path, body_len, head_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(head_len)) = request.parse(&buf) {
                let body_len = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                    .unwrap_or(0usize);
                break (request.path.unwrap_or("").to_owned(), body_len, head_len);
            }
            let mut more = [0u8; 4096];
            let n = socket.read(&mut more).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&more[..n]);
        };
        while buf.len() < head_len + body_len {
            let mut more = [0u8; 4096];
            let n = socket.read(&mut more).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&more[..n]);
        }
        buf.drain(..head_len + body_len);
        if path == "/health" {
            let body = r#"{"status":"ok","version":"0.6.3"}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(head.as_bytes()).await?;
        } else {
            socket.write_all(&sse).await?;
        }
    }
}

// ---- logs ------------------------------------------------------------------

/// Everything logged while a [`capture_logs`] guard is alive.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// Captures every log line (all levels) of the current thread until the
/// returned guard drops. Use it in a `current_thread` test so that spawned
/// tasks log on the same thread.
#[must_use = "logs are captured only while the guard lives"]
pub fn capture_logs() -> (Logs, impl Sized) {
    use tracing_subscriber::util::SubscriberInitExt;
    let logs = Logs::default();
    let guard = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish()
        .set_default();
    (logs, guard)
}

// ---- retries ---------------------------------------------------------------

/// One retry an agent made, as its `retrying a TapPass call` debug event
/// reports it: the call's path, the attempt that failed (0 for the first) and
/// the delay the agent computed before the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    pub path: String,
    pub attempt: u64,
    pub delay: Duration,
}

/// The retries recorded while a [`record_retries`] guard is alive, so that a
/// test shows backoff by the delays the client computed and by counting
/// attempts, not by the time a call took.
#[derive(Clone)]
pub struct Retries {
    seen: Arc<Mutex<Vec<Retry>>>,
    count: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Retries {
    /// Every retry so far, in order.
    pub fn all(&self) -> Vec<Retry> {
        self.seen.lock().unwrap().clone()
    }

    /// The delays of the retries of `path`, in order.
    pub fn delays(&self, path: &str) -> Vec<Duration> {
        self.all()
            .into_iter()
            .filter(|r| r.path == path)
            .map(|r| r.delay)
            .collect()
    }

    /// Waits until `n` retries (of any path) have been recorded.
    pub async fn wait_for(&self, n: usize) {
        self.count
            .subscribe()
            .wait_for(|&seen| seen >= n)
            .await
            .expect("the recorder lives as long as Retries");
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Retries {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Fields {
            message: String,
            path: String,
            attempt: Option<u64>,
            delay: Option<String>,
        }
        impl tracing::field::Visit for Fields {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "attempt" {
                    self.attempt = Some(value);
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "path" {
                    self.path = value.to_owned();
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "message" => self.message = format!("{value:?}"),
                    "delay" => self.delay = Some(format!("{value:?}")),
                    _ => {}
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message != "retrying a TapPass call" {
            return;
        }
        let retry = Retry {
            path: fields.path,
            attempt: fields.attempt.expect("a retry names its attempt"),
            delay: parse_debug_duration(&fields.delay.expect("a retry names its delay")),
        };
        self.seen.lock().unwrap().push(retry);
        self.count.send_modify(|n| *n += 1);
    }
}

/// A `Duration` from its `Debug` text (`1.5s`, `150ms`, `12.3µs`, `7ns`).
fn parse_debug_duration(text: &str) -> Duration {
    let (number, unit_nanos) = [("ns", 1e0), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)]
        .into_iter()
        .find_map(|(unit, nanos)| Some((text.strip_suffix(unit)?, nanos)))
        .unwrap_or_else(|| panic!("not a Duration's Debug: {text}"));
    let number: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("not a Duration's Debug: {text}"));
    Duration::from_nanos((number * unit_nanos).round() as u64)
}

/// Records every retry an agent logs on the current thread until the
/// returned guard drops. Use it in a `current_thread` test so that spawned
/// tasks log on the same thread.
#[must_use = "retries are recorded only while the guard lives"]
pub fn record_retries() -> (Retries, impl Sized) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let retries = Retries {
        seen: Arc::default(),
        count: Arc::new(tokio::sync::watch::channel(0).0),
    };
    let guard = tracing_subscriber::registry()
        .with(retries.clone())
        .set_default();
    (retries, guard)
}
