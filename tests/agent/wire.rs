//! What the agent sends, read off the wire by a recording relay in front of
//! the dev server (it forwards the bytes unchanged and keeps a copy of what
//! the client sent), so the answers are the dev server's own and the
//! requests are exactly what went out: connections reused, correlation on
//! every call in a session, each call option as documented.

use tappass::agent::{ApprovalState, ChatRequest, Message};

use super::*;
use support::recorders::{Relay, Sent};
use support::within;

/// The decision `err` carries (here, not [`super::decision`]: the answers
/// are the dev server's).
fn decision(err: &Error) -> &GovernanceDecision {
    err.decision()
        .unwrap_or_else(|| panic!("expected a decision, got {err:?}"))
}

async fn chunks(stream: tappass::agent::ChatStream) -> Vec<String> {
    let items: Vec<_> = stream.collect().await;
    items
        .into_iter()
        .map(|item| item.expect("a chunk").content)
        .collect()
}

/// README, The Agent: "reuses its connections". Ten calls in a row open
/// fewer connections than calls (one, unless the pool dropped one in between).
#[tokio::test]
async fn the_agent_reuses_its_connections() {
    within(Duration::from_secs(30), async {
        let server = DevServer::start().await.expect("dev server");
        let relay = Relay::start(server.addr()).await;
        let agent = relayed_agent(relay.url(), "tp_reuse");
        for i in 0..10 {
            let answer = agent.chat(format!("call {i}")).await.expect("chat");
            assert_eq!(answer.content, format!("Echo: call {i}"));
        }
        // The version check and ten chats: eleven requests.
        assert_eq!(relay.requests().len(), 11, "{:?}", relay.requests());
        assert!(
            relay.connections() <= 2,
            "11 requests took {} connections",
            relay.connections()
        );
    })
    .await
}

/// README, The Agent: "sends the current session's correlation headers on
/// every call": chat, stream, tool governance, reading an approval and
/// waiting on it; and the approval read is the one the 428's token names.
#[tokio::test]
async fn every_call_in_a_session_carries_its_correlation_headers() {
    within(Duration::from_secs(30), async {
        let server = DevServer::start().await.expect("dev server");
        let relay = Relay::start(server.addr()).await;
        let agent = relayed_agent(relay.url(), "tp_correlation");
        let session = Session::builder("ses_claims")
            .agent_uuid("agt-claims")
            .pipeline_uuid("pip-claims")
            .audit_url("https://dash.example.com/sessions/ses_claims")
            .build()
            .expect("session");
        let token = tappass::session::scope(session, async {
            assert_eq!(agent.chat("hi").await.expect("chat").content, "Echo: hi");
            let stream = agent.stream("streamed").await.expect("stream");
            assert_eq!(chunks(stream).await.concat(), "Echo: streamed");
            agent
                .govern_tool("read_file", json!({"path": "/tmp/x"}))
                .await
                .expect("an unmatched tool is allowed");
            let err = agent
                .govern_tool("send_email", json!({"to": "cfo@example.com"}))
                .await
                .expect_err("send_email needs an approval");
            let GovernanceDecision::ApprovalRequired(asked) = decision(&err) else {
                panic!("expected an approval, got {err:?}");
            };
            let token = asked.request_id.clone().expect("the approval's request id");
            let pending = server.pending_approvals();
            assert_eq!(pending.len(), 1, "{pending:?}");
            assert_eq!(pending[0].request_id, token, "the decision names the row");
            assert!(server.approve(&token));
            let read = agent.approval(&token).await.expect("approval");
            assert_eq!(
                (read.request_id.as_str(), read.state),
                (token.as_str(), ApprovalState::Approved)
            );
            let waited = agent
                .wait_for_approval(&token, Duration::from_secs(5))
                .await
                .expect("wait");
            assert_eq!(waited.state, ApprovalState::Approved);
            agent
                .govern_tool("send_email", json!({"to": "cfo@example.com"}))
                .await
                .expect("the identical call passes once approved");
            token
        })
        .await;

        let requests = relay.requests();
        let calls: Vec<&Sent> = requests.iter().filter(|r| r.path != "/health").collect();
        let paths: Vec<(&str, &str)> = calls
            .iter()
            .map(|r| (r.method.as_str(), r.path.split('?').next().unwrap()))
            .collect();
        let approval = format!("/v1/me/approvals/{token}");
        let wait = format!("{approval}/wait");
        assert_eq!(
            paths,
            [
                ("POST", "/v1/chat/completions"),
                ("POST", "/v1/chat/completions"),
                ("POST", "/v1/govern"),
                ("POST", "/v1/govern"),
                ("GET", approval.as_str()),
                ("GET", wait.as_str()),
                ("POST", "/v1/govern"),
            ]
        );
        for call in &calls {
            let at = &call.path;
            assert_eq!(
                call.header("x-tappass-session-id"),
                Some("ses_claims"),
                "{at}"
            );
            assert_eq!(
                call.header("x-tappass-agent-uuid"),
                Some("agt-claims"),
                "{at}"
            );
            assert_eq!(
                call.header("x-tappass-pipeline-uuid"),
                Some("pip-claims"),
                "{at}"
            );
            assert_eq!(
                call.header("x-tappass-audit-url"),
                Some("https://dash.example.com/sessions/ses_claims"),
                "{at}"
            );
        }
    })
    .await
}

