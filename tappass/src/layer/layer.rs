use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::TapPassService;
use crate::agent::Agent;
use crate::agent::AgentBuilder;
use crate::error::Error;
use crate::session::scope::Lent;

/// The tower layer that puts every request in its TapPass session; see the
/// [module documentation](crate::layer).
#[derive(Clone)]
#[must_use]
pub struct TapPassLayer {
    pub(crate) shared: Arc<Shared>,
}

/// What every request under one layer shares. The resolver reads it before
/// the inner service; what the request's scope needs of it (the agent, the
/// mandate verifier, the error form) it lends as a [`Lent`], so that the
/// extractors find it there without naming the layer.
pub(crate) struct Shared {
    pub(crate) auto_open_session: bool,
    /// The layer's `Agent` (none for a layer that only verifies mandates or
    /// capability tokens, built without an API key), `MandateVerifier`
    /// (`TapPassLayerBuilder::mandates`) and `Authorizer`
    /// (`TapPassLayerBuilder::capabilities`), and its `problem_json` choice.
    pub(crate) lent: Lent,
}

impl Shared {
    /// The layer's agent, if it has one.
    pub(crate) fn agent(&self) -> Option<&Agent> {
        self.lent.get::<Agent>()
    }
}

impl TapPassLayer {
    /// Starts configuring a layer.
    pub fn builder() -> TapPassLayerBuilder {
        TapPassLayerBuilder {
            url: None,
            api_key: None,
            agent: None,
            auto_open_session: false,
            problem_json: false,
            server_timing: false,
            #[cfg(feature = "mandate")]
            mandates: None,
            #[cfg(feature = "capability")]
            capabilities: None,
            approval_base_url: None,
        }
    }

    /// The agent handlers receive; `None` for a layer built without an API
    /// key because it only verifies mandates (`TapPassLayerBuilder::mandates`,
    /// feature `mandate`) or capability tokens
    /// (`TapPassLayerBuilder::capabilities`, feature `capability`).
    pub fn agent(&self) -> Option<&Agent> {
        self.shared.agent()
    }

    /// The verifier of the layer's mandates, when it was given one.
    #[cfg(feature = "mandate")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mandate")))]
    pub fn mandates(&self) -> Option<&crate::mandate::MandateVerifier> {
        self.shared.lent.get()
    }

    /// The authorizer of the layer's capability tokens, when it was given one.
    #[cfg(feature = "capability")]
    #[cfg_attr(docsrs, doc(cfg(feature = "capability")))]
    pub fn capabilities(&self) -> Option<&crate::capability::Authorizer> {
        self.shared.lent.get()
    }

    /// Whether requests without a session get a fresh one.
    pub fn auto_open_session(&self) -> bool {
        self.shared.auto_open_session
    }

    /// Whether governance errors answer `application/problem+json`.
    pub fn problem_json(&self) -> bool {
        self.shared.lent.problem_json
    }

    /// Whether responses carry a `Server-Timing` entry for the time spent
    /// waiting for TapPass.
    pub fn server_timing(&self) -> bool {
        self.shared.lent.server_timing
    }

    /// Delivers the audit events still queued; call it on graceful shutdown.
    pub async fn flush(&self) {
        if let Some(agent) = self.shared.agent() {
            agent.flush_events().await
        }
    }
}

impl fmt::Debug for TapPassLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("TapPassLayer");
        f.field("agent", &self.agent())
            .field("auto_open_session", &self.auto_open_session())
            .field("problem_json", &self.problem_json())
            .field("server_timing", &self.server_timing());
        #[cfg(feature = "mandate")]
        f.field("mandates", &self.mandates());
        #[cfg(feature = "capability")]
        f.field("capabilities", &self.capabilities());
        f.finish()
    }
}

impl<S> Layer<S> for TapPassLayer {
    type Service = TapPassService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TapPassService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Configures a [`TapPassLayer`]; see [`TapPassLayer::builder`].
#[must_use]
pub struct TapPassLayerBuilder {
    url: Option<String>,
    api_key: Option<String>,
    agent: Option<Agent>,
    auto_open_session: bool,
    problem_json: bool,
    server_timing: bool,
    #[cfg(feature = "mandate")]
    mandates: Option<crate::mandate::MandateVerifier>,
    #[cfg(feature = "capability")]
    capabilities: Option<crate::capability::Authorizer>,
    approval_base_url: Option<String>,
}

impl fmt::Debug for TapPassLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("TapPassLayerBuilder");
        f.field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("agent", &self.agent)
            .field("auto_open_session", &self.auto_open_session)
            .field("problem_json", &self.problem_json)
            .field("server_timing", &self.server_timing)
            .field("approval_base_url", &self.approval_base_url);
        #[cfg(feature = "mandate")]
        f.field("mandates", &self.mandates);
        #[cfg(feature = "capability")]
        f.field("capabilities", &self.capabilities);
        f.finish()
    }
}

