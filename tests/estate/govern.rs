//! Tool governance as the Python SDK's `govern`: `wait_for_human` (allowed
//! once approved, a block when denied, the approval when nobody decides),
//! audit-only calls that never block and are recorded, and the typed
//! pipeline of an answer.

use tappass::{Error, GovernanceDecision};
use tappass_dev::Policy;

use super::*;

const HUMAN_POLICY: &str = r#"
[[rule]]
name = "wires_need_a_human"
match.tool = "wire_transfer"
decision = "escalate"
reason = "a human approves wires"

[[rule]]
name = "no_drops"
match.tool = "drop_table"
decision = "block"
blocked_by = "db_guard"
reason = "never drop tables"
"#;

async fn human_dev() -> DevServer {
    DevServer::builder()
        .policy(Policy::from_toml(HUMAN_POLICY).unwrap())
        .start()
        .await
        .unwrap()
}

/// Waits until the dev server holds a pending approval, and returns its id.
async fn pending_approval(dev: &DevServer) -> String {
    loop {
        if let Some(approval) = dev.pending_approvals().first() {
            return approval.request_id.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn wait_for_human_returns_allow_once_approved() {
    bounded(async {
        let dev = human_dev().await;
        let agent = agent(&dev);
        let waiter = tokio::spawn({
            let agent = agent.clone();
            async move {
                agent
                    .govern_tool("wire_transfer", json!({"amount": 5000}))
                    .wait_for_human(Duration::from_secs(60))
                    .await
            }
        });
        let id = pending_approval(&dev).await;
        assert!(dev.approve(&id));
        let verdict = waiter.await.unwrap().expect("allowed once approved");
        assert!(
            verdict.reason.contains("approved by a human"),
            "{verdict:?}"
        );
        assert!(!verdict.audit_only && verdict.degraded().is_none());
    })
    .await;
}

#[tokio::test]
async fn wait_for_human_returns_a_block_when_denied() {
    bounded(async {
        let dev = human_dev().await;
        let agent = agent(&dev);
        let waiter = tokio::spawn({
            let agent = agent.clone();
            async move {
                agent
                    .govern_tool("wire_transfer", json!({"amount": 9000}))
                    .wait_for_human(Duration::from_secs(60))
                    .await
            }
        });
        let id = pending_approval(&dev).await;
        assert!(dev.deny(&id));
        match waiter.await.unwrap() {
            Err(Error::Governance(decision)) => match *decision {
                GovernanceDecision::PolicyBlock(block) => {
                    assert_eq!(block.blocked_by, "human_approval");
                    assert_eq!(block.details["request_id"], id.as_str());
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn wait_for_human_returns_the_approval_decision_when_nobody_decides() {
    bounded(async {
        let dev = human_dev().await;
        let agent = agent(&dev);
        let answer = agent
            .govern_tool("wire_transfer", json!({"amount": 1}))
            .wait_for_human(Duration::from_secs(1))
            .await;
        let id = match answer {
            Err(Error::Governance(decision)) => match *decision {
                GovernanceDecision::ApprovalRequired(asked) => asked.request_id.unwrap(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        // Still pending on the server: nobody decided.
        assert_eq!(dev.pending_approvals()[0].request_id, id);
    })
    .await;
}

#[tokio::test]
async fn audit_only_never_blocks_and_the_dev_server_records_the_call() {
    bounded(async {
        let dev = human_dev().await;
        let agent = agent(&dev);
        // Governed, the call is blocked ...
        assert!(matches!(
            agent
                .govern_tool("drop_table", json!({"table": "users"}))
                .await,
            Err(Error::Governance(_))
        ));
        // ... in audit-only mode it goes through and is recorded.
        let session = Session::builder("ses_audit_only").build().unwrap();
        let verdict = tappass::session::scope(
            session,
            agent
                .govern_tool("drop_table", json!({"table": "users"}))
                .audit_only(),
        )
        .await
        .unwrap();
        assert!(verdict.audit_only);
        // An agent in audit-only mode, for every call, even one that escalates.
        let rollout = Agent::builder(dev.url())
            .api_key("tp_interop_tests")
            .audit_only(true)
            .build()
            .unwrap();
        let verdict = rollout
            .govern_tool("wire_transfer", json!({"amount": 1}))
            .await
            .unwrap();
        assert!(verdict.audit_only);
        assert!(dev.pending_approvals().is_empty());
        agent.flush_events().await;
        rollout.flush_events().await;
        let recorded = dev.events_for_session("ses_audit_only");
        let event = recorded
            .iter()
            .find(|e| e["event_type"] == "tool_call")
            .expect("the audit-only call is recorded");
        assert_eq!(event["details"]["tool"], "drop_table");
        assert_eq!(event["details"]["mode"], "audit_only");
        assert!(dev.events().iter().any(|e| e["event_type"] == "tool_call"
            && e["details"]["tool"] == "wire_transfer"
            && e["details"]["mode"] == "audit_only"
            && e["session_id"] == ""));
    })
    .await;
}

#[tokio::test]
async fn pipeline_is_typed_from_the_dev_servers_envelope() {
    bounded(async {
        let policy = Policy::from_toml(
            r#"
[[rule]]
name = "no_secrets"
match.prompt_contains = "password"
decision = "policy_block"
blocked_by = "secret_guard"
reason = "no secrets"

[[rule]]
name = "mask_emails"
match.detector = "email"
decision = "redaction_applied"
reason = "emails are masked"
"#,
        )
        .unwrap();
        let dev = DevServer::builder().policy(policy).start().await.unwrap();
        let agent = agent(&dev);
        let answer = agent.chat("mail jane@example.com the plan").await.unwrap();
        let pipeline = answer.pipeline();
        assert!(!pipeline.blocked);
        assert_eq!(pipeline.blocked_by, None);
        assert_eq!(pipeline.classification.as_deref(), Some("CONFIDENTIAL"));
        assert_eq!(pipeline.capability_token, None);
        let steps: Vec<_> = pipeline
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.action.as_str(), s.detected))
            .collect();
        assert_eq!(
            steps,
            [
                ("no_secrets", "continue", false),
                ("mask_emails", "redact", true)
            ]
        );
        assert!(pipeline.steps.iter().all(|s| s.duration.is_some()));
        // A clean prompt: public, nothing detected.
        let clean = agent.chat("plan the quarter").await.unwrap().pipeline();
        assert_eq!(clean.classification.as_deref(), Some("PUBLIC"));
        assert!(clean.steps.iter().all(|s| !s.detected));
    })
    .await;
}
