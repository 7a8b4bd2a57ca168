//! Tools that need a grant (`#[governance(capability)]`): `tools/list` shows
//! each caller only what its capability token or mandate grants, and a call
//! runs only with a grant that covers it (a token with its proof of
//! possession for these arguments, or a mandate TapPass issued), refused
//! before TapPass is asked otherwise. Callers with different grants see
//! different lists, through rmcp's own client and plain JSON-RPC.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler, ServiceExt};
use serde_json::{json, Value};
use tappass::capability::{Authorizer, CapabilityToken, ConstraintSet, Pop, PublicKey, SigningKey};
use tappass::mandate::MandateVerifier;
use tappass::mcp::Governance;
use tappass_dev::DevServer;

use super::{serve, Raw, KEY};
use crate::support::bounded;
use crate::support::mcp_client::{transport, Reqwest012};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Account {
    /// The ledger account.
    account: String,
}

/// A ledger: one public tool, two that need a grant.
#[derive(Clone)]
struct Ledger {
    tool_router: ToolRouter<Self>,
    runs: Arc<AtomicUsize>,
}

#[tappass::mcp::governed]
#[tool_router]
impl Ledger {
    #[tool(description = "Search the public price list")]
    async fn public_search(&self) -> String {
        "prices".to_owned()
    }

    #[tool(description = "Read a ledger account")]
    #[governance(capability)]
    async fn read_ledger(&self, Parameters(Account { account }): Parameters<Account>) -> String {
        self.runs.fetch_add(1, Ordering::SeqCst);
        format!("ledger {account}: 42")
    }

    #[tool(description = "Export the whole ledger")]
    #[governance(capability = "ledger:export")]
    async fn export_ledger(&self) -> String {
        self.runs.fetch_add(1, Ordering::SeqCst);
        "exported".to_owned()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Ledger {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

struct Keys {
    control_plane: SigningKey,
    agent: SigningKey,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            control_plane: SigningKey::generate().unwrap(),
            agent: SigningKey::generate().unwrap(),
        }
    }

    /// A token for the agent that grants `tools`, signed by `signer`.
    fn token(&self, tools: &[&str], signer: &SigningKey) -> CapabilityToken {
        let mut builder = CapabilityToken::builder().holder(self.agent.public_key());
        for tool in tools {
            builder = builder.tool(*tool, ConstraintSet::new());
        }
        builder.sign(signer).unwrap()
    }
}

/// The ledger, governed with both verifiers: `http://…/mcp` and the count
/// of its granted tools' runs.
async fn serve_ledger(dev: &DevServer, keys: &Keys) -> (String, Arc<AtomicUsize>) {
    let authorizer = Authorizer::builder()
        .trusted_root(PublicKey::from_hex(&keys.control_plane.public_key().to_hex()).unwrap())
        .build()
        .unwrap();
    let mandates = MandateVerifier::builder()
        .jwks_url(dev.jwks_url())
        .revocation_url(format!("{}/v1/mandates/revoked", dev.url()))
        .api_key(KEY)
        .build()
        .unwrap();
    let governance = Governance::builder()
        .tappass_url(dev.url())
        .api_key(KEY)
        .capability_tokens(authorizer)
        .mandates(mandates)
        .build()
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let factory = {
        let runs = runs.clone();
        move || {
            Ok(Ledger {
                tool_router: Ledger::tool_router(),
                runs: runs.clone(),
            })
        }
    };
    let service = governance
        .streamable_http_service(factory, StreamableHttpServerConfig::default())
        .unwrap();
    let url = serve(axum::Router::new().nest_service("/mcp", service)).await;
    (format!("{url}/mcp"), runs)
}

/// The tools rmcp's client sees when it sends `headers` with every request.
async fn listed_by_rmcp(url: &str, headers: &[(&'static str, &str)]) -> Vec<String> {
    let client =
        ().serve(transport(url, Reqwest012::with_headers(headers)))
            .await
            .expect("rmcp's client connects");
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect();
    names.sort();
    client.cancel().await.unwrap();
    names
}

#[tokio::test]
async fn tools_list_shows_each_caller_what_its_capability_token_grants() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let keys = Keys::new();
        let (url, _) = serve_ledger(&dev, &keys).await;
        let reads = keys.token(&["read_ledger"], &keys.control_plane).encode();
        let exports = keys
            .token(&["export_ledger", "public_search"], &keys.control_plane)
            .encode();
        let stranger = SigningKey::generate().unwrap();
        let forged = keys
            .token(&["read_ledger", "export_ledger"], &stranger)
            .encode();

        assert_eq!(
            listed_by_rmcp(&url, &[("x-tappass-token", &reads)]).await,
            ["public_search", "read_ledger"]
        );
        assert_eq!(
            listed_by_rmcp(&url, &[("x-tappass-token", &exports)]).await,
            ["export_ledger", "public_search"]
        );
        let raw = Raw::connect(&url).await;
        assert_eq!(raw.tool_names(&[]).await, ["public_search"]);
        assert_eq!(
            raw.tool_names(&[("x-tappass-token", &forged)]).await,
            ["public_search"],
            "a token from an untrusted root grants nothing"
        );
        assert_eq!(
            raw.tool_names(&[("x-tappass-token", "not a token")]).await,
            ["public_search"]
        );
    })
    .await;
}

