//! Configuration of an [`Agent`]: [`AgentBuilder`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use super::Reporter;
use super::{Agent, Inner, RetryPolicy};
use crate::error::Error;
use crate::key::ApiKey;

/// The server used when neither an argument nor `TAPPASS_URL` names one.
pub const DEFAULT_URL: &str = "http://localhost:9620";

/// Configures an [`Agent`]; see [`Agent::builder`].
///
/// An explicit setting wins over the environment (`TAPPASS_URL`,
/// `TAPPASS_API_KEY`).
#[derive(Clone)]
#[must_use]
pub struct AgentBuilder {
    url: Option<String>,
    api_key: Option<ApiKey>,
    model: String,
    connect_timeout: Duration,
    timeout: Duration,
    retry: RetryPolicy,
    max_response_bytes: usize,
    redaction_as_error: bool,
    resilience: Option<crate::resilience::Resilience>,
    audit_spool: Option<crate::resilience::AuditSpool>,
    event_queue: usize,
    agent_id: Option<String>,
    audit_only: bool,
    root_certificates: Vec<Vec<u8>>,
    approval_base_url: Option<String>,
    #[cfg(feature = "signing")]
    signing_key: Option<crate::signing::SigningKey>,
    capture_content: bool,
    #[cfg(feature = "otel")]
    metrics: Option<super::metrics::Metrics>,
}

/// The setting the API key came from, named in the messages about the key so
/// that they point at the one to fix.
const KEY_IN_CODE: &str = "the key given with `.api_key(..)`";
/// See [`KEY_IN_CODE`].
const KEY_IN_ENV: &str = "TAPPASS_API_KEY";
/// The setting the URL came from, named in the messages about the server.
const URL_IN_CODE: &str = "the URL given in code";
/// See [`URL_IN_CODE`].
const URL_IN_ENV: &str = "TAPPASS_URL";
/// See [`URL_IN_CODE`].
const URL_DEFAULT: &str = "the default URL (set TAPPASS_URL or pass one in code)";

impl fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentBuilder")
            .field("url", &self.url.as_deref().map(shown))
            .field("api_key", &self.api_key)
            .field("model", &self.model)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("resilience", &self.resilience)
            .field("audit_spool", &self.audit_spool)
            .field("agent_id", &self.agent_id)
            .field("audit_only", &self.audit_only)
            .field("root_certificates", &self.root_certificates.len())
            .field("approval_base_url", &self.approval_base_url)
            .field("signs", &self.signs())
            .field("capture_content", &self.capture_content)
            .finish_non_exhaustive()
    }
}

impl AgentBuilder {
    /// Whether requests will be signed (for `Debug`, which never shows the key).
    fn signs(&self) -> bool {
        #[cfg(feature = "signing")]
        return self.signing_key.is_some();
        #[cfg(not(feature = "signing"))]
        false
    }

