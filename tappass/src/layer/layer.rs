use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::TapPassService;
use crate::agent::AgentBuilder;
use crate::{Agent, Error};

/// The tower layer that puts every request in its TapPass session; see the
/// [module documentation](crate::layer).
#[derive(Clone)]
#[must_use]
pub struct TapPassLayer {
    pub(crate) shared: Arc<Shared>,
}

/// What every request under one layer shares: the resolver reads it from
/// the request's scope.
pub(crate) struct Shared {
    pub(crate) agent: Agent,
    pub(crate) auto_open_session: bool,
    pub(crate) problem_json: bool,
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
            approval_base_url: None,
        }
    }

    /// The agent handlers receive.
    pub fn agent(&self) -> &Agent {
        &self.shared.agent
    }

    /// Whether requests without a session get a fresh one.
    pub fn auto_open_session(&self) -> bool {
        self.shared.auto_open_session
    }

    /// Whether governance errors answer `application/problem+json`.
    pub fn problem_json(&self) -> bool {
        self.shared.problem_json
    }

    /// Delivers the audit events still queued; call it on graceful shutdown.
    pub async fn flush(&self) {
        self.shared.agent.flush_events().await
    }
}

impl fmt::Debug for TapPassLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapPassLayer")
            .field("agent", &self.shared.agent)
            .field("auto_open_session", &self.shared.auto_open_session)
            .field("problem_json", &self.shared.problem_json)
            .finish()
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
    approval_base_url: Option<String>,
}

impl fmt::Debug for TapPassLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapPassLayerBuilder")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("agent", &self.agent)
            .field("auto_open_session", &self.auto_open_session)
            .field("problem_json", &self.problem_json)
            .field("approval_base_url", &self.approval_base_url)
            .finish()
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

    /// Builds the layer. Fails with [`Error::Config`] for a bad URL or a
    /// missing key, saying which setting to fix.
    pub fn build(self) -> Result<TapPassLayer, Error> {
        let agent = match self.agent {
            Some(_) if self.approval_base_url.is_some() => {
                return Err(Error::config(
                    "the layer was given both an agent and an approval base URL: set `.approval_base_url(..)` on the agent's builder (`Agent::builder(url)`) instead",
                ))
            }
            Some(agent) => agent,
            None => {
                let mut builder = AgentBuilder::new(self.url);
                if let Some(key) = self.api_key {
                    builder = builder.api_key(key);
                }
                if let Some(base) = self.approval_base_url {
                    builder = builder.approval_base_url(base);
                }
                builder.build()?
            }
        };
        Ok(TapPassLayer {
            shared: Arc::new(Shared {
                agent,
                auto_open_session: self.auto_open_session,
                problem_json: self.problem_json,
            }),
        })
    }
}
