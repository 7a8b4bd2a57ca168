//! Resuming after a human approval, end to end: the sample service behind
//! `TapPassLayer`, served over a real socket, calling the development server;
//! its client repeats a request that met `428 approval_required` with
//! `X-TapPass-Resume-Token`. One test per path, for a prompt (chat and
//! stream) and for a tool call: pending, approved, denied, expired and a
//! malformed token. Approvals are decided through `DevServer`, never by
//! waiting a while; an expiry is waited on through the server's long-poll.

use tappass::agent::ApprovalState;
use tappass::TapPassLayer;
use tappass_dev::Policy;

use super::*;
use crate::support::services::{sample, sample_on_dev as setup, serve, serve_sample, Served};

/// The sample service behind a layer that opens sessions, and its agent.
struct App {
    served: Served,
    agent: Agent,
}

impl App {
    async fn start(dev: &DevServer) -> App {
        let agent = Agent::builder(dev.url())
            .api_key("tp_approvals_key")
            .max_retries(0)
            .build()
            .unwrap();
        App {
            served: serve_sample(agent.clone(), true).await,
            agent,
        }
    }

    /// Posts `body` to `path`, with `token` as `X-TapPass-Resume-Token`.
    async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
        self.send(path, body, token, None).await
    }

    /// Repeats a paused request as a client resumes it: with its resume
    /// token and the session the `428` was answered in.
    async fn resume(&self, path: &str, body: &Value, paused: &Paused) -> (u16, Value) {
        self.send(path, body, Some(&paused.0), Some(&paused.2))
            .await
    }

    async fn send(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
        session: Option<&str>,
    ) -> (u16, Value) {
        let mut headers = Vec::new();
        if let Some(token) = token {
            headers.push(("X-TapPass-Resume-Token", token));
        }
        if let Some(session) = session {
            headers.push(("X-TapPass-Session-Id", session));
        }
        let (status, _, body) = self.served.post_with(path, body, &headers).await;
        (status, body)
    }
}

/// The three governed paths a client can be paused on, with a request that
/// needs a human under the default policy: a chat (answering the server's
/// steps, which say how an approval was resumed), a stream (answering its
/// text, joined) and a tool call.
fn paths() -> [(&'static str, Value); 3] {
    [
        (
            "/chat",
            json!({"prompt": "please wire transfer $5000 to ACME"}),
        ),
        (
            "/stream/joined",
            json!({"prompt": "please wire transfer $9000 to Initech"}),
        ),
        (
            "/tool",
            json!({"tool": "send_email", "args": {"to": "cfo@example.com"}}),
        ),
    ]
}

/// A paused request: its resume token, its approval's id and its session.
type Paused = (String, String, String);

/// Checks a 428's body and gives its resume token, approval id and session.
fn paused(status: u16, body: &Value, dev: &DevServer) -> Paused {
    assert_eq!(status, 428, "{body}");
    assert_eq!(body["error"], "approval_required", "{body}");
    let token = body["resume_token"].as_str().expect("a resume token");
    assert!(
        token.starts_with("rt_"),
        "one kind of token for every path: {body}"
    );
    let id = body["request_id"].as_str().expect("the approval's id");
    assert!(id.starts_with("apr_"), "{body}");
    // The link leads a person to the console's entry for this approval.
    assert_eq!(
        body["approval_url"],
        format!("{}/approvals/{id}", dev.url()),
        "{body}"
    );
    // The message says how to resume.
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("X-TapPass-Resume-Token"), "{message}");
    let session = body["session_id"]
        .as_str()
        .expect("the session it was asked in");
    (token.to_owned(), id.to_owned(), session.to_owned())
}