    pub(crate) fn new(url: Option<String>) -> Self {
        AgentBuilder {
            url,
            api_key: None,
            model: "gpt-4o-mini".to_owned(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy {
                max_retries: 2,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(10),
            },
            max_response_bytes: 8 * 1024 * 1024,
            redaction_as_error: false,
            resilience: None,
            audit_spool: None,
            event_queue: 4096,
            agent_id: None,
            audit_only: false,
            root_certificates: Vec::new(),
            approval_base_url: None,
            #[cfg(feature = "signing")]
            signing_key: None,
            capture_content: false,
            #[cfg(feature = "otel")]
            metrics: None,
        }
    }

    /// Records the prompts, the answers and the tools' arguments on the
    /// agent's spans (`gen_ai.input.messages`, `gen_ai.output.messages`,
    /// `gen_ai.tool.call.arguments`). Off by default, as the OpenTelemetry
    /// GenAI conventions recommend: they may hold personal data, and the
    /// store of the traces is seldom where that may go. The API key is never
    /// recorded.
    pub fn capture_content(mut self, on: bool) -> Self {
        self.capture_content = on;
        self
    }

    /// Makes the agent's metrics with `provider`'s meter (feature `otel`;
    /// see [`crate::otel`]) instead of the global meter provider's.
    ///
    /// ```
    /// # fn demo() -> Result<(), tappass::Error> {
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let agent = tappass::Agent::builder("http://127.0.0.1:9620")
    ///     .api_key("tp_example")
    ///     .meter_provider(&provider)
    ///     .build()?;
    /// # drop(agent); Ok(()) }
    /// ```
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn meter_provider<P>(mut self, provider: &P) -> Self
    where
        P: opentelemetry::metrics::MeterProvider + ?Sized,
    {
        self.metrics = Some(super::metrics::Metrics::new(provider));
        self
    }

    /// Signs every request to the control plane with `key`, as the Python
    /// SDK's `signing.py` does (feature `signing`; see [`crate::signing`]):
    /// a server that knows the agent's public key can then tell that a
    /// request comes from this agent, unaltered and not replayed. The
    /// signature names the agent by [`agent_id`](Self::agent_id), which
    /// [`build`](Self::build) then requires. Its `Debug` never shows the key.
    #[cfg(feature = "signing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signing")))]
    pub fn signing_key(mut self, key: crate::signing::SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// The client's own agent id, sent as `agent_id` to `/v1/govern` when the
    /// session in scope names no agent (the Python SDK's `agent_id`). Without
    /// it, and outside a session that knows its agent, `"sdk:unknown"` is
    /// sent, and the server attributes the call to the API key's agent.
    pub fn agent_id(mut self, agent_id: impl Into<String>) -> Self {
        self.agent_id = Some(agent_id.into());
        self
    }

    /// Puts every tool call of this agent in audit-only mode (default off):
    /// recorded as a `tool_call` event, never sent for a decision and never
    /// blocked. See [`ToolCallRequest::audit_only`](super::ToolCallRequest::audit_only).
    pub fn audit_only(mut self, on: bool) -> Self {
        self.audit_only = on;
        self
    }

    /// Trusts the certificate authorities in `pem` (one or more PEM
    /// `CERTIFICATE` blocks) beside the platform's certificate store and the
    /// bundled Mozilla roots: for a TapPass behind an internal CA that is not
    /// installed on this machine. [`build`](Self::build) fails with
    /// [`Error::Config`] when `pem` holds no certificate it can read.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let agent = tappass::Agent::builder("https://tappass.internal")
    ///     .api_key("tp_...")
    ///     .add_root_certificate(std::fs::read("/etc/tappass/ca.pem")?)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn add_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// The server's base URL (default: `TAPPASS_URL`, else
    /// `http://localhost:9620`); the same name as on the layer's builder
    /// ([`TapPassLayerBuilder::tappass_url`](crate::layer::TapPassLayerBuilder::tappass_url)).
    ///
    /// A URL with user info (`https://user:password@host`) is refused by
    /// [`build`](Self::build): the key authenticates, and credentials in the
    /// URL would reach every message that names the server.
    pub fn tappass_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The API key (default: `TAPPASS_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// The model asked for when a call names none (default `gpt-4o-mini`).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// How long to wait for a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt of a call may take, from connecting to reading the
    /// whole body (default 60 s). A stream is not bounded as a whole, but each
    /// wait for its next bytes is.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a call is retried after a connection error, a timeout,
    /// or a 429, 502, 503 or 504 answer that carries no decision (default 2).
    /// Decisions and other answers are never retried. Every retry of a `POST`
    /// carries the same `Idempotency-Key` as its first attempt, so a server
    /// that already took the call answers as it did then instead of governing
    /// or recording it twice.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// The first retry's delay; later ones double, with full jitter (default 200 ms).
    pub fn retry_base_delay(mut self, delay: Duration) -> Self {
        self.retry.base_delay = delay;
        self
    }

    /// The longest wait between two attempts, including a server's
    /// `Retry-After` (default 10 s).
    pub fn retry_max_delay(mut self, delay: Duration) -> Self {
        self.retry.max_delay = delay;
        self
    }

    /// The largest response body read from the server (default 8 MiB); a larger
    /// one is a protocol error, and nothing past the limit is buffered.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Surface a `redaction_applied` outcome as an error (403) instead of
    /// returning the redacted answer (default off).
    pub fn redaction_as_error(mut self, on: bool) -> Self {
        self.redaction_as_error = on;
        self
    }

    /// What the agent does while TapPass is down (default: fail closed, every
    /// call tried, no breaker): [`Resilience::fail_closed`],
    /// [`Resilience::fail_open_cached`] or [`Resilience::fail_open_logged`],
    /// each with a circuit breaker that the agent's clones share. See
    /// [when TapPass is down](crate::agent#when-tappass-is-down).
    ///
    /// ```no_run
    /// # fn run() -> Result<(), tappass::Error> {
    /// use std::time::Duration;
    /// use tappass::resilience::{AuditSpool, Resilience};
    ///
    /// let agent = tappass::Agent::builder("https://tappass.example.com")
    ///     .api_key("tp_...")
    ///     .resilience(Resilience::fail_open_cached(Duration::from_secs(300)).failure_threshold(3))
    ///     .audit_spool(AuditSpool::new("/var/lib/my-service/tappass-spool"))
    ///     .build()?;
    /// # let _ = agent; Ok(()) }
    /// ```
    ///
    /// [`Resilience::fail_closed`]: crate::resilience::Resilience::fail_closed
    /// [`Resilience::fail_open_cached`]: crate::resilience::Resilience::fail_open_cached
    /// [`Resilience::fail_open_logged`]: crate::resilience::Resilience::fail_open_logged
    pub fn resilience(mut self, resilience: crate::resilience::Resilience) -> Self {
        self.resilience = Some(resilience);
        self
    }

    /// Keeps audit events that cannot be delivered now in a durable local
    /// spool (JSON Lines files under the spool's directory, bounded in
    /// bytes), flushed in order when TapPass answers again, also after a
    /// restart of the process: a degraded call's event is written there
    /// before the call returns, and an event the in-memory queue cannot hold
    /// goes there instead of being dropped. [`build`](Self::build) fails
    /// with [`Error::Config`] when the directory cannot be created or read.
    /// See [the audit spool](crate::agent#the-audit-spool).
    pub fn audit_spool(mut self, spool: crate::resilience::AuditSpool) -> Self {
        self.audit_spool = Some(spool);
        self
    }

    /// **Risky: off by default.** Shorthand: `fail_open(true)` is
    /// [`resilience(Resilience::fail_open_logged())`](Self::resilience) and
    /// `fail_open(false)` is `resilience(Resilience::fail_closed())`, each
    /// with its circuit breaker (three failed calls in a row open it for 30
    /// seconds).
    ///
    /// Failing open, while the control plane is unreachable (a connection
    /// error, a timeout, or a 5xx without a decision, after the retries; or
    /// the open breaker), calls go through ungoverned:
    /// [`Agent::chat`](super::Agent::chat) returns a
    /// [`ChatResponse`](super::ChatResponse) whose
    /// [`degraded()`](super::ChatResponse::degraded) is
    /// [`Ungoverned`](crate::resilience::DegradedReason::Ungoverned), with
    /// empty content, [`Agent::govern_tool`](super::Agent::govern_tool) a
    /// [`ToolVerdict`](super::ToolVerdict) marked the same way, and each is
    /// recorded as a `degraded_call` audit event (durably with
    /// [`audit_spool`](Self::audit_spool)). A warning is logged when calls
    /// start being degraded and when TapPass answers again.
    ///
    /// Nothing else fails open: not decisions, not configuration,
    /// authentication or protocol failures, and not a `429`: a server that
    /// says "slow down" is alive and governing, so a call that met a `429` on
    /// any attempt fails closed with [`Error::RateLimited`]. Streams always
    /// fail closed.
    ///
    /// The risk: while TapPass is down, prompts and tool calls reach the model
    /// and the tools with no policy applied. Only turn this on where
    /// availability matters more than governance, and alert on the warnings.
    pub fn fail_open(self, on: bool) -> Self {
        self.resilience(if on {
            crate::resilience::Resilience::fail_open_logged()
        } else {
            crate::resilience::Resilience::fail_closed()
        })
    }

    /// How many audit events may wait for delivery before new ones are dropped
    /// (and counted) rather than slowing requests down (default 4096).
    pub fn event_queue_capacity(mut self, capacity: usize) -> Self {
        self.event_queue = capacity.max(1);
        self
    }

    /// The public base of the pages where a person decides an approval.
    ///
    /// A `428 approval_required` then links (`approval_url`) to
    /// `{base}/{request_id}` instead of the link the server gave, which may
    /// be an internal host or an API route that asks for the service's key.
    /// The dev server's own console answers at `{dev server}/approvals`.
    /// Without it, the server's link is kept. Refused by
    /// [`build`](Self::build) as [`tappass_url`](Self::tappass_url) is: it must be an
    /// absolute `http(s)` URL without user info, query or fragment.
    pub fn approval_base_url(mut self, url: impl Into<String>) -> Self {
        self.approval_base_url = Some(url.into());
        self
    }

    /// Builds the agent. Fails with [`Error::Config`] for a bad URL or a
    /// missing key, saying which setting to fix: the message names the
    /// setting the value came from (`TAPPASS_API_KEY` only when the key was
    /// read from there).
    pub fn build(self) -> Result<Agent, Error> {
        let (url, url_setting) = match self.url {
            Some(url) => (url, URL_IN_CODE),
            None => match env("TAPPASS_URL")? {
                Some(url) => (url, URL_IN_ENV),
                None => (DEFAULT_URL.to_owned(), URL_DEFAULT),
            },
        };
        let base_url = normalize_url(&url)?;
        let (key, key_setting) = match self.api_key {
            Some(key) => (key, KEY_IN_CODE),
            None => match env("TAPPASS_API_KEY")? {
                Some(key) => (ApiKey::new(key), KEY_IN_ENV),
                None => {
                    return Err(Error::config(
                        "no TapPass API key: pass one with `.api_key(\"tp_...\")` or set TAPPASS_API_KEY",
                    ))
                }
            },
        };
        let trimmed = key.expose().trim();
        if trimmed.is_empty() {
            return Err(Error::config(format!(
                "the TapPass API key is empty (from {key_setting}): pass one with `.api_key(\"tp_...\")` or set TAPPASS_API_KEY"
            )));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {trimmed}")).map_err(|_| {
            Error::config(format!("the TapPass API key holds characters that cannot be sent in an HTTP header; check {key_setting}"))
        })?;
        let approval_base_url = match self.approval_base_url {
            Some(url) => Some(normalize_url(&url).map_err(|_| {
                Error::config(format!(
                    "the approval base URL `{}` must be an absolute http(s) URL without user info, query or fragment, e.g. https://tappass.example.com/approvals",
                    shown(&url)
                ))
            })?),
            None => None,
        };
        authorization.set_sensitive(true);
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::config("TapPass timeouts must be longer than zero"));
        }
        // TLS trusts the platform's store and the bundled Mozilla roots (the
        // crate's reqwest features), plus the roots given here; HTTP/2 is
        // used when the server offers it (ALPN); HTTPS_PROXY, HTTP_PROXY,
        // ALL_PROXY and NO_PROXY are read from the environment.
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("tappass-rs/", env!("CARGO_PKG_VERSION")));
        for (i, pem) in self.root_certificates.iter().enumerate() {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| {
                    Error::config(format!(
                        "the root certificate #{} given to add_root_certificate is not a PEM certificate; pass the CA's PEM file (-----BEGIN CERTIFICATE-----)",
                        i + 1
                    ))
                })?;
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http
            .build()
            .map_err(|e| Error::config(format!("could not build the HTTP client: {e}")))?;
        let endpoints = super::transport::Endpoints::new(&base_url)?;
        let server = url::Url::parse(&base_url)
            .ok()
            .and_then(|url| Some((url.host_str()?.to_owned(), url.port_or_known_default()?)));
        #[cfg(feature = "signing")]
        let signer = match self.signing_key {
            None => None,
            Some(key) => {
                let agent_id = self.agent_id.clone().filter(|id| {
                    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
                });
                let Some(agent_id) = agent_id else {
                    return Err(Error::config(
                        "a signing key signs as an agent id: set `.agent_id(\"my-agent\")` (1 to 128 visible ASCII characters, the slug the server registered the key for)",
                    ));
                };
                Some(super::transport::Signer { agent_id, key })
            }
        };
        let reporter = Reporter::new(self.event_queue);
        let spool = match self.audit_spool {
            None => None,
            Some(config) => {
                let dir = config.dir.display().to_string();
                let spool = crate::resilience::spool::Spool::open(config, reporter.dropped_counter())
                    .map_err(|e| {
                        Error::config(format!(
                            "the audit spool directory `{dir}` cannot be used ({e}); pass a directory this process may create, read and write"
                        ))
                    })?;
                Some(super::spooler::Spooler::new(spool))
            }
        };
        let agent = Agent {
            inner: Arc::new(Inner {
                http,
                endpoints,
                base_url,
                key: ApiKey::new(trimmed),
                authorization,
                model: self.model,
                retry: self.retry,
                timeout: self.timeout,
                max_response_bytes: self.max_response_bytes,
                redaction_as_error: self.redaction_as_error,
                resilience: self.resilience.map(super::resilient::Resilient::new),
                spool,
                agent_id: self.agent_id,
                audit_only: self.audit_only,
                version: super::VersionCheck::default(),
                events: reporter,
                key_setting,
                url_setting,
                approval_base_url,
                #[cfg(feature = "signing")]
                signer,
                capture_content: self.capture_content,
                server,
                #[cfg(feature = "otel")]
                metrics: self.metrics.unwrap_or_else(super::metrics::Metrics::global),
            }),
        };
        // What a process that stopped had spooled is flushed from now on,
        // when there is a runtime to run the flush on (else at the first call).
        if agent.spooled_events() > 0 {
            agent.start_flusher();
        }
        Ok(agent)
    }
}

