//! An approval lets the request it was asked for through once: in its
//! session, for its API key, with its token or by the identical
//! re-submission, and never again; `Agent::resume` resumes in the approval's
//! session. Plain HTTP to the dev server, as a client or an attacker sends it.

use serde_json::{json, Value};
use tappass::GovernanceError as _;
use tappass_dev::DevServer;

use crate::support::dev_http::{behaviour, post};

/// The default policy's approval rule for `send_email`.
fn email() -> Value {
    behaviour(
        "send_email",
        json!({"to": "cfo@example.com", "amount": 5000}),
    )
}

/// Asks for `send_email` in session `session` with `key`: the approval's
/// id and resume token.
async fn ask(dev: &DevServer, key: &str, session: &str) -> (String, String) {
    let (status, body, _) = post(
        &dev.url(),
        "/v1/govern",
        key,
        &[("X-TapPass-Session-Id", session)],
        &email(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "needs_approval", "{body}");
    let approval = &body["approval"];
    (
        approval["request_id"].as_str().unwrap().to_owned(),
        approval["resume_token"].as_str().unwrap().to_owned(),
    )
}

/// Sends `send_email` again from `session` with `key`, with `token` if any:
/// the outcome (`allow`, `needs_approval`, …) or the refusal's `decision`.
async fn again(dev: &DevServer, key: &str, session: &str, token: Option<&str>) -> String {
    let mut headers = vec![("X-TapPass-Session-Id", session)];
    if let Some(token) = token {
        headers.push(("X-TapPass-Resume-Token", token));
    }
    let (status, body, _) = post(&dev.url(), "/v1/govern", key, &headers, &email()).await;
    match status.as_u16() {
        200 => body["outcome"].as_str().unwrap().to_owned(),
        _ => body["decision"].as_str().unwrap_or("?").to_owned(),
    }
}

/// An approval lets the request it was asked for through once: with its
/// token, or by the identical re-submission in its session. Replayed twenty
/// times after that, it lets nothing through, and a second use of the
/// token is refused with a code that says so.
#[tokio::test]
async fn an_approval_lets_one_request_through_once() {
    let dev = DevServer::start().await.unwrap();
    let (id, token) = ask(&dev, "tp_alice", "ses_alice").await;
    assert!(dev.approve(&id));
    assert_eq!(
        again(&dev, "tp_alice", "ses_alice", Some(&token)).await,
        "allow"
    );
    for _ in 0..20 {
        assert_eq!(
            again(&dev, "tp_alice", "ses_alice", Some(&token)).await,
            "resume_token_used"
        );
    }
    // Without the token, the identical request asks a human again.
    let asked = again(&dev, "tp_alice", "ses_alice", None).await;
    assert_eq!(asked, "needs_approval");
    let row = dev.approval(&id).unwrap();
    assert!(row.used_at.is_some());
    assert_eq!(dev.pending_approvals().len(), 1, "a new approval was asked");

    // The Python SDK's way: re-submit the identical call, no token.
    let (id, _) = ask(&dev, "tp_alice", "ses_python").await;
    assert_eq!(
        again(&dev, "tp_alice", "ses_python", None).await,
        "needs_approval"
    );
    assert!(dev.approve(&id));
    assert_eq!(again(&dev, "tp_alice", "ses_python", None).await, "allow");
    assert_eq!(
        again(&dev, "tp_alice", "ses_python", None).await,
        "needs_approval"
    );
}

/// Alice's approved wire transfer does not go through for anyone else:
/// not for Bob in his session, not for Bob claiming Alice's agent and
/// session with his own key, not for Alice in a new session; with or
/// without her token. Alice's own resumption still works afterwards.
#[tokio::test]
async fn an_approval_crosses_no_session_and_no_api_key() {
    let dev = DevServer::start().await.unwrap();
    let (id, token) = ask(&dev, "tp_alice", "ses_alice").await;
    let alice_agent = dev.approval(&id).map(|_| ()).and_then(|_| {
        dev.events()
            .into_iter()
            .find(|e| e["session_id"] == "ses_alice")
            .and_then(|e| e["agent_id"].as_str().map(str::to_owned))
    });
    assert!(dev.approve(&id));
    // Bob's requests are his own (his agent): Alice's token approves none
    // of them, and each asks a human.
    for session in ["ses_bob", "ses_alice"] {
        for token in [Some(token.as_str()), None] {
            assert_eq!(
                again(&dev, "tp_bob", session, token).await,
                "needs_approval",
                "bob in {session} with {token:?}"
            );
        }
    }
    // Alice's very request in another session: her token says where it belongs.
    assert_eq!(
        again(&dev, "tp_alice", "ses_new", Some(&token)).await,
        "resume_token_elsewhere"
    );
    assert_eq!(
        again(&dev, "tp_alice", "ses_new", None).await,
        "needs_approval"
    );
    // Bob claiming Alice's agent UUID in a header changes nothing.
    if let Some(agent) = alice_agent {
        let headers = [
            ("X-TapPass-Session-Id", "ses_alice"),
            ("X-TapPass-Agent-Uuid", agent.as_str()),
            ("X-TapPass-Resume-Token", token.as_str()),
        ];
        let (status, body, _) = post(&dev.url(), "/v1/govern", "tp_bob", &headers, &email()).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["decision"], "resume_token_elsewhere", "{body}");
    }
    assert_eq!(
        again(&dev, "tp_alice", "ses_alice", Some(&token)).await,
        "allow"
    );
}

/// A resumed chat through a governed service, with `Agent::resume`: the
/// call runs in the session the approval was asked in, with its token, and
/// the decision is recorded there.
#[tokio::test]
async fn agent_resume_resumes_in_the_approvals_session() {
    let dev = DevServer::start().await.unwrap();
    let agent = tappass::Agent::new(dev.url(), "tp_resume").unwrap();
    let session = tappass::Session::builder("ses_resume").build().unwrap();
    let args = json!({"to": "cfo@example.com"});
    let err = tappass::session::scope(session, agent.govern_tool("send_email", args.clone()))
        .await
        .expect_err("an approval is needed");
    let Some(tappass::GovernanceDecision::ApprovalRequired(approval)) = err.decision() else {
        panic!("{err:?}");
    };
    let id = approval.request_id.clone().unwrap();
    assert!(dev.approve(&id));
    // Outside any session: resume puts the call back in the approval's.
    let verdict = agent
        .resume(approval, agent.govern_tool("send_email", args.clone()))
        .await
        .expect("approved");
    assert_eq!(verdict.raw["approval"]["resumed_by_token"], true);
    let recorded: Vec<Value> = dev
        .events_for_session("ses_resume")
        .into_iter()
        .filter(|e| e["event_type"] == "tool_call")
        .collect();
    assert_eq!(recorded.len(), 2, "asked and resumed in one session");
    // Used up: the same resumption again is refused.
    let err = agent
        .resume(approval, agent.govern_tool("send_email", args))
        .await
        .expect_err("used");
    assert_eq!(
        err.decision().map(|d| d.code().to_owned()).as_deref(),
        Some("resume_token_used"),
        "{err:?}"
    );
}
