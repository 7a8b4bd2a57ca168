//! Requests per second over loopback sockets: a governed route (behind
//! `TapPassLayer`, joined session, correlation headers echoed) as a ratio of
//! the same route bare, measured in the same run.
//!
//! # The load generator
//!
//! It is in this file, and it works like `wrk`: a closed loop of `CONNECTIONS`
//! keep-alive HTTP/1.1 connections, each sending one pre-encoded
//! `GET / HTTP/1.1` with the two correlation headers, reading the whole
//! response (parsed with `httparse`, the parser hyper uses), checking its
//! status and, on the governed routes, the echoed session header, then
//! sending the next request. It runs on its own thread (a current-thread
//! tokio runtime) and the servers on their own runtime with `SERVER_WORKERS`
//! worker threads (default 1), so that on a 2-core machine the client and the
//! server each have a core and the server is the bottleneck. A lean client
//! matters: a heavy one (reqwest, say) would spend most of the CPU itself and
//! hide the server's overhead in its own cost.
//!
//! Every target gets the same requests, connections and rounds. Rounds rotate
//! the order of the targets so that drift on the machine and the position in a
//! round hit all of them alike. The table shows each target's median
//! throughput and, for the ratios, the median of the per-round ratios (each
//! ratio pairs two measurements taken seconds apart).
//!
//! Run: `cargo bench --bench throughput`
//! (`SERVER_WORKERS=2 cargo bench --bench throughput` for a two-worker server).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use axum::{Router, ServiceExt};
use http::{HeaderName, HeaderValue};
use tappass::{Session, TapPassLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::layer::util::Identity;
use tower::{Layer, Service};

const CONNECTIONS: usize = 32;
const ROUND: Duration = Duration::from_millis(250);
const ROUNDS: usize = 60;
const SESSION_ID: &str = "ses_bench_0123456789abcdef";
const AGENT_UUID: &str = "agt-bench";

async fn bare() -> &'static str {
    "ok"
}

/// The bare route answering the two correlation headers by hand: what the
/// echo alone costs on the wire, without the toolkit.
async fn bare_echo() -> ([(&'static str, &'static str); 2], &'static str) {
    (
        [
            ("x-tappass-session-id", SESSION_ID),
            ("x-tappass-agent-uuid", AGENT_UUID),
        ],
        "ok",
    )
}

#[tappass::governed]
async fn governed(session: Option<Session>) -> &'static str {
    let _ = session;
    "ok"
}

/// The least a layer can do and still echo the correlation: copy the two
/// correlation headers from the request to the response, nothing else (no
/// validation, no session, no scope). It shows what the echo itself costs
/// through `Router::layer`, apart from what TapPass does with the session.
/// With `alias`, it also writes the session id as `X-TapPass-Session`, as
/// the contract asks of TapPass (for Python services downstream): the three
/// headers TapPass echoes for this request, and nothing else it does.
#[derive(Clone)]
struct EchoLayer {
    alias: bool,
}

impl<S> Layer<S> for EchoLayer {
    type Service = Echo<S>;
    fn layer(&self, inner: S) -> Echo<S> {
        Echo {
            inner,
            alias: self.alias,
        }
    }
}

#[derive(Clone)]
struct Echo<S> {
    inner: S,
    alias: bool,
}

static ALIAS: HeaderName = HeaderName::from_static("x-tappass-session");

static ECHOED: [HeaderName; 2] = [
    HeaderName::from_static("x-tappass-session-id"),
    HeaderName::from_static("x-tappass-agent-uuid"),
];

impl<S, B> Service<Request<B>> for Echo<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EchoFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let echo = [0, 1].map(|i| request.headers().get(&ECHOED[i]).cloned());
        EchoFuture {
            inner: self.inner.call(request),
            echo,
            alias: self.alias,
        }
    }
}

pin_project_lite::pin_project! {
    struct EchoFuture<F> {
        #[pin]
        inner: F,
        echo: [Option<HeaderValue>; 2],
        alias: bool,
    }
}

impl<F, E> Future for EchoFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if *this.alias {
            if let Some(id) = &this.echo[0] {
                response.headers_mut().insert(ALIAS.clone(), id.clone());
            }
        }
        for (name, value) in ECHOED.iter().zip(this.echo.iter_mut()) {
            if let Some(value) = value.take() {
                response.headers_mut().insert(name.clone(), value);
            }
        }
        Poll::Ready(Ok(response))
    }
}

struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// Whether the response must echo the session header.
    echoes: bool,
}

/// One keep-alive connection of the load generator.
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    echoes: bool,
}

impl Connection {
    async fn open(target: &Target) -> Connection {
        let stream = TcpStream::connect(target.addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Connection {
            stream,
            buf: Vec::with_capacity(4096),
            echoes: target.echoes,
        }
    }

    /// Sends requests back to back until `deadline`; returns how many completed.
    async fn run_until(&mut self, request: &[u8], deadline: Instant) -> u64 {
        let mut done = 0;
        while Instant::now() < deadline {
            self.stream.write_all(request).await.expect("write request");
            self.read_response().await;
            done += 1;
        }
        done
    }

    async fn read_response(&mut self) {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) =
                response.parse(&self.buf).expect("a valid HTTP response")
            {
                assert_eq!(response.code, Some(200), "status");
                let mut length = None;
                let mut echoed = false;
                for header in response.headers.iter() {
                    if header.name.eq_ignore_ascii_case("content-length") {
                        length = std::str::from_utf8(header.value)
                            .ok()
                            .and_then(|v| v.parse::<usize>().ok());
                    } else if header.name.eq_ignore_ascii_case("x-tappass-session-id") {
                        echoed = header.value == SESSION_ID.as_bytes();
                    }
                }
                assert_eq!(echoed, self.echoes, "session header echoed");
                let end = head + length.expect("content-length");
                if self.buf.len() >= end {
                    self.buf.drain(..end);
                    return;
                }
            }
            let n = self.stream.read_buf(&mut self.buf).await.expect("read");
            assert!(n > 0, "the server closed the connection");
        }
    }
}

