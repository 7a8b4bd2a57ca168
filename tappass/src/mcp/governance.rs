//! [`Governance`]: what every governed server of a service shares (the
//! agent, the session setting, the verifiers of grants), and how it wraps a
//! server ([`Governance::wrap`]) or serves one over streamable HTTP
//! ([`Governance::streamable_http_service`]).

use std::fmt;
use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServerHandler;

use super::handler::Governed;
use super::http::McpService;
use super::rules::{GovernedTools, ToolRules};
pub(crate) use super::shared::Shared;
use crate::agent::{Agent, AgentBuilder};
use crate::error::Error;
use crate::session::scope::Lent;

/// What the governed servers of a service share: its [`Agent`], whether a
/// call without a session gets one, and the verifiers of the grants that
/// tools may require. Cheap to clone (one `Arc`).
///
/// ```no_run
/// # fn demo() -> Result<(), tappass::Error> {
/// let governance = tappass::mcp::Governance::builder()
///     .tappass_url("http://127.0.0.1:9620")   // default: TAPPASS_URL
///     .api_key("tp_...")                      // default: TAPPASS_API_KEY
///     .auto_open_session(true)
///     .build()?;
/// # let _ = governance; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Governance {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Governance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Governance");
        f.field("agent", &self.shared.agent)
            .field("auto_open_session", &self.shared.auto_open_session);
        #[cfg(feature = "mandate")]
        f.field("mandates", &self.shared.mandates);
        #[cfg(feature = "capability")]
        f.field("capability_tokens", &self.shared.authorizer);
        f.finish()
    }
}

impl Governance {
    /// Starts configuring the governance of MCP servers.
    pub fn builder() -> GovernanceBuilder {
        GovernanceBuilder {
            url: None,
            api_key: None,
            agent: None,
            approval_base_url: None,
            auto_open_session: false,
            #[cfg(feature = "mandate")]
            mandates: None,
            #[cfg(feature = "capability")]
            authorizer: None,
        }
    }

    /// The agent that governs the calls and reports their events.
    pub fn agent(&self) -> &Agent {
        &self.shared.agent
    }

    /// Whether a call that names no session gets one of its own.
    pub fn auto_open_session(&self) -> bool {
        self.shared.auto_open_session
    }

    /// Governs `server`: every `tools/call` it serves is checked and decided
    /// before it runs, audited after, and its `tools/list` is filtered by
    /// the caller's grants (the [module documentation](super) has the
    /// whole path of a call). Use it with any rmcp transport;
    /// [`streamable_http_service`](Self::streamable_http_service) does it for
    /// streamable HTTP.
    ///
    /// Fails with [`Error::Config`] when the server's declarations
    /// ([`GovernedTools::tool_rules`]) name a tool TapPass would refuse, a
    /// malformed capability, a tool twice, or a capability while this
    /// governance verifies neither mandates nor capability tokens.
    pub fn wrap<H: ServerHandler + GovernedTools>(&self, server: H) -> Result<Governed<H>, Error> {
        Ok(Governed::new(
            server,
            self.shared.clone(),
            self.rules::<H>()?,
        ))
    }

    /// Serves the servers `factory` makes over streamable HTTP (rmcp's
    /// `StreamableHttpService`, with its in-memory session manager and
    /// `config`), each wrapped as [`wrap`](Self::wrap) does, behind the
    /// [`McpService`] that reads the `tappass-correlation` of a call's
    /// params. Mount it in axum with `Router::nest_service("/mcp", service)`.
    ///
    /// `factory` is called once per MCP session (once per request for a
    /// stateless one), as rmcp calls it. Fails as [`wrap`](Self::wrap) does,
    /// once, before any request.
    pub fn streamable_http_service<H, F>(
        &self,
        factory: F,
        config: StreamableHttpServerConfig,
    ) -> Result<McpService<StreamableHttpService<Governed<H>, LocalSessionManager>>, Error>
    where
        H: ServerHandler + GovernedTools,
        F: Fn() -> Result<H, std::io::Error> + Send + Sync + 'static,
    {
        let rules = self.rules::<H>()?;
        let shared = self.shared.clone();
        let max_body = config.max_request_body_bytes;
        let service = StreamableHttpService::new(
            move || Ok(Governed::new(factory()?, shared.clone(), rules.clone())),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        Ok(McpService::new(service, max_body))
    }

    /// Delivers the audit events still queued; call it on graceful shutdown.
    pub async fn flush(&self) {
        self.shared.agent.flush_events().await
    }

    /// `H`'s declarations, checked against this governance.
    fn rules<H: GovernedTools>(&self) -> Result<Arc<ToolRules>, Error> {
        let rules = H::tool_rules();
        rules.check().map_err(|problems| {
            Error::config(format!(
                "the MCP server's tool declarations cannot be governed: {problems}"
            ))
        })?;
        if rules.any_capability() && !self.shared.verifies_grants() {
            let tools: Vec<&str> = rules
                .iter()
                .filter(|(_, needs)| needs.capability().is_some())
                .map(|(name, _)| name)
                .collect();
            return Err(Error::config(format!(
                "the tools {} need a capability, but this governance verifies no grant: give it a verifier with `.mandates(..)` (feature `mandate`) or `.capability_tokens(..)` (feature `capability`)",
                tools.join(", ")
            )));
        }
        Ok(Arc::new(rules))
    }
}

/// Configures a [`Governance`]; see [`Governance::builder`].
#[must_use]
pub struct GovernanceBuilder {
    url: Option<String>,
    api_key: Option<String>,
    agent: Option<Agent>,
    approval_base_url: Option<String>,
    auto_open_session: bool,
    #[cfg(feature = "mandate")]
    mandates: Option<crate::mandate::MandateVerifier>,
    #[cfg(feature = "capability")]
    authorizer: Option<crate::capability::Authorizer>,
}

impl fmt::Debug for GovernanceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GovernanceBuilder")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("agent", &self.agent)
            .field("approval_base_url", &self.approval_base_url)
            .field("auto_open_session", &self.auto_open_session)
            .finish_non_exhaustive()
    }
}

