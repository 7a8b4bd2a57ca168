//! The top of the house: [`DevServer`] and its builder, and [`router`], which
//! puts the routes, their middleware and the console together over the
//! shared state.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::console;
use crate::error::Error;
use crate::origin;
use crate::policy::{Policy, PolicyError};
use crate::reply::{method_not_allowed, not_found, MAX_BODY_BYTES};
use crate::routes::{
    approvals, auth, capability, chat, events, govern, health, idempotency, mandates, outage,
    signature, traces,
};
use crate::state::{Availability, Shared};
use crate::stores::approvals::ApprovalRecord;
use crate::stores::capability_tokens::IssuedCapabilityToken;
use crate::stores::db::Db;
use crate::stores::event_log::DEFAULT_MAX_LOG_BYTES;
use crate::stores::mandates::{IssuedMandate, Signer};
use tappass::agent::ApprovalState;

/// How long [`DevServer::shutdown`] waits for open requests before it stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running TapPass-compatible development server.
///
/// Start one with [`DevServer::start`] (the default policy on `127.0.0.1:0`)
/// or [`DevServer::builder`]. It runs on the caller's tokio runtime and stops
/// on [`shutdown`](DevServer::shutdown) or when the last handle is dropped.
/// Handles are cheap to clone; they all control the same server.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tappass_dev::Error> {
/// use tappass_dev::{DevServer, Policy};
///
/// let server = DevServer::builder()
///     .policy(Policy::default())
///     .listen("127.0.0.1:0".parse().unwrap())
///     .start()
///     .await?;
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// assert!(server.events().is_empty());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DevServer {
    inner: Arc<Running>,
}

struct Running {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The serving task notices, cancels pending approvals and drains.
        self.stop.send_replace(true);
    }
}

impl DevServer {
    /// Configures a server: policy and listen address.
    pub fn builder() -> DevServerBuilder {
        DevServerBuilder {
            policy: None,
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            max_event_log_bytes: DEFAULT_MAX_LOG_BYTES,
            signing_key: None,
            capability_key: None,
            db: None,
        }
    }

    /// Starts a server with the default policy on `127.0.0.1` and a free port.
    pub async fn start() -> Result<DevServer, Error> {
        DevServer::builder().start().await
    }