/// README, The Agent and the rustdoc of `ChatCall`, `StreamCall`,
/// `ChatRequest` and `ToolCallRequest`: what each option puts on the wire,
/// and the dev server's answer to it.
#[tokio::test]
async fn call_options_are_sent_as_documented() {
    within(Duration::from_secs(30), async {
        let server = DevServer::start().await.expect("dev server");
        let relay = Relay::start(server.addr()).await;
        let agent = relayed_agent(relay.url(), "tp_options");

        let answer = agent
            .chat("the question")
            .system("be brief")
            .model("model-a")
            .metadata(json!({"team": "finance"}))
            .await
            .expect("chat");
        assert_eq!(answer.content, "Echo: the question");
        let replaced = agent
            .chat("dropped")
            .messages([
                Message::system("s"),
                Message::user("u1"),
                Message::user("u2"),
            ])
            .await
            .expect("chat");
        assert_eq!(replaced.content, "Echo: u2");
        let request = ChatRequest {
            messages: vec![Message::user("prepared")],
            model: Some("model-b".to_owned()),
            metadata: Some(json!({"k": 1})),
        };
        assert_eq!(
            agent.chat_request(&request).await.expect("chat").content,
            "Echo: prepared"
        );
        let stream = agent
            .stream("dropped too")
            .model("model-c")
            .metadata(json!({"s": true}))
            .messages([Message::user("streamed")])
            .await
            .expect("stream");
        assert_eq!(chunks(stream).await.concat(), "Echo: streamed");
        let stream = agent.stream_request(&request).await.expect("stream");
        assert_eq!(chunks(stream).await.concat(), "Echo: prepared");
        agent
            .govern_tool("read_file", json!({"path": "/etc/motd"}))
            .server("files-mcp")
            .org_id("org_42")
            .await
            .expect("allowed");

        let bodies: Vec<Value> = relay
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .map(Sent::json)
            .collect();
        assert_eq!(bodies.len(), 6, "{bodies:?}");
        assert_eq!(
            bodies[0],
            json!({"model": "model-a", "stream": false, "metadata": {"team": "finance"},
                   "messages": [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "the question"}]})
        );
        assert_eq!(
            bodies[1]["messages"],
            json!([{"role": "system", "content": "s"}, {"role": "user", "content": "u1"},
                   {"role": "user", "content": "u2"}])
        );
        assert_eq!(
            bodies[1]["model"],
            agent.model(),
            "the agent's default model"
        );
        assert_eq!(
            bodies[2],
            json!({"model": "model-b", "stream": false, "metadata": {"k": 1},
                   "messages": [{"role": "user", "content": "prepared"}]})
        );
        assert_eq!(
            bodies[3],
            json!({"model": "model-c", "stream": true, "metadata": {"s": true},
                   "messages": [{"role": "user", "content": "streamed"}]})
        );
        assert_eq!(
            bodies[4],
            json!({"model": "model-b", "stream": true, "metadata": {"k": 1},
                   "messages": [{"role": "user", "content": "prepared"}]})
        );
        assert_eq!(bodies[5]["org_id"], "org_42");
        assert_eq!(
            bodies[5]["payload"],
            json!({"tool": "read_file", "args": {"path": "/etc/motd"}, "server": "files-mcp"})
        );
    })
    .await
}
