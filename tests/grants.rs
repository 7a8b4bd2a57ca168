//! Grants that mean what they say, against the development server over real
//! sockets, as an attacker would try them: a tool named into a wildcard, an
//! approval replayed across sessions, API keys and uses, a page of another
//! site driving the console (DNS rebinding, cross-origin requests), an
//! idempotent replay in another session, and a dot segment as an id.

use proptest::prelude::*;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tappass::mandate::Capability;
use tappass::GovernanceError as _;
use tappass_dev::{DevServer, Policy};

async fn server(policy: Policy) -> DevServer {
    DevServer::builder()
        .policy(policy)
        .start()
        .await
        .expect("the dev server starts")
}

/// `POST {url}{path}` with the API key `key` and `headers`: status, body, headers.
async fn post(
    url: &str,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(key)
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the dev server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

fn behaviour(tool: &str, args: Value) -> Value {
    json!({"type": "TOOL_CALL", "agent_id": "", "session_id": "", "org_id": null,
           "behavior_id": "0123456789abcdef0123456789abcdef",
           "payload": {"tool": tool, "args": args, "server": null}})
}

// ---- tool names and the mandates they get -------------------------------------

/// A tool named `*` (or `send_email:*`, or anything a capability would read
/// as syntax) is refused with a 400 that says why, and gets no mandate: with
/// the default policy, `*` would otherwise fall through to the default allow
/// and be granted `tool:call:*`, a mandate for every tool.
#[tokio::test]
async fn a_tool_named_into_a_wildcard_is_refused_and_gets_no_mandate() {
    let dev = DevServer::start().await.unwrap();
    for (tool, says) in [
        ("*", "wildcard"),
        ("send_email:*", "wildcard"),
        ("send_email:x", "separator"),
        ("search:", "separator"),
        ("..", "not a tool name"),
        ("read file", "not a tool name"),
        ("tool\u{202e}name", "not a tool name"),
    ] {
        let (status, body, _) = post(
            &dev.url(),
            "/v1/govern",
            "tp_attacker",
            &[],
            &behaviour(tool, json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{tool:?}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{tool:?}: {message}");
        assert!(
            message.contains("[A-Za-z0-9_.-]"),
            "says what to send: {message}"
        );
    }
    assert!(dev.mandates().is_empty(), "no mandate was issued");
    // The agent gets the refusal as an error, never a verdict to act on.
    let agent = tappass::Agent::new(dev.url(), "tp_attacker").unwrap();
    assert!(agent.govern_tool("*", json!({})).await.is_err());
    assert!(dev.mandates().is_empty());
}

/// The characters a tool name is drawn from here: the allowed ones and
/// every one a capability, a URL or a terminal would read as something else.
fn tool_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[A-Za-z0-9_.-]{1,6}",
        1 => Just("*".to_owned()),
        1 => Just(":".to_owned()),
        1 => Just("/".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("%2A".to_owned()),
        1 => Just("é".to_owned()),
        1 => Just("".to_owned()),
    ];
    prop::collection::vec(piece, 1..5).prop_map(|p| p.concat())
}

/// Whether `name` is a tool name by the documented grammar.
fn is_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name != "."
        && name != ".."
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    /// For any tool name the dev server accepts, the mandate it issues
    /// grants exactly that tool and nothing else; every name it refuses is
    /// outside the grammar, and every name inside it is accepted.
    #[test]
    fn a_mandate_grants_exactly_the_tool_it_was_issued_for(name in tool_name(), other in "[a-z_]{1,12}") {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dev = server(Policy::allow_all()).await;
            let (status, body, _) =
                post(&dev.url(), "/v1/govern", "tp_prop", &[], &behaviour(&name, json!({}))).await;
            if !is_tool_name(&name) {
                prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{:?} accepted: {}", name, body);
                prop_assert!(dev.mandates().is_empty());
                return Ok(());
            }
            prop_assert_eq!(status, StatusCode::OK, "{:?} refused: {}", name, body);
            let issued = dev.mandates();
            prop_assert_eq!(issued.len(), 1);
            let exact = format!("tool:call:{name}");
            prop_assert_eq!(&issued[0].capabilities, &vec![exact.clone()]);
            let granted = Capability::new(exact.clone());
            prop_assert!(granted.grants(&exact));
            for required in [
                format!("tool:call:{other}x"),
                "tool:call:delete_database".to_owned(),
                format!("tool:call:{name}:more"),
                "tool:call:".to_owned(),
                "tool:call:*".to_owned(),
            ] {
                if required != exact {
                    prop_assert!(!granted.grants(&required), "{} grants {}", exact, required);
                }
            }
            Ok(())
        })?;
    }
}

// ---- approvals -------------------------------------------------------------------

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

// ---- the console and the routes that change state ----------------------------------

