//! The wire as the Python SDK speaks it: `/v1/govern` and `/v1/events` send
//! strings, never `null`; decision timestamps without an offset are read as
//! UTC; a govern decision teaches the session, and a hostile value in it is
//! ignored. Against the scripted stand-in, which records the exact bodies.

use tappass::agent::AuditEvent;
use tappass::{Error, GovernanceDecision, Timestamp};

use super::*;
use support::stand_in::{Reply, TapPass};
use support::KEY;

fn stand_in_agent(server: &TapPass) -> tappass::agent::AgentBuilder {
    Agent::builder(server.url()).api_key(KEY).max_retries(0)
}

fn allow() -> Reply {
    Reply::ok(json!({
        "outcome": "allow", "reason": "fine", "behavior_id": "b",
        "pipeline_id": "pip-srv", "decided_at": "2026-11-23T10:00:00Z",
    }))
}

/// The body sent to `/v1/govern`, with its random `behavior_id` checked and
/// set aside.
fn govern_body(server: &TapPass) -> Value {
    let sent = server.requests_to("/v1/govern");
    let mut body = sent.last().expect("a /v1/govern call").json();
    let id = body["behavior_id"]
        .as_str()
        .expect("a behavior_id")
        .to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    body["behavior_id"] = json!("<32 hex>");
    body
}

#[tokio::test]
async fn govern_sends_strings_never_null_outside_a_session() {
    bounded(async {
        let server = TapPass::start().await;
        server.always("/v1/govern", allow());
        let agent = stand_in_agent(&server).build().unwrap();
        agent
            .govern_tool("search", json!({"q": "revenue"}))
            .await
            .unwrap();
        assert_eq!(
            govern_body(&server),
            json!({
                "type": "TOOL_CALL", "agent_id": "sdk:unknown", "session_id": "",
                "org_id": null, "behavior_id": "<32 hex>",
                "payload": {"tool": "search", "args": {"q": "revenue"}, "server": null},
            })
        );

        // The client's own agent id, when it has one.
        let named = stand_in_agent(&server)
            .agent_id("finance-bot")
            .build()
            .unwrap();
        named
            .govern_tool("search", json!({}))
            .server("mcp-search")
            .await
            .unwrap();
        assert_eq!(
            govern_body(&server),
            json!({
                "type": "TOOL_CALL", "agent_id": "finance-bot", "session_id": "",
                "org_id": null, "behavior_id": "<32 hex>",
                "payload": {"tool": "search", "args": {}, "server": "mcp-search"},
            })
        );
    })
    .await;
}

#[tokio::test]
async fn govern_sends_the_sessions_ids_inside_a_session() {
    bounded(async {
        let server = TapPass::start().await;
        server.always("/v1/govern", allow());
        let agent = stand_in_agent(&server)
            .agent_id("finance-bot")
            .build()
            .unwrap();
        let with_agent = Session::builder("ses_wire")
            .agent_uuid("agt-1")
            .build()
            .unwrap();
        tappass::session::scope(with_agent, agent.govern_tool("search", json!({"q": 1})))
            .await
            .unwrap();
        assert_eq!(
            govern_body(&server),
            json!({
                "type": "TOOL_CALL", "agent_id": "agt-1", "session_id": "ses_wire",
                "org_id": null, "behavior_id": "<32 hex>",
                "payload": {"tool": "search", "args": {"q": 1}, "server": null},
            })
        );
        // A session without an agent: the client's own id.
        let bare = Session::builder("ses_bare").build().unwrap();
        tappass::session::scope(bare, agent.govern_tool("search", json!({})).org_id("org-7"))
            .await
            .unwrap();
        assert_eq!(
            govern_body(&server),
            json!({
                "type": "TOOL_CALL", "agent_id": "finance-bot", "session_id": "ses_bare",
                "org_id": "org-7", "behavior_id": "<32 hex>",
                "payload": {"tool": "search", "args": {}, "server": null},
            })
        );
    })
    .await;
}