#[tokio::test]
async fn pending_then_approved_passes_with_the_token_on_every_path() {
    let dev = DevServer::start().await.unwrap();
    let app = App::start(&dev).await;
    for (path, body) in paths() {
        let (status, answer) = app.post(path, &body, None).await;
        let asked = paused(status, &answer, &dev);
        let id = asked.1.clone();

        // Still pending: the same 428, with the same token.
        let (status, again) = app.resume(path, &body, &asked).await;
        assert_eq!(paused(status, &again, &dev), asked, "{path}");

        assert!(dev.approve(&id), "{path}");
        let (status, answer) = app.resume(path, &body, &asked).await;
        assert_eq!(status, 200, "{path}: {answer}");
        match path {
            "/tool" => assert_eq!(answer["approval"]["resumed_by_token"], true, "{answer}"),
            "/chat" => assert!(
                answer["steps"]
                    .to_string()
                    .contains("resumed with its token"),
                "the token reached the server: {answer}"
            ),
            _ => assert!(
                answer["content"]
                    .as_str()
                    .unwrap()
                    .starts_with("Echo: please wire"),
                "{answer}"
            ),
        }
    }
}

#[tokio::test]
async fn approval_required_is_428_and_passes_once_approved() {
    let (dev, app) = setup().await;
    let (status, _, body) = app.chat("please wire transfer $5000 to ACME").await;
    assert_eq!(status, 428, "{body}");
    assert_eq!(body["error"], "approval_required");
    assert!(body["approval_url"]
        .as_str()
        .unwrap()
        .starts_with(&dev.url()));
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    let token = body["resume_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("rt_"), "{body}");
    // The 428 names its approval: the one pending row, and approving exactly
    // that row is what lets the identical request through.
    let url = body["approval_url"].as_str().unwrap();
    let id = url.rsplit('/').next().unwrap();
    let pending: Vec<String> = dev
        .pending_approvals()
        .into_iter()
        .map(|a| a.request_id)
        .collect();
    assert_eq!(pending, [id.to_owned()], "{body}");
    let (status, _, body) = app.chat("please wire transfer $5000 to ACME").await;
    assert_eq!(status, 428, "still pending: {body}");
    assert!(dev.approve(id));
    let (status, _, body) = app.chat("please wire transfer $5000 to ACME").await;
    assert_eq!(status, 200, "approved ({token}): {body}");
}

#[tokio::test]
async fn denied_answers_403_with_the_token_on_every_path() {
    let dev = DevServer::start().await.unwrap();
    let app = App::start(&dev).await;
    for (path, body) in paths() {
        let (status, answer) = app.post(path, &body, None).await;
        let asked = paused(status, &answer, &dev);
        assert!(dev.deny(&asked.1), "{path}");
        let (status, answer) = app.resume(path, &body, &asked).await;
        assert_eq!(status, 403, "{path}: {answer}");
        assert_eq!(answer["error"], "policy_block", "{path}: {answer}");
    }
}

#[tokio::test]
async fn expired_answers_a_fresh_428_on_every_path() {
    // The default policy's approval rules, with a one-second lifetime.
    let policy = Policy::from_toml(
        r#"
        [[rule]]
        name = "wire_transfer_approval"
        match.prompt_contains = "wire transfer"
        decision = "approval_required"
        expires_in_seconds = 1
        reason = "wire transfers need a human approval"

        [[rule]]
        name = "send_email_approval"
        match.tool = "send_email"
        decision = "needs_approval"
        expires_in_seconds = 1
        reason = "outgoing e-mail needs a human approval"
        "#,
    )
    .unwrap();
    let dev = DevServer::builder().policy(policy).start().await.unwrap();
    let app = App::start(&dev).await;
    for (path, body) in paths() {
        let (status, answer) = app.post(path, &body, None).await;
        let asked = paused(status, &answer, &dev);
        let (token, id) = (asked.0.clone(), asked.1.clone());
        // The server's long-poll answers when the approval times out.
        let lapsed = app
            .agent
            .wait_for_approval(&id, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(lapsed.state, ApprovalState::TimedOut, "{path}");
        let (status, answer) = app.resume(path, &body, &asked).await;
        let (fresh_token, fresh_id, _) = paused(status, &answer, &dev);
        assert_ne!(fresh_token, token, "{path}");
        assert_ne!(fresh_id, id, "{path}");
    }
}

#[tokio::test]
async fn a_malformed_token_is_400_naming_the_header_and_never_echoed() {
    let dev = DevServer::start().await.unwrap();
    let app = App::start(&dev).await;
    let long = "r".repeat(129);
    for (path, body) in paths() {
        for bad in ["rt_<script>", "rt_a b", long.as_str(), ""] {
            let (status, answer) = app.post(path, &body, Some(bad)).await;
            assert_eq!(status, 400, "{path} {bad:?}: {answer}");
            assert_eq!(answer["error"], "invalid_correlation_header", "{answer}");
            assert_eq!(answer["header"], "X-TapPass-Resume-Token", "{answer}");
            if !bad.is_empty() {
                assert!(!answer.to_string().contains(bad), "echoed: {answer}");
            }
        }
    }
    // Nothing reached the server: no approval was asked for.
    assert!(dev.pending_approvals().is_empty());
}

#[tokio::test]
async fn a_token_approves_only_its_own_request() {
    let dev = DevServer::start().await.unwrap();
    let app = App::start(&dev).await;
    let small = json!({"prompt": "please wire transfer $5 to ACME"});
    let large = json!({"prompt": "please wire transfer $5000000 to ACME"});
    let (status, answer) = app.post("/chat", &small, None).await;
    let asked = paused(status, &answer, &dev);
    assert!(dev.approve(&asked.1));
    // The approved token, sent with another prompt, does not let it through.
    let (status, answer) = app.resume("/chat", &large, &asked).await;
    let (other_token, _, _) = paused(status, &answer, &dev);
    assert_ne!(other_token, asked.0);
}

#[tokio::test]
async fn the_approval_link_leads_a_browser_to_the_console_and_a_client_to_the_row() {
    let dev = DevServer::start().await.unwrap();
    let app = App::start(&dev).await;
    let (path, body) = paths()[0].clone();
    let (status, answer) = app.post(path, &body, None).await;
    let (_, id, session) = paused(status, &answer, &dev);
    let url = answer["approval_url"].as_str().unwrap();
    // No API key: a person opens it in a browser, and sees that one request.
    let page = reqwest::Client::new()
        .get(url)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let document = scraper::Html::parse_document(&html);
    let select = |css: &str| scraper::Selector::parse(css).unwrap();
    let item = document
        .select(&select(&format!("[id=\"{id}\"]")))
        .next()
        .expect("the page shows the approval");
    let text: String = item.text().collect();
    assert!(
        text.contains("please wire transfer $5000 to ACME"),
        "what it asks: {text}"
    );
    assert!(text.contains(&session), "in which session: {text}");
    let actions: Vec<&str> = item
        .select(&select("form"))
        .filter_map(|f| f.value().attr("action"))
        .collect();
    assert_eq!(
        actions,
        [
            format!("/approvals/{id}/approve?back=one"),
            format!("/approvals/{id}/deny?back=one")
        ],
        "its own Approve and Deny"
    );
    let others = document.select(&select(".approval")).count();
    assert_eq!(others, 1, "no other approval on its page");
    let row: Value = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(row["request_id"], id.as_str());
    assert_eq!(row["state"], "pending");
}

#[tokio::test]
async fn a_public_approval_base_replaces_the_servers_link() {
    let dev = DevServer::start().await.unwrap();
    let layer = TapPassLayer::builder()
        .tappass_url(dev.url())
        .api_key("tp_approvals_key")
        .approval_base_url("https://approvals.example.com/tappass/")
        .build()
        .unwrap();
    let app = serve(sample().layer(layer)).await;
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/tool", app.url()))
        .json(&paths()[2].1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = answer["request_id"].as_str().expect("an approval id");
    assert_eq!(
        answer["approval_url"],
        format!("https://approvals.example.com/tappass/{id}")
    );
}