impl GovernanceBuilder {
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

    /// Uses an agent you configured yourself; `tappass_url`, `api_key` and
    /// `approval_base_url` are then refused by [`build`](Self::build).
    pub fn agent(mut self, agent: Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    /// The public base of the pages where a person decides an approval (see
    /// [`AgentBuilder::approval_base_url`]).
    pub fn approval_base_url(mut self, url: impl Into<String>) -> Self {
        self.approval_base_url = Some(url.into());
        self
    }

    /// Opens a session for a call that names none, reported as
    /// `session_open` before the call and `session_close` after it (default
    /// `false`: only join the caller's session). A call resumed after an
    /// approval names the session it was asked in.
    pub fn auto_open_session(mut self, on: bool) -> Self {
        self.auto_open_session = on;
        self
    }

    /// Verifies the mandates callers present in `X-TapPass-Mandate` for
    /// tools that need a capability ([`Needs::with_capability`](super::Needs::with_capability)).
    #[cfg(feature = "mandate")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mandate")))]
    pub fn mandates(mut self, verifier: crate::mandate::MandateVerifier) -> Self {
        self.mandates = Some(verifier);
        self
    }

    /// Verifies the capability tokens callers present in `X-TapPass-Token`
    /// (with `X-TapPass-PoP`) for tools that need a capability: the token
    /// must grant the tool, for the call's arguments.
    #[cfg(feature = "capability")]
    #[cfg_attr(docsrs, doc(cfg(feature = "capability")))]
    pub fn capability_tokens(mut self, authorizer: crate::capability::Authorizer) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// Builds the governance. Fails with [`Error::Config`] for a bad URL, a
    /// missing key, or an agent given beside a URL, key or approval base.
    pub fn build(self) -> Result<Governance, Error> {
        let agent = match self.agent {
            Some(_)
                if self.url.is_some()
                    || self.api_key.is_some()
                    || self.approval_base_url.is_some() =>
            {
                return Err(Error::config(
                    "the MCP governance was given both an agent and a URL, key or approval base URL: set those on the agent's builder (`Agent::builder(url)`) instead",
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
        let mut services = http::Extensions::new();
        services.insert(agent.clone());
        #[cfg(feature = "mandate")]
        if let Some(verifier) = &self.mandates {
            services.insert(verifier.clone());
        }
        Ok(Governance {
            shared: Arc::new(Shared {
                agent,
                auto_open_session: self.auto_open_session,
                lent: Lent {
                    services: Arc::new(services),
                    problem_json: false,
                    server_timing: false,
                },
                #[cfg(feature = "mandate")]
                mandates: self.mandates,
                #[cfg(feature = "capability")]
                authorizer: self.authorizer,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::{Needs, ToolRules};

    struct Server;
    impl ServerHandler for Server {}
    impl GovernedTools for Server {
        fn tool_rules() -> ToolRules {
            ToolRules::new()
                .tool(
                    "refund",
                    Needs::approval().with_capability("billing:refund"),
                )
                .tool("lookup", Needs::policy())
        }
    }

    struct Misnamed;
    impl ServerHandler for Misnamed {}
    impl GovernedTools for Misnamed {
        fn tool_rules() -> ToolRules {
            ToolRules::new()
                .tool("tool:*", Needs::policy())
                .tool("ok", Needs::policy().with_capability("a b"))
        }
    }

    fn governance() -> GovernanceBuilder {
        Governance::builder()
            .tappass_url("http://127.0.0.1:9")
            .api_key("tp_unit")
    }

    #[test]
    fn a_server_is_wrapped_only_when_its_declarations_can_be_governed() {
        let plain = governance().build().unwrap();
        let Err(Error::Config(message)) = plain.wrap(Server) else {
            panic!("a capability without a verifier is refused");
        };
        assert!(message.contains("refund"), "{message}");
        assert!(message.contains(".capability_tokens(..)"), "{message}");
        let Err(Error::Config(message)) = plain.wrap(Misnamed) else {
            panic!("names and capabilities are checked");
        };
        assert!(message.contains("`:`"), "{message}");
        assert!(message.contains("`a b` is not a capability"), "{message}");
        #[cfg(feature = "capability")]
        {
            let root = crate::capability::SigningKey::generate()
                .unwrap()
                .public_key();
            let authorizer = crate::capability::Authorizer::builder()
                .trusted_root(root)
                .build()
                .unwrap();
            let verifying = governance().capability_tokens(authorizer).build().unwrap();
            let governed = verifying.wrap(Server).unwrap();
            assert_eq!(
                governed.rules().get("refund").and_then(Needs::capability),
                Some("billing:refund")
            );
        }
    }

    #[test]
    fn an_agent_and_its_settings_are_given_once() {
        let agent = crate::agent::Agent::new("http://127.0.0.1:9", "tp_unit").unwrap();
        let both = Governance::builder()
            .agent(agent.clone())
            .api_key("tp_other")
            .build();
        assert!(matches!(both, Err(Error::Config(_))));
        let governance = Governance::builder().agent(agent).build().unwrap();
        assert_eq!(governance.agent().url(), "http://127.0.0.1:9");
        assert!(!governance.auto_open_session());
        assert!(!format!("{governance:?}").contains("tp_unit"));
    }
}