    /// The server's base URL, e.g. `http://127.0.0.1:43817` (no trailing slash).
    /// An unspecified listen address (`0.0.0.0`, `[::]`) is shown as loopback.
    pub fn url(&self) -> String {
        self.inner.shared.base_url.clone()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The policy the server applies.
    pub fn policy(&self) -> &Policy {
        &self.inner.shared.policy
    }

    /// Every audit event the server still holds, oldest first: those posted to
    /// `/v1/events` as they were sent, and those the server records itself for
    /// chats (`chat_call`), tool calls (`tool_call`), decisions (`decision`)
    /// and approvals (`approval`). The log keeps at most 100,000 events and
    /// [`max_event_log_bytes`](DevServerBuilder::max_event_log_bytes) of
    /// them; the oldest go first.
    pub fn events(&self) -> Vec<Value> {
        self.inner.shared.events().all()
    }

    /// The recorded audit events whose `session_id` is `session_id`.
    pub fn events_for_session(&self, session_id: &str) -> Vec<Value> {
        self.inner.shared.events().for_session(session_id)
    }

    /// The traces of session `session_id` that exporters sent to
    /// `POST /v1/traces` (OTLP/HTTP), the most recently exported first (at
    /// most 20): a trace belongs to the session when one of its spans
    /// carries the id as `gen_ai.conversation.id` or `tappass.session_id`.
    /// Each is `{"trace_id", "spans": [...]}`, its spans earliest first, each
    /// `{"name", "span_id", "parent_span_id", "kind", "service",
    /// "start_unix_nano", "end_unix_nano", "status", "status_message",
    /// "attributes", "events"}` with the attribute values as text and the
    /// events as `{"name", "time_unix_nano", "attributes"}`.
    pub fn traces_for_session(&self, session_id: &str) -> Vec<Value> {
        let traces = self.inner.shared.traces().of_session(session_id);
        traces
            .iter()
            .map(crate::stores::traces::Trace::to_json)
            .collect()
    }

    /// How many audit events the server holds now (what [`events`](DevServer::events)
    /// would return, without parsing them).
    pub fn event_count(&self) -> usize {
        self.inner.shared.events().len()
    }

    /// The bytes the audit event log accounts for now: each event's compact
    /// JSON text, its session id and a fixed slot. It never exceeds the cap
    /// set by [`max_event_log_bytes`](DevServerBuilder::max_event_log_bytes).
    pub fn event_log_bytes(&self) -> usize {
        self.inner.shared.events().bytes()
    }

    /// Whether the server listens on a loopback address only. When it does not,
    /// anyone who can reach the address can use it: it has no real
    /// authentication (any `tp_` key is accepted), so it warns at start.
    pub fn is_loopback(&self) -> bool {
        is_loopback(self.inner.addr)
    }

    /// The approvals waiting for a human, oldest first.
    pub fn pending_approvals(&self) -> Vec<ApprovalRecord> {
        self.inner.shared.approvals().pending()
    }

    /// The approval `request_id`, in whatever state it is.
    pub fn approval(&self, request_id: &str) -> Option<ApprovalRecord> {
        self.inner.shared.approvals().get(request_id)
    }

    /// How many `GET …/approvals/{request_id}/wait` requests are long-polling
    /// this approval right now. A test waits for this to reach one before it
    /// decides, so that it exercises a decision taken *while* a client waits.
    pub fn waiters(&self, request_id: &str) -> usize {
        self.inner.shared.approvals().waiters(request_id)
    }

    /// Approves a pending approval: the identical request now goes through.
    /// Returns `false` when the approval is unknown or no longer pending.
    pub fn approve(&self, request_id: &str) -> bool {
        self.inner
            .shared
            .decide(request_id, ApprovalState::Approved)
    }

    /// Denies a pending approval: the identical request is now blocked.
    /// Returns `false` when the approval is unknown or no longer pending.
    pub fn deny(&self, request_id: &str) -> bool {
        self.inner.shared.decide(request_id, ApprovalState::Denied)
    }

    /// Every mandate the server issued (on each `allow` of `/v1/govern`),
    /// oldest first, revoked ones included.
    pub fn mandates(&self) -> Vec<IssuedMandate> {
        self.inner.shared.mandates().issued()
    }

    /// Revokes a mandate the server issued: it is listed by
    /// `GET /v1/mandates/revoked` from now on. Returns `false` when the
    /// server never issued `mandate_id`.
    pub fn revoke_mandate(&self, mandate_id: &str) -> bool {
        self.inner.shared.mandates().revoke(mandate_id)
    }

    /// Registers (or replaces) the Ed25519 public key `agent_id` signs its
    /// requests with: from now on a request signed as that agent is checked
    /// (signature, time, nonce) and recorded as signed, and a request whose
    /// signature fails is a `401`. Returns `false` when the server already
    /// holds the most keys it keeps (10,000) and the agent is new.
    pub fn register_signing_key(&self, agent_id: &str, key: tappass::signing::PublicKey) -> bool {
        signature::valid_agent_id(agent_id)
            && self.inner.shared.signing_keys().register(agent_id, key)
    }

    /// Makes the API unavailable (`false`: every API route answers `503`
    /// without a decision) or available again (`true`), to rehearse an
    /// outage; the console keeps answering. See [`set_availability`](Self::set_availability)
    /// for a server that hangs instead.
    pub fn set_available(&self, available: bool) {
        self.set_availability(if available {
            Availability::Available
        } else {
            Availability::Unavailable
        });
    }

    /// Makes the API available, unavailable (`503`) or hanging (requests
    /// accepted and never answered until the server is available again or
    /// stops), to rehearse an outage; the console keeps answering, and
    /// its Availability page does the same by hand.
    pub fn set_availability(&self, availability: Availability) {
        self.inner.shared.set_availability(availability);
    }

    /// Whether the API answers now.
    pub fn availability(&self) -> Availability {
        self.inner.shared.availability()
    }

    /// The SQLite file the server keeps its state in ([`DevServerBuilder::db`]),
    /// `None` when it keeps it in memory.
    pub fn db_path(&self) -> Option<std::path::PathBuf> {
        self.inner.shared.db_path().map(Path::to_owned)
    }

    /// Where the server publishes its mandate keys: `{url}/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.inner.shared.base_url)
    }

    /// The `kid` of the key mandates are signed with now.
    pub fn mandate_kid(&self) -> String {
        self.inner.shared.mandates().kid().to_owned()
    }

    /// Signs mandates with a freshly generated key from now on and returns
    /// its `kid`; earlier keys stay in the JWK Set, so mandates already issued
    /// still verify.
    pub fn rotate_signing_key(&self) -> String {
        self.inner.shared.mandates().rotate(Signer::generate())
    }

    /// The Ed25519 public key the server mints capability tokens with: the
    /// trusted root of a tool service that verifies them
    /// (`Authorizer::builder().trusted_root(server.capability_public_key())`),
    /// also published at [`capability_key_url`](Self::capability_key_url).
    pub fn capability_public_key(&self) -> tappass::capability::PublicKey {
        self.inner.shared.capability_tokens().public_key()
    }

