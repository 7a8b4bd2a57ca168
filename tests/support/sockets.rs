//! Endpoints below HTTP: a port that refuses connections, a server that
//! accepts them and never answers, and a bare HTTP/1.1 server that streams
//! fixed Server-Sent Events at next to no cost of its own.

use std::io;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

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
