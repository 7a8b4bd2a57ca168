//! The scripted TapPass stand-in: a server on `127.0.0.1:0` that plays the
//! replies a test queues for each path (`TapPass::push`, `TapPass::always`)
//! and records every request it gets. It serves only what the dev server
//! never sends: the module documentation of `tests/support` says which uses
//! are allowed.

use std::collections::{HashMap, VecDeque};
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