impl TapPassLayerBuilder {
    /// The TapPass server's base URL (default: `TAPPASS_URL`, else
    /// `http://localhost:9620`).
    pub fn tappass_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The API key (default: `TAPPASS_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The public base of the pages where a person decides an approval:
    /// a `428 approval_required` then links to `{base}/{request_id}`. See
    /// [`AgentBuilder::approval_base_url`]; with [`agent`](Self::agent),
    /// set it on the agent's builder instead ([`build`](Self::build) refuses
    /// both).
    pub fn approval_base_url(mut self, url: impl Into<String>) -> Self {
        self.approval_base_url = Some(url.into());
        self
    }

    /// Uses an agent you configured yourself (timeouts, retries, model…);
    /// `tappass_url` and `api_key` are then ignored.
    pub fn agent(mut self, agent: Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    /// Opens a fresh session for requests that carry none (default `false`:
    /// only join the caller's session).
    pub fn auto_open_session(mut self, on: bool) -> Self {
        self.auto_open_session = on;
        self
    }

    /// Answers governance errors as RFC 9457 `application/problem+json`
    /// (default `false`: `application/json`).
    ///
    /// With it on, every response that
    /// [`tappass::response::render`](crate::response::render) built under the
    /// layer (decisions, [`Error`], the extractors' rejections, the errors
    /// you derive with `GovernanceError`) and the layer's own `400` for a
    /// malformed correlation header answer problem+json: the same status,
    /// headers and members, with `type` (`urn:tappass:error:<code>`),
    /// `title`, `status` and `detail` in front. Other responses pass
    /// untouched. See [`tappass::response`](crate::response#problem-details-rfc-9457).
    ///
    /// The choice travels with each request in its scope, which the
    /// renderer reads: an error is rendered once, in the layer's form. It
    /// costs nothing on a successful response. A response rendered outside
    /// the request's scope (in a task spawned without
    /// [`session::scope`](crate::session::scope)) answers plain JSON.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tappass::Error> {
    /// let layer = tappass::TapPassLayer::builder()
    ///     .tappass_url("http://127.0.0.1:9620")
    ///     .api_key("tp_example")
    ///     .problem_json(true)
    ///     .build()?;
    /// let app = Router::new().route("/", get(|| async { "ok" })).layer(layer);
    ///
    /// let request = http::Request::get("/")
    ///     .header("X-TapPass-Session-Id", "not a valid id")
    ///     .body(axum::body::Body::empty())
    ///     .unwrap();
    /// let response = app.oneshot(request).await.unwrap();
    /// assert_eq!(response.status(), 400);
    /// assert_eq!(response.headers()["content-type"], "application/problem+json");
    /// # Ok(()) }
    /// ```
    pub fn problem_json(mut self, on: bool) -> Self {
        self.problem_json = on;
        self
    }

    /// Adds a `Server-Timing` entry to every response: how long the request
    /// waited for TapPass (its agent's chat, stream and tool calls, summed),
    /// so that a browser's devtools or a load balancer shows it beside the
    /// rest of the request's time. Off by default: the header tells whoever
    /// reads the response that the service is governed, and how slowly.
    ///
    /// The entry is `tappass;dur=<milliseconds>;desc="TapPass"`, appended to
    /// any `Server-Timing` the handler set.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tappass::Error> {
    /// let layer = tappass::TapPassLayer::builder()
    ///     .tappass_url("http://127.0.0.1:9620")
    ///     .api_key("tp_example")
    ///     .server_timing(true)
    ///     .build()?;
    /// let app = Router::new().route("/", get(|| async { "ok" })).layer(layer);
    ///
    /// let request = http::Request::get("/").body(axum::body::Body::empty()).unwrap();
    /// let response = app.oneshot(request).await.unwrap();
    /// // No call to TapPass was made: zero milliseconds.
    /// assert_eq!(response.headers()["server-timing"], "tappass;dur=0.000;desc=\"TapPass\"");
    /// # Ok(()) }
    /// ```
    pub fn server_timing(mut self, on: bool) -> Self {
        self.server_timing = on;
        self
    }

    /// Verifies mandates with `verifier`: behind the layer, the
    /// [`Mandate`](crate::mandate::Mandate) extractor,
    /// `#[governed(capability = "…")]` routes and
    /// [`RequireMandate::from_extension`](crate::mandate::RequireMandate::from_extension)
    /// use it (before an `Extension<MandateVerifier>`).
    ///
    /// A service that only verifies mandates needs no API key: without one
    /// (neither [`api_key`](Self::api_key), nor `TAPPASS_API_KEY`, nor an
    /// [`agent`](Self::agent)) the layer has no agent
    /// ([`TapPassLayer::agent`] is `None`), an `Agent` extractor behind it is
    /// a `500` that says how to configure one, and
    /// [`auto_open_session`](Self::auto_open_session), whose audit events
    /// need the key, is refused by [`build`](Self::build).
    ///
    /// ```
    /// # fn demo() -> Result<(), tappass::Error> {
    /// let verifier = tappass::mandate::MandateVerifier::builder()
    ///     .jwks_url("https://tappass.example.com/.well-known/jwks.json")
    ///     .no_revocation()
    ///     .build()?;
    /// let layer = tappass::TapPassLayer::builder().mandates(verifier).build()?; // no API key
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/search", axum::routing::post(|| async { "searched" }))
    ///     .layer(layer);
    /// # drop(app); Ok(()) }
    /// ```
    #[cfg(feature = "mandate")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mandate")))]
    pub fn mandates(mut self, verifier: crate::mandate::MandateVerifier) -> Self {
        self.mandates = Some(verifier);
        self
    }

    /// Verifies capability tokens with `authorizer`: behind the layer,
    /// `#[governed(tool = "…")]` routes and
    /// [`RequireCapability::from_extension`](crate::capability::RequireCapability::from_extension)
    /// (or [`RequireCapability::tool`](crate::capability::RequireCapability::tool))
    /// use it (before an `Extension<Authorizer>`). As with
    /// [`mandates`](Self::mandates), a service that only verifies needs no
    /// API key.
    ///
    /// ```
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tappass::capability::{Authorizer, PublicKey};
    ///
    /// let control_plane = PublicKey::from_hex(&std::env::var("TAPPASS_CAPABILITY_KEY")?)?;
    /// let authorizer = Authorizer::builder().trusted_root(control_plane).build()?;
    /// let layer = tappass::TapPassLayer::builder().capabilities(authorizer).build()?; // no API key
    /// # drop(layer); Ok(()) }
    /// ```
    #[cfg(feature = "capability")]
    #[cfg_attr(docsrs, doc(cfg(feature = "capability")))]
    pub fn capabilities(mut self, authorizer: crate::capability::Authorizer) -> Self {
        self.capabilities = Some(authorizer);
        self
    }

    /// Builds the layer. Fails with [`Error::Config`] for a bad URL or a
    /// missing key, saying which setting to fix.
    pub fn build(self) -> Result<TapPassLayer, Error> {
        let agent = match self.agent {
            Some(_) if self.approval_base_url.is_some() => {
                return Err(Error::config(
                    "the layer was given both an agent and an approval base URL: set `.approval_base_url(..)` on the agent's builder (`Agent::builder(url)`) instead",
                ))
            }
            Some(agent) => Some(agent),
            None if self.verifies_only() => {
                if self.auto_open_session {
                    return Err(Error::config(
                        "auto_open_session reports the sessions it opens to TapPass, which needs an API key: pass one with `.api_key(\"tp_...\")` or set TAPPASS_API_KEY, or leave auto_open_session off on a layer that only verifies mandates or capability tokens",
                    ));
                }
                None
            }
            None => {
                let mut builder = AgentBuilder::new(self.url);
                if let Some(key) = self.api_key {
                    builder = builder.api_key(key);
                }
                if let Some(base) = self.approval_base_url {
                    builder = builder.approval_base_url(base);
                }
                Some(builder.build()?)
            }
        };
        let mut services = http::Extensions::new();
        if let Some(agent) = agent {
            services.insert(agent);
        }
        #[cfg(feature = "mandate")]
        if let Some(verifier) = self.mandates {
            services.insert(verifier);
        }
        #[cfg(feature = "capability")]
        if let Some(authorizer) = self.capabilities {
            services.insert(authorizer);
        }
        Ok(TapPassLayer {
            shared: Arc::new(Shared {
                auto_open_session: self.auto_open_session,
                lent: Lent {
                    services: Arc::new(services),
                    problem_json: self.problem_json,
                    server_timing: self.server_timing,
                },
            }),
        })
    }

    /// Whether the layer only verifies mandates or capability tokens: it
    /// has a verifier (or an authorizer) and no API key, given or in the
    /// environment.
    fn verifies_only(&self) -> bool {
        #[allow(unused_mut)]
        let mut verifies = false;
        #[cfg(feature = "mandate")]
        {
            verifies |= self.mandates.is_some();
        }
        #[cfg(feature = "capability")]
        {
            verifies |= self.capabilities.is_some();
        }
        verifies
            && self.api_key.is_none()
            && std::env::var_os("TAPPASS_API_KEY")
                .is_none_or(|key| key.to_str().is_some_and(|key| key.trim().is_empty()))
    }
}
