//! A governed `tools/call`, end to end over loopback against the dev server:
//! a block never runs the tool, an approval runs it once after a human
//! approved it and the call was resumed (never before), each call is audited
//! in its session with its tool, decision and duration, a session opened for
//! a call is reported open and closed, and what each tool was declared to
//! need (approval, audit only) holds whatever the policy says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::{tool, tool_handler, tool_router, ServerHandler};
use serde_json::{json, Value};
use tappass_dev::DevServer;

use super::{governance, ours, serve, Raw, Served};
use crate::support::bounded;

#[tokio::test]
async fn a_blocked_tool_never_runs() {
    bounded(async {
        let served = Served::example(true).await;
        let raw = Raw::connect(&served.url).await;
        for name in ["production", "staging", "scratch"] {
            let answer = raw
                .call("delete_database", json!({"name": name}), json!({}))
                .await;
            let result = answer.result();
            assert_eq!(result["isError"], true, "{result}");
            let body = &result["structuredContent"];
            assert_eq!(body["error"], "policy_block");
            assert_eq!(body["blocked_by"], "destructive_tools");
            assert_eq!(body["tool"], "delete_database");
            assert_eq!(
                body["reason"],
                "deleting a database is never allowed to an agent"
            );
            let session = body["session_id"].as_str().expect("the call's session");
            assert!(body["audit_url"]
                .as_str()
                .is_some_and(|url| url.ends_with(session)));
            // The model reads the message first.
            assert_eq!(result["content"][0]["text"], body["message"]);
        }
        assert_eq!(served.runs(), [0, 0, 0], "a blocked tool never runs");
    })
    .await;
}

/// The resume `_meta` of an approval result.
fn resume_meta(result: &Value) -> Value {
    let meta = result["structuredContent"]["resume_meta"].clone();
    assert!(meta["tappass-resume-token"].is_string(), "{result}");
    meta
}