    /// Where the server publishes that key: `{url}/v1/capability/public-key`
    /// (`{"public_key": "<64 hex>", "algorithm": "Ed25519"}`, no API key).
    pub fn capability_key_url(&self) -> String {
        format!("{}/v1/capability/public-key", self.inner.shared.base_url)
    }

    /// Every capability token the server minted in a chat answer, oldest
    /// first (at most 10,000: the oldest go first).
    pub fn capability_tokens(&self) -> Vec<IssuedCapabilityToken> {
        self.inner.shared.capability_tokens().issued()
    }

    /// Stops the server gracefully: pending approvals are cancelled (waiters
    /// are answered), open requests get a few seconds to finish, and the port
    /// is released when this returns. Other handles of the server stop too.
    pub async fn shutdown(self) {
        self.inner.stop.send_replace(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut task) = task {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

impl fmt::Debug for DevServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.inner.shared;
        let (events, event_bytes, event_cap) = {
            let log = shared.events();
            (log.len(), log.bytes(), log.max_bytes())
        };
        let (answers, answer_bytes) = shared.answers().usage();
        f.debug_struct("DevServer")
            .field("url", &shared.base_url)
            .field("rules", &shared.policy.len())
            .field("events", &events)
            .field("event_bytes", &format_args!("{event_bytes} of {event_cap}"))
            .field("approvals", &shared.approvals().len())
            .field("idempotent_answers", &answers)
            .field("idempotent_answer_bytes", &answer_bytes)
            .finish()
    }
}

/// Configures a [`DevServer`]; see [`DevServer::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DevServerBuilder {
    policy: Option<Policy>,
    listen: SocketAddr,
    max_event_log_bytes: usize,
    /// PKCS#8 PEM of the mandate signing key; `None`: generated at start.
    signing_key: Option<String>,
    /// The capability token key; `None`: generated at start.
    capability_key: Option<tappass::capability::SigningKey>,
    /// The SQLite file the state is kept in; `None`: in memory.
    db: Option<std::path::PathBuf>,
}

impl DevServerBuilder {
    /// The policy to apply (the default is [`Policy::default()`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Reads the policy from a TOML policy file.
    pub fn policy_file(self, path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        Ok(self.policy(Policy::from_file(path)?))
    }

    /// The address to listen on (the default is `127.0.0.1:0`: a free port on loopback).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The most bytes of audit events the server keeps (the default is 64 MiB;
    /// less than 1 MiB is taken as 1 MiB). An event costs its compact JSON
    /// text, its session id and a fixed slot of a few dozen bytes; when a new
    /// event would pass the cap (or 100,000 events), the oldest go first.
    pub fn max_event_log_bytes(mut self, bytes: usize) -> Self {
        self.max_event_log_bytes = bytes;
        self
    }

    /// Signs mandates with this P-256 private key (PKCS#8 PEM,
    /// `-----BEGIN PRIVATE KEY-----`) instead of one generated at start, so
    /// that its public key can be pinned or its `kid` survives a restart.
    pub fn signing_key_pem(mut self, pem: impl Into<String>) -> Self {
        self.signing_key = Some(pem.into());
        self
    }