/// Every console page, the audit route and every state-changing API route,
/// sent with a rebound `Host`: refused with 403, and nothing of the approval
/// (its prompt, its arguments, the console's form token) in the answer.
#[tokio::test]
async fn a_rebound_host_reads_and_changes_nothing() {
    let dev = DevServer::start().await.unwrap();
    let (id, _) = ask(&dev, "tp_victim", "ses_victim").await;
    let mandate_id = {
        let agent = tappass::Agent::new(dev.url(), "tp_victim").unwrap();
        agent
            .govern_tool("search", json!({"q": "x"}))
            .await
            .unwrap();
        dev.mandates()[0].mandate_id.clone()
    };
    let port = dev.addr().port();
    let rebound = format!("evil.example:{port}");
    let client = Client::new();
    for path in [
        "/".to_owned(),
        "/approvals".to_owned(),
        format!("/approvals/{id}"),
        "/mandates".to_owned(),
        "/policy".to_owned(),
        "/v1/audit/sessions/ses_victim".to_owned(),
    ] {
        for accept in ["text/html", "application/json"] {
            let response = client
                .get(format!("{}{path}", dev.url()))
                .header("Host", &rebound)
                .header("Accept", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "GET {path} ({accept})");
            let text = response.text().await.unwrap();
            assert!(!text.contains("cfo@example.com"), "{path} leaked: {text}");
            assert!(
                !text.contains("name=\"token\""),
                "{path} leaked the form token"
            );
        }
    }
    for path in [
        format!("/v1/me/approvals/{id}/approve"),
        format!("/v1/me/approvals/{id}/deny"),
        format!("/v1/mandates/{mandate_id}/revoke"),
        format!("/approvals/{id}/approve"),
        format!("/mandates/{mandate_id}/revoke"),
    ] {
        let response = client
            .post(format!("{}{path}", dev.url()))
            .header("Host", &rebound)
            .bearer_auth("tp_rebound")
            .body("token=guess")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "POST {path}");
    }
    assert_eq!(dev.pending_approvals().len(), 1, "nothing was decided");
    assert!(
        dev.mandates().iter().all(|m| !m.revoked),
        "nothing was revoked"
    );
}

/// The state-changing API routes refuse what a browser marks as sent by
/// another site (`Origin`, `Sec-Fetch-Site`), and serve a client that is no
/// browser.
#[tokio::test]
async fn the_state_changing_routes_refuse_another_sites_requests() {
    let dev = DevServer::start().await.unwrap();
    let (id, _) = ask(&dev, "tp_victim", "ses_victim").await;
    let own = dev.url();
    for (name, value) in [
        ("Origin", "http://evil.example".to_owned()),
        ("Origin", "null".to_owned()),
        ("Sec-Fetch-Site", "cross-site".to_owned()),
        ("Sec-Fetch-Site", "same-site".to_owned()),
    ] {
        for verdict in ["approve", "deny"] {
            let (status, body, _) = post(
                &own,
                &format!("/v1/me/approvals/{id}/{verdict}"),
                "tp_any",
                &[(name, value.as_str())],
                &json!({}),
            )
            .await;
            assert_eq!(status, 403, "{name}: {value}: {body}");
            assert_eq!(body["error"], "cross_origin_request", "{body}");
        }
    }
    assert_eq!(dev.pending_approvals().len(), 1);
    // A client that is no browser, at the server's own address, decides.
    let (status, body, _) = post(
        &own,
        &format!("/v1/me/approvals/{id}/approve"),
        "tp_any",
        &[],
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

// ---- replays and ids ------------------------------------------------------------

/// An `Idempotency-Key` replays its answer only for the same request: the
/// same key and body from another session is refused (422), never answered
/// with the first session's decision and mandate.
#[tokio::test]
async fn an_idempotent_replay_stays_in_its_session() {
    let dev = server(Policy::allow_all()).await;
    let key = [("Idempotency-Key", "0f0e0d0c0b0a09080706050403020100")];
    let in_session = |session: &'static str| {
        let mut headers = key.to_vec();
        headers.push(("X-TapPass-Session-Id", session));
        headers
    };
    let body = behaviour("search", json!({"q": "rust"}));
    let (status, first, _) = post(
        &dev.url(),
        "/v1/govern",
        "tp_k",
        &in_session("ses_one"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let (status, replay, headers) = post(
        &dev.url(),
        "/v1/govern",
        "tp_k",
        &in_session("ses_one"),
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replay["mandate"], first["mandate"]);
    let (status, other, _) = post(
        &dev.url(),
        "/v1/govern",
        "tp_k",
        &in_session("ses_two"),
        &body,
    )
    .await;
    assert_eq!(status, 422, "{other}");
    assert_eq!(other["error"], "idempotency_key_reused", "{other}");
    assert!(other.get("mandate").is_none());
    assert_eq!(dev.mandates().len(), 1, "one decision, one mandate");
}

/// `.` and `..` are no ids: the dev server refuses them as a session, and
/// the audit links it writes hold each id as one path segment.
#[tokio::test]
async fn a_dot_segment_is_no_session_and_ids_stay_one_path_segment() {
    let dev = DevServer::start().await.unwrap();
    let chat = json!({"messages": [{"role": "user", "content": "hello"}]});
    for session in ["..", "."] {
        let (status, body, _) = post(
            &dev.url(),
            "/v1/chat/completions",
            "tp_dots",
            &[("X-TapPass-Session-Id", session)],
            &chat,
        )
        .await;
        assert_eq!(status, 400, "{session}: {body}");
        let mut in_body = chat.clone();
        in_body["metadata"] = json!({"session_id": session});
        let (status, body, _) =
            post(&dev.url(), "/v1/chat/completions", "tp_dots", &[], &in_body).await;
        assert_eq!(status, 400, "{session} in the body: {body}");
    }
    let (status, body, _) = post(
        &dev.url(),
        "/v1/chat/completions",
        "tp_dots",
        &[("X-TapPass-Session-Id", "ses.a:b")],
        &chat,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let audit = body["tappass"]["audit_url"].as_str().unwrap();
    assert_eq!(audit, format!("{}/v1/audit/sessions/ses.a:b", dev.url()));
    let listed: Value = Client::new()
        .get(audit)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["session_id"], "ses.a:b");
}