/// Requests completed over the whole run (warm-up included), for profiling.
static TOTAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Requests per second of `connections` against one target for one round.
async fn round(connections: &mut Vec<Connection>, request: &'static [u8]) -> f64 {
    let start = Instant::now();
    let deadline = start + ROUND;
    let mut set = tokio::task::JoinSet::new();
    for mut connection in connections.drain(..) {
        set.spawn_local(async move {
            let done = connection.run_until(request, deadline).await;
            (connection, done)
        });
    }
    let mut total = 0;
    while let Some(joined) = set.join_next().await {
        let (connection, done) = joined.expect("load task");
        connections.push(connection);
        total += done;
    }
    TOTAL.fetch_add(total, std::sync::atomic::Ordering::Relaxed);
    total as f64 / start.elapsed().as_secs_f64()
}

/// Serves `app` on a fresh loopback port of the server runtime.
fn serve<S>(server: &tokio::runtime::Runtime, app: S) -> SocketAddr
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    server.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = ServiceExt::<Request>::into_make_service(app);
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let workers: usize = std::env::var("SERVER_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let layer = || {
        // Nothing here calls the control plane: a joined session on a route
        // that makes no agent call never reaches it.
        TapPassLayer::builder()
            .tappass_url("http://127.0.0.1:9")
            .api_key("tp_bench")
            .build()
            .unwrap()
    };
    let targets = [
        Target {
            name: "bare route",
            addr: serve(&server, Router::new().route("/", get(bare))),
            echoes: false,
        },
        Target {
            name: "bare route + 2 headers by hand",
            addr: serve(&server, Router::new().route("/", get(bare_echo))),
            echoes: true,
        },
        Target {
            name: "bare route + no-op tower layer",
            addr: serve(
                &server,
                Router::new().route("/", get(bare)).layer(Identity::new()),
            ),
            echoes: false,
        },
        Target {
            name: "bare route + minimal echo layer",
            addr: serve(
                &server,
                Router::new()
                    .route("/", get(bare))
                    .layer(EchoLayer { alias: false }),
            ),
            echoes: true,
        },
        Target {
            name: "bare route + minimal echo layer, 3 headers",
            addr: serve(
                &server,
                Router::new()
                    .route("/", get(bare))
                    .layer(EchoLayer { alias: true }),
            ),
            echoes: true,
        },
        Target {
            name: "layer, joined session",
            addr: serve(&server, Router::new().route("/", get(bare)).layer(layer())),
            echoes: true,
        },
        Target {
            name: "layer + #[governed]",
            addr: serve(
                &server,
                Router::new().route("/", get(governed)).layer(layer()),
            ),
            echoes: true,
        },
        Target {
            name: "layer around the router + #[governed]",
            // The layer around the whole router rather than through
            // `Router::layer`, which boxes every layered route a second time.
            addr: serve(
                &server,
                layer().layer(Router::new().route("/", get(governed))),
            ),
            echoes: true,
        },
    ];
    let request: &'static [u8] = format!(
        "GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-tappass-session-id: {SESSION_ID}\r\n\
         x-tappass-agent-uuid: {AGENT_UUID}\r\n\r\n"
    )
    .leak()
    .as_bytes();

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let rounds = if quick { 1 } else { ROUNDS };
    // For profiling: `THROUGHPUT_ONLY=<part of a target's name>` loads only
    // the targets whose name holds it, and prints how many requests they served.
    let only = std::env::var("THROUGHPUT_ONLY").ok();
    let selected: Vec<bool> = targets
        .iter()
        .map(|t| only.as_deref().is_none_or(|o| t.name.contains(o)))
        .collect();
    let results = local.block_on(&client, async {
        let mut pools = Vec::new();
        for (target, &on) in targets.iter().zip(&selected) {
            let mut pool = Vec::new();
            if on {
                for _ in 0..CONNECTIONS {
                    pool.push(Connection::open(target).await);
                }
                round(&mut pool, request).await; // warm up
            }
            pools.push(pool);
        }
        let mut results = vec![Vec::with_capacity(rounds); targets.len()];
        for r in 0..rounds {
            for k in 0..targets.len() {
                let t = (r + k) % targets.len();
                if selected[t] {
                    results[t].push(round(&mut pools[t], request).await);
                }
            }
        }
        results
    });

    println!(
        "\nthroughput over loopback: {CONNECTIONS} keep-alive connections, server on \
         {workers} worker thread(s), {rounds} rounds of {ROUND:?} per target"
    );
    println!(
        "  {:<44} {:>12} {:>14} {:>16}",
        "target", "median req/s", "ratio to bare", "ratio IQR"
    );
    for (t, target) in targets.iter().enumerate() {
        if results[t].is_empty() {
            continue;
        }
        let mut ratios: Vec<f64> = results[t]
            .iter()
            .zip(&results[0])
            .map(|(x, bare)| x / bare)
            .collect();
        ratios.sort_by(|a, b| a.total_cmp(b));
        let quartile = |q: usize| {
            ratios
                .get(ratios.len() * q / 4)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "  {:<44} {:>12.0} {:>14.3} {:>7.3} – {:<6.3}",
            target.name,
            median(results[t].clone()),
            quartile(2),
            quartile(1),
            quartile(3),
        );
    }
    if only.is_some() {
        println!(
            "  requests served: {}",
            TOTAL.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
}
