//! OTLP/HTTP over the crate's own reqwest: [`span_exporter`] and the HTTP
//! client it sends with.
//!
//! The SDK's batch processor exports from a thread of its own, outside any
//! Tokio runtime, and blocks that thread on the export's future; an
//! application may also shut its provider down from inside its runtime. So
//! the client runs its requests on a small runtime of its own (one thread,
//! started on first use), and the future the exporter waits on is a
//! channel's: it completes on any executor, and never needs the
//! application's runtime to be free.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;

/// The longest an export may take before it fails (the SDK's default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer a collector's response body may have.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// An OTLP/HTTP span exporter (binary protobuf) that sends to the collector
/// at `base_url` (its `/v1/traces`), through the toolkit's reqwest and
/// rustls: no second HTTP stack, no gRPC.
///
/// `base_url` is what `OTEL_EXPORTER_OTLP_ENDPOINT` would be, e.g.
/// `http://localhost:4318`, or the TapPass dev server's URL, whose console
/// shows the spans beside each session's timeline. Hand the exporter to the
/// SDK's batch processor:
///
/// ```no_run
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracing_subscriber::prelude::*;
///
/// # #[tokio::main] async fn main() -> Result<(), tappass::Error> {
/// let exporter = tappass::otel::span_exporter("http://127.0.0.1:9620")?;
/// let provider = SdkTracerProvider::builder()
///     .with_batch_exporter(exporter)
///     .build();
/// tracing_subscriber::registry()
///     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("my-service")))
///     .init();
/// // ... serve; then, on shutdown, export what is left:
/// provider.shutdown().ok();
/// # Ok(()) }
/// ```
pub fn span_exporter(base_url: &str) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    let base = crate::agent::normalize_url(base_url).map_err(|_| {
        Error::config(format!(
            "the OTLP endpoint `{base_url}` is not an http(s) URL; pass the collector's base URL, e.g. http://localhost:4318"
        ))
    })?;
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{base}/v1/traces"))
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(ReqwestClient::new()?)
        .build()
        .map_err(|e| Error::config(format!("could not build the OTLP span exporter: {e}")))
}

/// One request for the client's runtime, and where its answer goes.
type Job = (
    Request<Bytes>,
    oneshot::Sender<Result<Response<Bytes>, HttpError>>,
);

/// An `opentelemetry_http::HttpClient` over reqwest 0.12, the toolkit's.
#[derive(Debug, Clone)]
pub(crate) struct ReqwestClient {
    jobs: mpsc::UnboundedSender<Job>,
}

impl ReqwestClient {
    pub(crate) fn new() -> Result<ReqwestClient, Error> {
        static JOBS: OnceLock<mpsc::UnboundedSender<Job>> = OnceLock::new();
        if let Some(jobs) = JOBS.get() {
            return Ok(ReqwestClient { jobs: jobs.clone() });
        }
        let http = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| Error::config(format!("could not build the OTLP HTTP client: {e}")))?;
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::config(format!("could not start the OTLP exporter's runtime: {e}"))
            })?;
        std::thread::Builder::new()
            .name("tappass-otlp".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some((request, answer)) = queue.recv().await {
                        let http = http.clone();
                        tokio::spawn(async move {
                            let _ = answer.send(send(&http, request).await);
                        });
                    }
                })
            })
            .map_err(|e| {
                Error::config(format!("could not start the OTLP exporter's thread: {e}"))
            })?;
        // A racing first caller's thread ends at once: its sender is dropped here.
        let jobs = JOBS.get_or_init(|| jobs).clone();
        Ok(ReqwestClient { jobs })
    }
}

async fn send(
    http: &reqwest::Client,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, HttpError> {
    let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
    let response = http.execute(request).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = crate::agent::read_limited(response, MAX_RESPONSE_BYTES).await?;
    let mut answer = Response::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}

#[async_trait::async_trait]
impl HttpClient for ReqwestClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send((request, answer))
            .map_err(|_| "the OTLP exporter's thread has stopped")?;
        answered
            .await
            .map_err(|_| "the OTLP export was dropped before it was answered")?
    }
}