#[tokio::test]
async fn events_send_strings_never_null_inside_and_outside_a_session() {
    bounded(async {
        let server = TapPass::start().await;
        server.always("/v1/events", Reply::json(202, json!({"accepted": 2})));
        let agent = stand_in_agent(&server).build().unwrap();
        let at: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let session = Session::builder("ses_ev")
            .agent_uuid("agt-ev")
            .build()
            .unwrap();
        let mut inside = AuditEvent::new("tool_call", &session, json!({"tool": "x"}));
        inside.occurred_at = at;
        let outside = AuditEvent {
            occurred_at: at,
            ..AuditEvent::new("decision", &session, json!({}))
        };
        let outside = AuditEvent {
            agent_id: None,
            session_id: None,
            ..outside
        };
        agent.report(inside);
        agent.report(outside);
        agent.flush_events().await;
        let sent: Vec<Value> = server
            .requests_to("/v1/events")
            .iter()
            .flat_map(|r| r.json().as_array().cloned().unwrap_or_default())
            .collect();
        assert_eq!(
            sent,
            vec![
                json!({"event_type": "tool_call", "agent_id": "agt-ev",
                       "occurred_at": "2026-11-23T10:00:00Z", "session_id": "ses_ev",
                       "task_id": null, "details": {"tool": "x"}}),
                json!({"event_type": "decision", "agent_id": "",
                       "occurred_at": "2026-11-23T10:00:00Z", "session_id": "",
                       "task_id": null, "details": {}}),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn decision_timestamps_without_an_offset_are_read_as_utc() {
    bounded(async {
        let server = TapPass::start().await;
        let agent = stand_in_agent(&server).build().unwrap();
        for (sent, meant) in [
            ("2026-11-23T10:00:00", "2026-11-23T10:00:00Z"),
            ("2026-11-23T10:00:00.250", "2026-11-23T10:00:00.25Z"),
            ("2026-11-23T10:00:00+02:00", "2026-11-23T08:00:00Z"),
        ] {
            server.push(
                "/v1/govern",
                Reply::ok(json!({"outcome": "allow", "reason": "ok", "decided_at": sent})),
            );
            let verdict = agent.govern_tool("t", json!({})).await.unwrap();
            assert_eq!(verdict.decided_at, Some(meant.parse().unwrap()), "{sent}");
        }
        // Not a timestamp at all: no timestamp, still an allow.
        server.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "ok", "decided_at": "yesterday"})),
        );
        assert_eq!(agent.govern_tool("t", json!({})).await.unwrap().decided_at, None);
        // An approval's expiry too.
        server.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "needs_approval", "reason": "ask",
                             "approval": {"request_id": "apr_1", "expires_at": "2026-11-23T11:30:00"}})),
        );
        match agent.govern_tool("t", json!({})).await {
            Err(Error::Governance(decision)) => match *decision {
                GovernanceDecision::ApprovalRequired(asked) => assert_eq!(
                    asked.expires_at,
                    Some("2026-11-23T11:30:00Z".parse().unwrap())
                ),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        // Timestamp's own FromStr stays strict RFC 3339.
        assert!("2026-11-23T10:00:00".parse::<Timestamp>().is_err());
    })
    .await;
}

#[tokio::test]
async fn a_govern_decision_teaches_the_session_and_a_hostile_value_is_ignored() {
    bounded(async {
        let server = TapPass::start().await;
        let agent = stand_in_agent(&server).build().unwrap();
        server.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "ok",
                             "agent_uuid": "agt-srv", "pipeline_id": "pip-srv",
                             "audit_url": "javascript:alert(1)"})),
        );
        server.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "ok",
                             "agent_uuid": "agt-other", "pipeline_uuid": "pip-other",
                             "audit_url": "https://Dash.example:443/s/ses_learn"})),
        );
        let session = Session::open();
        tappass::session::scope(session.clone(), async {
            agent.govern_tool("t", json!({})).await.unwrap();
            // The hostile audit URL was not kept; the rest was.
            let now = tappass::current_session().unwrap();
            assert_eq!(now.agent_uuid(), Some("agt-srv"));
            assert_eq!(now.pipeline_uuid(), Some("pip-srv"));
            assert_eq!(now.audit_url(), None);
            agent.govern_tool("t", json!({})).await.unwrap();
        })
        .await;
        // Learned once: the second answer changed nothing but the missing URL.
        assert_eq!(session.agent_uuid(), Some("agt-srv"));
        assert_eq!(session.pipeline_uuid(), Some("pip-srv"));
        assert_eq!(
            session.audit_url(),
            Some("https://dash.example/s/ses_learn")
        );
        // And the second call already carried what the first taught.
        let second = &server.requests_to("/v1/govern")[1];
        assert_eq!(second.header("x-tappass-agent-uuid"), Some("agt-srv"));
        assert_eq!(govern_body(&server)["agent_id"], "agt-srv");
    })
    .await;
}