#[tokio::test]
async fn an_approval_required_tool_runs_once_after_approval_and_resume_never_before() {
    bounded(async {
        let served = Served::example(true).await;
        let raw = Raw::connect(&served.url).await;
        let args = json!({"to": "cfo@example.com", "subject": "Q3 numbers"});

        let asked = raw.call("send_email", args.clone(), json!({})).await;
        let asked = asked.result().clone();
        assert_eq!(asked["isError"], true);
        let body = &asked["structuredContent"];
        assert_eq!(body["error"], "approval_required");
        let request_id = body["request_id"].as_str().unwrap().to_owned();
        assert!(body["approval_url"]
            .as_str()
            .is_some_and(|url| url.ends_with(&request_id)));
        let meta = resume_meta(&asked);
        assert_eq!(meta["tappass-resume-token"], body["resume_token"]);
        assert_eq!(
            meta["tappass-correlation"]["session_id"],
            body["session_id"]
        );
        let text = asked["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("tappass-resume-token"), "{text}");
        assert_eq!(served.runs(), [0, 0, 0]);

        // Resumed before anyone decided: still pending, still not run.
        let early = raw
            .call("send_email", args.clone(), json!({"_meta": meta}))
            .await;
        assert_eq!(
            early.result()["structuredContent"]["error"],
            "approval_required"
        );
        assert_eq!(served.runs(), [0, 0, 0]);

        assert!(served.dev.approve(&request_id), "the approval is pending");
        let resumed = raw
            .call("send_email", args.clone(), json!({"_meta": meta}))
            .await;
        let result = resumed.result();
        assert_eq!(result["isError"], false, "{result}");
        assert_eq!(
            result["content"][0]["text"],
            "sent `Q3 numbers` to cfo@example.com"
        );
        assert_eq!(served.runs(), [0, 1, 0], "run once, after the approval");

        // The token is used up: the same resume runs nothing more.
        let again = raw
            .call("send_email", args.clone(), json!({"_meta": meta}))
            .await;
        assert_eq!(
            again.result()["structuredContent"]["error"],
            "resume_token_used"
        );
        assert_eq!(served.runs(), [0, 1, 0]);

        // The approval and the action are audited in one session.
        let session = meta["tappass-correlation"]["session_id"].as_str().unwrap();
        let timeline = served.timeline(session).await;
        let calls: Vec<&Value> = ours(&timeline, "tool_call");
        let decisions: Vec<&str> = calls
            .iter()
            .map(|e| e["details"]["decision"].as_str().unwrap())
            .collect();
        assert_eq!(
            decisions,
            [
                "approval_required",
                "approval_required",
                "allowed",
                "resume_token_used"
            ]
        );
        assert_eq!(calls[2]["details"]["resumed"], true);
    })
    .await;
}

#[tokio::test]
async fn each_call_is_audited_in_the_callers_session_with_tool_decision_and_duration() {
    bounded(async {
        let served = Served::example(false).await;
        let raw = Raw::connect(&served.url).await;
        let caller = json!({"_meta": {"tappass-correlation": {"session_id": "ses_caller"}}});
        let allowed = raw
            .call("lookup_invoice", json!({"number": "INV-9"}), caller.clone())
            .await;
        let result = allowed.result();
        assert_eq!(result["isError"], false);
        assert!(result["content"][0]["text"]
            .as_str()
            .unwrap()
            .ends_with("(session ses_caller)"));
        // The result carries the session back, as learned from TapPass.
        let echoed = &result["_meta"]["tappass-correlation"];
        assert_eq!(echoed["session_id"], "ses_caller");
        assert!(echoed["agent_uuid"].is_string());
        assert!(echoed["audit_url"]
            .as_str()
            .is_some_and(|url| url.ends_with("/ses_caller")));
        raw.call("delete_database", json!({"name": "x"}), caller)
            .await;

        let timeline = served.timeline("ses_caller").await;
        let calls = ours(&timeline, "tool_call");
        assert_eq!(calls.len(), 2, "{timeline:#?}");
        let (lookup, delete) = (&calls[0]["details"], &calls[1]["details"]);
        assert_eq!(lookup["tool"], "lookup_invoice");
        assert_eq!(lookup["decision"], "allowed");
        assert_eq!(lookup["is_error"], false);
        assert!(lookup["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0));
        assert!(lookup["tool_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
        assert_eq!(delete["tool"], "delete_database");
        assert_eq!(delete["decision"], "policy_block");
        assert_eq!(delete["is_error"], true);
        assert!(delete["tool_ms"].is_null(), "it never ran");
        // TapPass's own record of each decision is in the same session.
        let governed = timeline
            .iter()
            .filter(|e| e["event_type"] == "tool_call" && e["details"]["source"].is_null())
            .count();
        assert_eq!(governed, 2);
        // A joined session is not the server's to open or close.
        assert!(ours(&timeline, "session_open").is_empty());
        assert!(ours(&timeline, "session_close").is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_session_opened_for_a_call_is_reported_open_and_closed_and_sent_back() {
    bounded(async {
        let served = Served::example(true).await;
        let raw = Raw::connect(&served.url).await;
        let answer = raw
            .call("lookup_invoice", json!({"number": "INV-1"}), json!({}))
            .await;
        let session = answer.result()["_meta"]["tappass-correlation"]["session_id"]
            .as_str()
            .expect("the opened session, sent back")
            .to_owned();
        assert!(session.starts_with("ses_"));
        let timeline = served.timeline(&session).await;
        let kinds: Vec<&str> = timeline
            .iter()
            .filter(|e| e["details"]["source"] == "tappass::mcp")
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["session_open", "tool_call", "session_close"]);

        // Without auto_open_session, no session and none sent back.
        let unopened = Served::example(false).await;
        let raw = Raw::connect(&unopened.url).await;
        let answer = raw
            .call("lookup_invoice", json!({"number": "INV-1"}), json!({}))
            .await;
        let result = answer.result();
        assert_eq!(result["isError"], false);
        assert!(result.get("_meta").is_none(), "{result}");
        assert_eq!(unopened.runs(), [1, 0, 0]);
    })
    .await;
}

/// Tools whose declarations say more than the policy does.
#[derive(Clone)]
struct Declared {
    tool_router: ToolRouter<Self>,
    publish: Arc<AtomicUsize>,
    drop_table: Arc<AtomicUsize>,
}

#[tappass::mcp::governed]
#[tool_router]
impl Declared {
    /// No rule of the default policy names it: allowed, unless an approval
    /// is required.
    #[tool(description = "Publish the report")]
    #[governance(approval)]
    async fn publish(&self) -> String {
        self.publish.fetch_add(1, Ordering::SeqCst);
        "published".to_owned()
    }

    /// The default policy would block `delete_database`; this one is only
    /// recorded.
    #[tool(
        name = "delete_database",
        description = "Audit-only twin of a blocked tool"
    )]
    #[governance(audit_only)]
    async fn drop_table(&self) -> String {
        self.drop_table.fetch_add(1, Ordering::SeqCst);
        "dropped".to_owned()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Declared {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::test]
async fn what_a_tool_is_declared_to_need_holds_whatever_the_policy_says() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let governance = governance(&dev, false);
        let (publish, drop_table) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let server = {
            let (publish, drop_table) = (publish.clone(), drop_table.clone());
            move || {
                Ok(Declared {
                    tool_router: Declared::tool_router(),
                    publish: publish.clone(),
                    drop_table: drop_table.clone(),
                })
            }
        };
        let service = governance
            .streamable_http_service(server, StreamableHttpServerConfig::default())
            .unwrap();
        let url = format!(
            "{}/mcp",
            serve(axum::Router::new().nest_service("/mcp", service)).await
        );
        let raw = Raw::connect(&url).await;
        let caller = json!({"_meta": {"tappass-correlation": {"session_id": "ses_declared"}}});

        // Allowed by the policy, without an approval: not run.
        let answer = raw.call("publish", json!({}), caller.clone()).await;
        let body = &answer.result()["structuredContent"];
        assert_eq!(body["error"], "approval_not_enforced", "{body}");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("needs an approval rule"));
        assert_eq!(publish.load(Ordering::SeqCst), 0);

        // Audit only: run, recorded with its arguments, never sent for a decision.
        let answer = raw.call("delete_database", json!({}), caller.clone()).await;
        assert_eq!(answer.result()["isError"], false);
        assert_eq!(drop_table.load(Ordering::SeqCst), 1);

        governance.flush().await;
        let timeline = dev.events_for_session("ses_declared");
        let calls = ours(&timeline, "tool_call");
        assert_eq!(calls[0]["details"]["decision"], "approval_not_enforced");
        assert_eq!(calls[1]["details"]["decision"], "audit_only");
        assert_eq!(calls[1]["details"]["mode"], "audit_only");
        assert_eq!(calls[1]["details"]["arguments"], json!({}));
        let decided: Vec<&Value> = timeline
            .iter()
            .filter(|e| e["event_type"] == "tool_call" && e["details"]["source"].is_null())
            .collect();
        assert_eq!(decided.len(), 1, "only `publish` was sent for a decision");
        assert_eq!(decided[0]["details"]["tool"], "publish");
    })
    .await;
}

#[tokio::test]
async fn a_call_let_through_while_tappass_is_down_says_so_in_its_meta() {
    bounded(async {
        let dev = DevServer::start().await.expect("the dev server starts");
        let agent = tappass::Agent::builder(dev.url())
            .api_key(super::KEY)
            .max_retries(0)
            .resilience(tappass::resilience::Resilience::fail_open_logged())
            .build()
            .unwrap();
        let governance = tappass::mcp::Governance::builder()
            .agent(agent)
            .auto_open_session(true)
            .build()
            .expect("a governance");
        let runs = Arc::new(super::example::Runs::default());
        let app = super::example::app(&governance, runs.clone()).expect("governed");
        let url = format!("{}/mcp", serve(app).await);
        let raw = Raw::connect(&url).await;

        let governed = raw
            .call("lookup_invoice", json!({"number": "inv_1"}), json!({}))
            .await;
        let governed = governed.result();
        assert_eq!(governed["isError"], false, "{governed}");
        assert!(
            governed["_meta"].get("tappass-degraded").is_none(),
            "{governed}"
        );

        dev.set_available(false);
        let degraded = raw
            .call("lookup_invoice", json!({"number": "inv_1"}), json!({}))
            .await;
        let degraded = degraded.result();
        assert_eq!(degraded["isError"], false, "{degraded}");
        assert_eq!(degraded["_meta"]["tappass-degraded"], "ungoverned");
        assert_eq!(runs.lookup_invoice.load(Ordering::SeqCst), 2);
    })
    .await;
}