#[tokio::test]
async fn a_call_runs_only_with_a_token_and_proof_for_these_arguments() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let keys = Keys::new();
        let (url, runs) = serve_ledger(&dev, &keys).await;
        let token = keys.token(&["read_ledger"], &keys.control_plane);
        let header = token.encode();
        let args = json!({"account": "4000"});
        let pop = |args: &Value, tool: &str| {
            Pop::sign(&token, &keys.agent, tool, args.as_object().unwrap())
                .unwrap()
                .encode()
        };
        let raw = Raw::connect(&url).await;
        let call = |headers: Vec<(&'static str, String)>, tool: &'static str, args: Value| {
            let raw = &raw;
            async move {
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let answer = raw
                    .request(
                        "tools/call",
                        json!({"name": tool, "arguments": args}),
                        &headers,
                    )
                    .await;
                answer.result().clone()
            }
        };

        let refused = [
            (vec![], "read_ledger", "grant_missing"),
            (
                vec![("x-tappass-token", header.clone())],
                "read_ledger",
                "capability_pop_missing",
            ),
            (
                vec![
                    ("x-tappass-token", header.clone()),
                    (
                        "x-tappass-pop",
                        pop(&json!({"account": "9999"}), "read_ledger"),
                    ),
                ],
                "read_ledger",
                "capability_pop_invalid",
            ),
            (
                vec![
                    ("x-tappass-token", header.clone()),
                    ("x-tappass-pop", pop(&json!({}), "export_ledger")),
                ],
                "export_ledger",
                "capability_tool_not_granted",
            ),
        ];
        for (headers, tool, code) in refused {
            let args = if tool == "read_ledger" {
                args.clone()
            } else {
                json!({})
            };
            let result = call(headers, tool, args).await;
            assert_eq!(result["isError"], true, "{result}");
            assert_eq!(result["structuredContent"]["error"], code, "{result}");
            let text = result.to_string();
            assert!(!text.contains(&header), "the token is never echoed");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        // Refused before TapPass was asked.
        assert!(dev
            .events()
            .iter()
            .all(|e| e["event_type"] != "tool_call" || e["details"]["source"] == "tappass::mcp"));

        let result = call(
            vec![
                ("x-tappass-token", header.clone()),
                ("x-tappass-pop", pop(&args, "read_ledger")),
            ],
            "read_ledger",
            args.clone(),
        )
        .await;
        assert_eq!(result["isError"], false, "{result}");
        assert_eq!(result["content"][0]["text"], "ledger 4000: 42");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn a_mandate_tappass_issued_lists_and_lets_through_its_one_tool() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let keys = Keys::new();
        let (url, runs) = serve_ledger(&dev, &keys).await;
        // The agent governs the call upstream; TapPass allows it with a
        // mandate for `tool:call:read_ledger`.
        let agent = tappass::Agent::new(dev.url(), KEY).unwrap();
        let args = json!({"account": "4000"});
        let verdict = agent
            .govern_tool("read_ledger", args.clone())
            .await
            .unwrap();
        let mandate = verdict.mandate().expect("a mandate").to_owned();

        let raw = Raw::connect(&url).await;
        let with_mandate = [("x-tappass-mandate", mandate.as_str())];
        assert_eq!(
            raw.tool_names(&with_mandate).await,
            ["public_search", "read_ledger"],
            "`ledger:export` is not `tool:call:read_ledger`"
        );
        let answer = raw
            .request(
                "tools/call",
                json!({"name": "export_ledger", "arguments": {}}),
                &with_mandate,
            )
            .await;
        assert_eq!(
            answer.result()["structuredContent"]["error"],
            "mandate_insufficient"
        );
        assert_eq!(
            answer.result()["structuredContent"]["required_capability"],
            "ledger:export"
        );
        let answer = raw
            .request(
                "tools/call",
                json!({"name": "read_ledger", "arguments": args}),
                &[("x-tappass-mandate", "eyJhbGciOiJub25lIn0.e30.")],
            )
            .await;
        assert_eq!(
            answer.result()["structuredContent"]["error"],
            "mandate_invalid"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0);

        let answer = raw
            .request(
                "tools/call",
                json!({"name": "read_ledger", "arguments": args}),
                &with_mandate,
            )
            .await;
        assert_eq!(answer.result()["isError"], false, "{}", answer.message);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    })
    .await;
}
