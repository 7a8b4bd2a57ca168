//! What a test reads off a run besides the answers: the log lines
//! (`capture_logs`), the retries an agent made with the delays it computed
//! (`record_retries`), and the exact bytes a client sent to a server it
//! reached through a recording TCP relay (`Relay`).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

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
    // A callsite first met on another thread while this subscriber was being
    // set may have cached "never" from the global default alone; recompute,
    // so that a test running beside others sees every line of its thread.
    tracing::callsite::rebuild_interest_cache();
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

// ---- the recording relay ---------------------------------------------------

/// What the relay records: per connection, the bytes the client sent.
type Records = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// A TCP relay to a server (the dev server, in the tests) that counts the
/// connections it accepts and records, per connection, the bytes the client
/// sent: the answers are the server's own, and the requests are exactly
/// what went out. Stopped when dropped.
pub struct Relay {
    url: String,
    accepted: Arc<AtomicUsize>,
    sent: Records,
    task: JoinHandle<()>,
}

impl Relay {
    pub async fn start(upstream: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let sent: Records = Arc::default();
        let task = tokio::spawn({
            let accepted = accepted.clone();
            let sent = sent.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let record = Arc::new(Mutex::new(Vec::new()));
                    sent.lock().unwrap().push(record.clone());
                    tokio::spawn(relay(client, upstream, record));
                }
            }
        });
        Relay {
            url,
            accepted,
            sent,
            task,
        }
    }

    /// The relay's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many TCP connections clients opened.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Every request received, connection by connection, in order within each.
    pub fn requests(&self) -> Vec<Sent> {
        let records = self.sent.lock().unwrap().clone();
        records
            .iter()
            .flat_map(|record| parse_requests(&record.lock().unwrap()))
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways; what the client sends is recorded before it is forwarded,
/// so once the server has answered a request, the record holds all of it.
async fn relay(client: TcpStream, upstream: std::net::SocketAddr, record: Arc<Mutex<Vec<u8>>>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        // Either side ending ends the relay; the result is of no interest.
        server_write.shutdown().await.ok();
    };
    let down = async move {
        tokio::io::copy(&mut server_read, &mut client_write)
            .await
            .ok();
        client_write.shutdown().await.ok();
    };
    tokio::join!(up, down);
}

/// One request as the client sent it.
#[derive(Debug)]
pub struct Sent {
    pub method: String,
    pub path: String,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Sent {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// The HTTP/1.1 requests in one connection's bytes (bodies sized by
/// `Content-Length`, as the agent sends them).
fn parse_requests(mut bytes: &[u8]) -> Vec<Sent> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head) = request.parse(bytes).expect("an HTTP/1.1 request")
        else {
            panic!(
                "a request head was cut off: {:?}",
                String::from_utf8_lossy(bytes)
            );
        };
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        assert!(
            !headers.iter().any(|(n, _)| n == "transfer-encoding"),
            "the agent sends sized bodies: {headers:?}"
        );
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().expect("a length"));
        out.push(Sent {
            method: request.method.expect("method").to_owned(),
            path: request.path.expect("path").to_owned(),
            body: bytes[head..head + length].to_vec(),
            headers,
        });
        bytes = &bytes[head + length..];
    }
    out
}