fn env(name: &str) -> Result<Option<String>, Error> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::config(format!("{name} is not valid UTF-8")))
        }
    }
}

/// Checks that `url` is an absolute http(s) URL without credentials, query or
/// fragment, and drops trailing slashes.
///
/// Error messages show the URL as [`shown`] does: never a password.
pub(crate) fn normalize_url(url: &str) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = url::Url::parse(trimmed).map_err(|e| {
        Error::config(format!(
            "the TapPass URL `{}` is not a valid URL ({e}); expected e.g. https://tappass.example.com",
            shown(trimmed)
        ))
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // A URL with credentials would carry them into every error, log line
        // and approval link that names the server: refuse it outright.
        return Err(Error::config(format!(
            "the TapPass URL `{}` holds user info (`user:password@`); remove it: the agent authenticates with the API key (`.api_key(\"tp_...\")` or TAPPASS_API_KEY)",
            shown(trimmed)
        )));
    }
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err(Error::config(format!(
            "the TapPass URL `{trimmed}` must be an absolute http:// or https:// URL"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::config(format!(
            "the TapPass URL `{trimmed}` must not have a query or fragment"
        )));
    }
    Ok(trimmed.to_owned())
}

/// `url` as it may be shown in a message or `Debug`: any user info replaced by
/// `<redacted>`; text that does not parse as a URL but holds an `@` is not
/// shown at all, since it may hold credentials.
pub(crate) fn shown(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let cleared = parsed.set_username("").is_ok() && parsed.set_password(None).is_ok();
            if cleared {
                let text = parsed.to_string();
                let host_at = text.find("://").map_or(0, |i| i + 3);
                format!("{}<redacted>@{}", &text[..host_at], &text[host_at..])
            } else {
                "<a URL with user info, not shown>".to_owned()
            }
        }
        Ok(_) => url.to_owned(),
        Err(_) if url.contains('@') => "<a URL that may hold user info, not shown>".to_owned(),
        Err(_) => url.to_owned(),
    }
}
