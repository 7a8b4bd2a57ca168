//! The example's server from rmcp's own client (over this workspace's
//! reqwest, `support::mcp_client`): it lists the three tools, calls each
//! with the governed outcome, and a call that carries the caller's session
//! (in `_meta.tappass-correlation`, or in the `X-TapPass-*` headers of its
//! requests) lands in that session.

use rmcp::model::{CallToolRequestParams, MetaObject, RequestMetaObject};
use rmcp::ServiceExt;
use serde_json::{json, Value};

use super::{ours, Served};
use crate::support::bounded;
use crate::support::mcp_client::{transport, Reqwest012};

fn call(tool: &'static str, args: Value, meta: Option<Value>) -> CallToolRequestParams {
    let mut params =
        CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone());
    if let Some(Value::Object(meta)) = meta {
        params.meta = Some(RequestMetaObject(MetaObject(meta)));
    }
    params
}

#[tokio::test]
async fn rmcps_client_calls_the_three_tools_in_the_callers_session() {
    bounded(async {
        let served = Served::example(true).await;
        let client = ()
            .serve(transport(&served.url, Reqwest012::default()))
            .await
            .expect("rmcp's client connects");
        let mut names: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["delete_database", "lookup_invoice", "send_email"]);

        let caller = json!({"tappass-correlation": {
            "session_id": "ses_rust_caller", "agent_uuid": "agt-rust", "pipeline_uuid": null, "audit_url": ""}});
        let lookup = client
            .call_tool(call("lookup_invoice", json!({"number": "INV-5"}), Some(caller.clone())))
            .await
            .unwrap();
        assert_eq!(lookup.is_error, Some(false));
        let echoed = &lookup.meta.as_ref().unwrap()["tappass-correlation"];
        assert_eq!(echoed["session_id"], "ses_rust_caller");
        assert_eq!(echoed["agent_uuid"], "agt-rust", "the caller's agent is kept");

        let delete = client
            .call_tool(call("delete_database", json!({"name": "x"}), Some(caller.clone())))
            .await
            .unwrap();
        assert_eq!(delete.is_error, Some(true));
        assert_eq!(delete.structured_content.unwrap()["error"], "policy_block");

        let email = client
            .call_tool(call("send_email", json!({"to": "a@example.com", "subject": "s"}), Some(caller)))
            .await
            .unwrap();
        assert_eq!(email.is_error, Some(true));
        let body = email.structured_content.unwrap();
        assert_eq!(body["error"], "approval_required");
        assert_eq!(
            body["resume_meta"]["tappass-correlation"]["session_id"],
            "ses_rust_caller",
            "resumed in the caller's session"
        );
        assert_eq!(served.runs(), [1, 0, 0]);

        let timeline = served.timeline("ses_rust_caller").await;
        let decisions: Vec<&Value> = ours(&timeline, "tool_call")
            .into_iter()
            .map(|e| &e["details"]["decision"])
            .collect();
        assert_eq!(decisions, ["allowed", "policy_block", "approval_required"]);
        client.cancel().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_callers_headers_put_rmcps_calls_in_its_session() {
    bounded(async {
        let served = Served::example(true).await;
        let carrier = Reqwest012::with_headers(&[
            ("x-tappass-session-id", "ses_from_headers"),
            ("x-tappass-agent-uuid", ""),
        ]);
        let client = ().serve(transport(&served.url, carrier)).await.unwrap();
        let result = client
            .call_tool(call("lookup_invoice", json!({"number": "INV-6"}), None))
            .await
            .unwrap();
        assert_eq!(
            result.meta.unwrap()["tappass-correlation"]["session_id"],
            "ses_from_headers"
        );
        let timeline = served.timeline("ses_from_headers").await;
        assert_eq!(ours(&timeline, "tool_call").len(), 1);
        client.cancel().await.unwrap();
    })
    .await;
}