    /// Reads the mandate signing key from a PKCS#8 PEM file (see
    /// [`signing_key_pem`](Self::signing_key_pem)).
    pub fn signing_key_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read_to_string(path).map_err(|cause| Error::ReadSigningKey {
            path: path.to_owned(),
            cause,
        })?;
        Ok(self.signing_key_pem(pem))
    }

    /// Mints capability tokens with this Ed25519 key instead of one
    /// generated at start, so that tool services can trust its public key
    /// across restarts (`SigningKey::from_hex`, `SigningKey::from_env`).
    pub fn capability_key(mut self, key: tappass::capability::SigningKey) -> Self {
        self.capability_key = Some(key);
        self
    }

    /// Keeps the server's state in the SQLite database `path` (created when
    /// missing), as `tappass-dev --db FILE` does: sessions and their audit
    /// events, approvals (a pending one can still be decided after a
    /// restart), the mandates issued and every mandate signing key (so
    /// that they still verify; without [`signing_key_pem`](Self::signing_key_pem)
    /// the key of the last run goes on signing), and the idempotency
    /// records of the chat, govern and events routes (a retry after a
    /// restart is answered, not recorded twice). Each change is in the file
    /// before the route that made it answers; a crash or kill of the server
    /// loses nothing it acknowledged. The default keeps everything in
    /// memory, gone when the server stops.
    pub fn db(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.db = Some(path.into());
        self
    }

    /// Binds the address and starts serving on the current tokio runtime.
    ///
    /// On an address that is not loopback it logs a warning (`tracing`, level
    /// `WARN`): the server has no real authentication.
    ///
    /// Fails with [`Error::Listen`] when the address cannot be bound (in use,
    /// not local, no permission), and with a signing key error when the key
    /// given to [`signing_key_pem`](Self::signing_key_pem) cannot be used.
    pub async fn start(self) -> Result<DevServer, Error> {
        let signer = match &self.signing_key {
            Some(pem) => Some(Signer::from_pem(pem)?),
            None => None,
        };
        let db = match &self.db {
            Some(path) => Some(Arc::new(Db::open(path)?)),
            None => None,
        };
        let capability_key = match self.capability_key {
            Some(key) => key,
            None => tappass::capability::SigningKey::generate().map_err(|e| Error::SigningKey {
                problem: format!("no capability token key: {e}"),
            })?,
        };
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|cause| Error::Listen {
                addr: self.listen,
                cause,
            })?;
        let addr = listener.local_addr().map_err(|cause| Error::Listen {
            addr: self.listen,
            cause,
        })?;
        if !is_loopback(addr) {
            tracing::warn!(
                %addr,
                "the TapPass dev server listens on a non-loopback address: it has no real authentication (any `tp_` key is accepted), so anyone who can reach {addr} can read its audit events and decide its approvals; listen on 127.0.0.1 unless that is what you want"
            );
        }
        let shared = Arc::new(Shared::new(
            self.policy.unwrap_or_default(),
            base_url(addr),
            self.max_event_log_bytes,
            signer,
            capability_key,
            db,
        )?);
        let (stop, mut stopped) = watch::channel(false);
        let on_stop = {
            let shared = shared.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
                shared.stopping();
                shared.approvals().cancel_pending();
            }
        };
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(on_stop)
                .await
            {
                tracing::warn!(error = %e, "the TapPass dev server stopped with an error");
            }
        });
        Ok(DevServer {
            inner: Arc::new(Running {
                shared,
                addr,
                stop,
                task: Mutex::new(Some(task)),
            }),
        })
    }
}

/// Whether `addr` is a loopback address (`127.0.0.0/8`, `::1`, or an
/// IPv4-mapped loopback address). `0.0.0.0` and `[::]` are not: they listen on
/// every interface.
pub(crate) fn is_loopback(addr: SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// `http://ADDR`, with an unspecified address shown as loopback.
fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// The dev server's routes, over `shared`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    // Inside authentication, so that the middleware knows the caller.
    let idempotent = Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/govern", post(govern::govern))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            idempotency::replay,
        ));
    let authenticated = Router::new()
        .merge(idempotent)
        .route("/v1/events", post(events::ingest))
        .route("/v1/me/approvals", get(approvals::list))
        .route("/v1/me/approvals/{request_id}", get(approvals::get))
        .route("/v1/me/approvals/{request_id}/wait", get(approvals::wait))
        .route("/v1/mandates/revoked", get(mandates::revoked))
        .route(
            "/v1/agents/{agent_id}/signing-key",
            post(signature::register),
        )
        // What changes state answers only requests of its own origin sent to
        // this machine by address (see `origin`): a page of another site,
        // rebound to 127.0.0.1 by DNS, decides and revokes nothing.
        .merge(
            Router::new()
                .route(
                    "/v1/me/approvals/{request_id}/approve",
                    post(approvals::approve),
                )
                .route("/v1/me/approvals/{request_id}/deny", post(approvals::deny))
                .route("/v1/mandates/{mandate_id}/revoke", post(mandates::revoke))
                .route_layer(middleware::from_fn(origin::same_origin_only)),
        )
        // Inside authentication: a signed request's caller is marked as such.
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            signature::verify,
        ))
        .route_layer(middleware::from_fn(auth::authenticate));
    // Every API route answers only while the server is available (an
    // outage on purpose, `routes::outage`); the console always does.
    let api = Router::new()
        .route("/health", get(health::health))
        .route("/.well-known/jwks.json", get(mandates::jwks))
        // OTLP/HTTP spans, from any exporter: no API key, but nothing a web
        // page of another site (or a name rebound to 127.0.0.1) sends.
        .route(
            "/v1/traces",
            post(traces::receive)
                .layer(DefaultBodyLimit::max(traces::MAX_EXPORT_BYTES))
                .route_layer(middleware::from_fn(origin::same_origin_only)),
        )
        .route("/v1/capability/public-key", get(capability::public_key))
        .route(
            "/v1/audit/sessions/{session_id}",
            get(events::audit_session).route_layer(middleware::from_fn(origin::local_only)),
        )
        .merge(authenticated)
        .route_layer(middleware::from_fn_with_state(shared.clone(), outage::gate));
    Router::new()
        .merge(api)
        .merge(console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

#[cfg(test)]
mod tests;
