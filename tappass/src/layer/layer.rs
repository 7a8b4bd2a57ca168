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

pub(crate) struct Shared {
    pub(crate) agent: Agent,
    pub(crate) auto_open_session: bool,
}

impl TapPassLayer {
    /// Starts configuring a layer.
    pub fn builder() -> TapPassLayerBuilder {
        TapPassLayerBuilder {
            url: None,
            api_key: None,
            agent: None,
            auto_open_session: false,
        }
    }

    /// A layer that shares an existing agent and joins callers' sessions.
    pub fn new(agent: Agent) -> Self {
        TapPassLayer {
            shared: Arc::new(Shared {
                agent,
                auto_open_session: false,
            }),
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
}

impl fmt::Debug for TapPassLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapPassLayerBuilder")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("agent", &self.agent)
            .field("auto_open_session", &self.auto_open_session)
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

    /// Builds the layer. Fails with [`Error::Config`] for a bad URL or a
    /// missing key, saying which setting to fix.
    pub fn build(self) -> Result<TapPassLayer, Error> {
        let agent = match self.agent {
            Some(agent) => agent,
            None => {
                let mut builder = AgentBuilder::new(self.url);
                if let Some(key) = self.api_key {
                    builder = builder.api_key(key);
                }
                builder.build()?
            }
        };
        Ok(TapPassLayer {
            shared: Arc::new(Shared {
                agent,
                auto_open_session: self.auto_open_session,
            }),
        })
    }
}
