//! Fault injection through the layer: the sample service behind
//! `TapPassLayer`, served on a real socket, whose handler calls a TapPass
//! stand-in that
//! misbehaves in every way we could think of. The service must fail closed
//! with the documented status, never panic, never hang, and never show the
//! API key or internal details to its client or in its logs.

use std::future::IntoFuture as _;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tappass::{Agent, Error};
use tappass_dev::{DevServer, Policy};

use crate::support::recorders::{capture_logs, record_retries};
use crate::support::services::{serve_sample, Served};
use crate::support::sockets::{BlackHole, Refusing};
use crate::support::stand_in::{chat_answer, event, Reply, TapPass};
use crate::support::{bounded, CHAT, KEY};

const MS: Duration = Duration::from_millis(1);

fn agent(tappass: &str, timeout: Duration, max_retries: u32) -> Agent {
    Agent::builder(tappass)
        .api_key(KEY)
        .timeout(timeout)
        .max_retries(max_retries)
        .retry_base_delay(10 * MS)
        .build()
        .expect("agent")
}

/// The sample service behind a layer with `agent`: its `/hi` chats and
/// `/hi/stream` streams `hi`, relaying the answer as text.
async fn serve(agent: Agent) -> Served {
    serve_sample(agent, false).await
}

/// Calls the service's `path`; the status and the whole body.
async fn call(app: &Served, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", app.url()))
        .send()
        .await
        .expect("the service answered");
    let status = response.status().as_u16();
    let body = response.text().await.expect("a whole body");
    (status, body)
}

/// Asserts the documented failure: its status and `error` code, and a body
/// free of the key and of anything about the control plane's internals.
fn assert_failure(status: u16, body: &str, want_status: u16, want_code: &str, tappass: &str) {
    assert_eq!(status, want_status, "{body}");
    let json: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(json["error"], want_code, "{body}");
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_clean(body, tappass);
}

fn assert_clean(text: &str, tappass: &str) {
    let host = tappass.trim_start_matches("http://");
    for secret in [
        KEY,
        "SECRET",
        "Bearer",
        host,
        "/v1/chat",
        "/health",
        "os error",
        "scripted",
        "0.5.9",
        "expected value",
    ] {
        assert!(!text.contains(secret), "`{secret}` leaked into: {text}");
    }
}

#[tokio::test]
async fn tappass_down_is_503_unavailable() {
    bounded(async {
        let refusing = Refusing::start();
        let tappass = refusing.url();
        let app = serve(agent(tappass, Duration::from_secs(2), 1)).await;
        let (status, body) = call(&app, "/hi").await;
        assert_failure(status, &body, 503, "governance_unavailable", tappass);
        let (status, body) = call(&app, "/hi/stream").await;
        assert_failure(status, &body, 503, "governance_unavailable", tappass);
    })
    .await
}

#[tokio::test]
async fn tappass_accepting_and_hanging_is_503_within_the_timeout() {
    bounded(async {
        let (retries, _guard) = record_retries();
        let hole = BlackHole::start().await;
        let app = serve(agent(hole.url(), 300 * MS, 1)).await;
        let started = Instant::now();
        let (status, body) = call(&app, "/hi").await;
        let elapsed = started.elapsed();
        assert_failure(status, &body, 503, "governance_unavailable", hole.url());
        // Two attempts of the version check, each timed out, one retry
        // between them; then the call gave up.
        let retried: Vec<_> = retries
            .all()
            .into_iter()
            .map(|r| (r.path, r.attempt))
            .collect();
        assert_eq!(retried, [("/health".to_owned(), 0)]);
        // A hang guard: two attempts of 300 ms and a short backoff.
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    })
    .await
}

#[tokio::test]
async fn tappass_hanging_after_the_version_check_is_503_within_the_timeout() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.always(CHAT, Reply::hang());
        let app = serve(agent(tappass.url(), 300 * MS, 0)).await;
        let started = Instant::now();
        let (status, body) = call(&app, "/hi").await;
        assert_failure(status, &body, 503, "governance_unavailable", tappass.url());
        assert!(started.elapsed() < Duration::from_secs(2));
    })
    .await
}

#[tokio::test]
async fn tappass_5xx_then_recovery_is_200() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass
            .push(CHAT, Reply::status(503))
            .push(CHAT, Reply::status(502))
            .push(CHAT, Reply::ok(chat_answer("recovered")));
        let app = serve(agent(tappass.url(), Duration::from_secs(2), 2)).await;
        let (status, body) = call(&app, "/hi").await;
        assert_eq!((status, body.as_str()), (200, "recovered"));
        assert_eq!(tappass.hits(CHAT), 3);
    })
    .await
}

#[tokio::test]
async fn tappass_5xx_forever_is_503_after_max_retries_plus_one_attempts() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.always(CHAT, Reply::status(503));
        let app = serve(agent(tappass.url(), Duration::from_secs(2), 3)).await;
        let (status, body) = call(&app, "/hi").await;
        assert_failure(status, &body, 503, "governance_unavailable", tappass.url());
        assert_eq!(tappass.hits(CHAT), 4);
    })
    .await
}

#[tokio::test]
async fn non_json_and_truncated_json_answers_are_502() {
    bounded(async {
        let tappass = TapPass::start().await;
        let full = chat_answer("never whole").to_string();
        tappass
            .push(CHAT, Reply::raw(200, "<html>gateway says hi</html>"))
            .push(
                CHAT,
                Reply::raw(200, full[..full.len() / 2].to_owned())
                    .header("content-type", "application/json"),
            )
            .push(CHAT, Reply::ok(json!(["not", "an", "object"])));
        let app = serve(agent(tappass.url(), Duration::from_secs(2), 2)).await;
        for _ in 0..3 {
            let (status, body) = call(&app, "/hi").await;
            assert_failure(
                status,
                &body,
                502,
                "governance_protocol_error",
                tappass.url(),
            );
            assert!(!body.contains("gateway says hi"), "{body}");
        }
        assert_eq!(tappass.hits(CHAT), 3, "protocol errors are not retried");
    })
    .await
}

#[tokio::test]
async fn a_100_mb_answer_is_502_and_not_read_to_the_end() {
    bounded(async {
        const TOTAL: usize = 100 * 1024 * 1024;
        let tappass = TapPass::start().await;
        tappass.push(CHAT, Reply::huge(TOTAL));
        let agent = Agent::builder(tappass.url())
            .api_key(KEY)
            .max_retries(0)
            .max_response_bytes(1024 * 1024)
            .build()
            .unwrap();
        let app = serve(agent).await;
        let (status, body) = call(&app, "/hi").await;
        assert_failure(
            status,
            &body,
            502,
            "governance_protocol_error",
            tappass.url(),
        );
        // The client hung up after 1 MiB; what the server got rid of by the
        // time it dropped the body is that plus what the sockets' buffers took.
        tappass.huge_ended().await;
        let sent = tappass.huge_sent();
        assert!(sent > 1024 * 1024, "the stand-in sent {sent} bytes");
        assert!(sent < TOTAL / 4, "the client read {sent} of {TOTAL} bytes");
    })
    .await
}

#[tokio::test]
async fn an_old_tappass_is_500_misconfigured() {
    bounded(async {
        let tappass = TapPass::with_version(Some("0.5.9")).await;
        let app = serve(agent(tappass.url(), Duration::from_secs(2), 2)).await;
        let (status, body) = call(&app, "/hi").await;
        assert_failure(
            status,
            &body,
            500,
            "governance_misconfigured",
            tappass.url(),
        );
        assert_eq!(tappass.hits(CHAT), 0);
    })
    .await
}

#[tokio::test]
async fn a_refused_key_is_500_misconfigured() {
    bounded(async {
        let (retries, _guard) = record_retries();
        // The dev server refuses any key that is not an agent key (`tp_…`).
        let dev = DevServer::start().await.expect("dev server");
        let agent = Agent::builder(dev.url())
            .api_key("sk_SECRET_not_an_agent_key")
            .max_retries(2)
            .retry_base_delay(10 * MS)
            .build()
            .expect("agent");
        let app = serve(agent).await;
        let (status, body) = call(&app, "/hi").await;
        assert_failure(status, &body, 500, "governance_misconfigured", &dev.url());
        assert_eq!(retries.all(), [], "a refused key is not retried");
    })
    .await
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_the_clients_body_without_hanging() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "one"})),
                event(json!({"content": "two"})),
            ])
            .cut(),
        );
        let app = serve(agent(tappass.url(), Duration::from_secs(2), 0)).await;
        let mut response = reqwest::Client::new()
            .post(format!("{}/hi/stream", app.url()))
            .send()
            .await
            .expect("the stream starts");
        assert_eq!(response.status().as_u16(), 200);
        let mut text = Vec::new();
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match response.chunk().await {
                    Ok(Some(bytes)) => text.extend_from_slice(&bytes),
                    Ok(None) => return Ok(()),
                    Err(err) => return Err(err),
                }
            }
        })
        .await
        .expect("the client's body ended");
        assert_eq!(String::from_utf8_lossy(&text), "onetwo");
        // The relay fails the body, so the client cannot take the cut answer
        // for a whole one.
        assert!(end.is_err(), "the cut stream looked complete");
    })
    .await
}

#[tokio::test]
async fn a_decision_before_a_stream_is_its_http_mapping() {
    bounded(async {
        // The service streams "hi": a policy that blocks it.
        let policy = Policy::from_toml(
            r#"
            [[rule]]
            name = "no_greetings"
            match.prompt_contains = "hi"
            decision = "policy_block"
            blocked_by = "detect_pii"
            reason = "PII in prompt"
            "#,
        )
        .expect("policy");
        let dev = DevServer::builder().policy(policy).start().await.unwrap();
        let app = serve(agent(&dev.url(), Duration::from_secs(2), 2)).await;
        let (status, body) = call(&app, "/hi/stream").await;
        assert_eq!(status, 403, "{body}");
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], "policy_block");
        assert_eq!(json["blocked_by"], "detect_pii");
        assert_eq!(json["reason"], "PII in prompt");
        // A decision carries the server's own audit link, and nothing secret.
        let audit = json["audit_url"].as_str().expect("an audit url");
        assert!(audit.starts_with(&dev.url()), "{audit}");
        for secret in [KEY, "SECRET", "Bearer", "/v1/chat"] {
            assert!(!body.contains(secret), "`{secret}` leaked into: {body}");
        }
    })
    .await
}

/// Every kind of failure once, with the logs of the whole run captured (the
/// test runs on one thread, so the service, the stand-in and the agent all
/// log into the capture): the key appears in no log line and no body, even
/// when the control plane echoes it back.
#[tokio::test(flavor = "current_thread")]
async fn logs_and_bodies_never_contain_the_key() {
    let (logs, _guard) = capture_logs();
    bounded(async {
        let echo = json!({"message": format!("you sent Bearer {KEY}")});
        let tappass = TapPass::start().await;
        tappass
            .push(CHAT, Reply::json(401, echo.clone()))
            .push(CHAT, Reply::json(400, echo.clone()))
            .push(CHAT, Reply::json(500, echo.clone()))
            .push(CHAT, Reply::json(503, echo.clone()))
            .push(CHAT, Reply::raw(200, format!("not json {KEY}")))
            .push(
                CHAT,
                Reply::json(
                    403,
                    json!({"decision": "policy_block", "blocked_by": "detect_secrets",
                           "reason": format!("the prompt held {KEY}")}),
                ),
            )
            .push(CHAT, Reply::hang())
            .push(CHAT, Reply::sse([event(json!({"content": "x"}))]).cut());
        let app = serve(agent(tappass.url(), 300 * MS, 0)).await;
        let mut statuses = Vec::new();
        for _ in 0..7 {
            let (status, body) = call(&app, "/hi").await;
            assert_clean(&body, tappass.url());
            statuses.push(status);
        }
        assert_eq!(statuses, [500, 502, 503, 503, 502, 403, 503]);
        let response = reqwest::Client::new()
            .post(format!("{}/hi/stream", app.url()))
            .send()
            .await
            .unwrap();
        // The stream is cut mid-way: its body ends with an error or early,
        // within the hang guard; what matters is the logs and bodies below.
        let body = tokio::time::timeout(Duration::from_secs(5), response.bytes())
            .await
            .expect("the cut stream ends");
        if let Ok(bytes) = &body {
            assert_clean(&String::from_utf8_lossy(bytes), tappass.url());
        }

        let refusing = Refusing::start();
        let down = serve(agent(refusing.url(), 300 * MS, 1)).await;
        let (status, body) = call(&down, "/hi").await;
        assert_eq!(status, 503);
        assert_clean(&body, tappass.url());
    })
    .await;
    let text = logs.text();
    assert!(
        text.contains("governance_unavailable") && text.contains("TapPass decision"),
        "the logs were not captured: {text}"
    );
    assert!(!text.contains(KEY), "the logs leak the API key:\n{text}");
    assert!(
        !text.contains("SECRET"),
        "the logs leak the API key:\n{text}"
    );
}

// ---- a dead control plane does not make concurrent first calls queue -------

/// Sends `n` requests to the service at once; every status and body, and how
/// long they took together.
async fn call_concurrently(app: &Served, path: &str, n: usize) -> (Vec<(u16, String)>, Duration) {
    let started = Instant::now();
    let calls = (0..n).map(|_| call(app, path));
    let answers = futures_util::future::join_all(calls).await;
    (answers, started.elapsed())
}

/// One call's retry budget against a refused port is its backoff delays:
/// with two retries from a 200 ms base, at most 200 + 400 ms. Fifty calls
/// queueing behind one another's version checks would take 50 times that;
/// sharing one check, they all fail together. The bound is generous (a loaded
/// 2-core machine): a quarter of what 50 queued budgets would take.
#[tokio::test]
async fn fifty_concurrent_first_calls_against_a_refused_port_all_fail_within_one_budget() {
    bounded(async {
        let refusing = Refusing::start();
        let agent = Agent::builder(refusing.url())
            .api_key(KEY)
            .max_retries(2)
            .retry_base_delay(200 * MS)
            .build()
            .expect("agent");
        let app = serve(agent).await;
        let budget = 600 * MS;
        let (answers, took) = call_concurrently(&app, "/hi", 50).await;
        eprintln!("50 concurrent first calls: {took:?} (one budget {budget:?})");
        assert_eq!(answers.len(), 50);
        for (status, body) in &answers {
            assert_failure(*status, body, 503, "governance_unavailable", refusing.url());
        }
        assert!(
            took < 50 * budget / 4,
            "50 concurrent first calls took {took:?}: they queued (one budget is {budget:?}, 50 would be {:?})",
            50 * budget
        );
    })
    .await
}

/// Against a server that accepts and never answers, one call's budget is two
/// attempts of 300 ms and a short backoff.
#[tokio::test]
async fn fifty_concurrent_first_calls_against_a_hanging_server_all_fail_within_one_budget() {
    bounded(async {
        let hole = BlackHole::start().await;
        let app = serve(agent(hole.url(), 300 * MS, 1)).await;
        let budget = 2 * 300 * MS + 20 * MS;
        let (answers, took) = call_concurrently(&app, "/hi", 50).await;
        eprintln!("50 concurrent first calls: {took:?} (one budget {budget:?})");
        assert_eq!(answers.len(), 50);
        for (status, body) in &answers {
            assert_failure(*status, body, 503, "governance_unavailable", hole.url());
        }
        assert!(
            took < 50 * budget / 4,
            "50 concurrent first calls took {took:?}: they queued (one budget is {budget:?}, 50 would be {:?})",
            50 * budget
        );
    })
    .await
}

/// The same without the layer: every caller gets `Error::Unavailable`, and a
/// call after the shared check failed tries again (and can succeed).
#[tokio::test]
async fn concurrent_first_calls_share_one_failed_check_and_the_next_call_checks_again() {
    bounded(async {
        let hole = BlackHole::start().await;
        let agent = agent(hole.url(), 300 * MS, 0);
        let started = Instant::now();
        let results =
            futures_util::future::join_all((0..50).map(|_| agent.chat("hi").into_future())).await;
        let took = started.elapsed();
        for result in results {
            let err = result.expect_err("a hanging server cannot answer");
            assert!(err.is_unavailable(), "{err:?}");
        }
        assert!(took < 50 * 300 * MS / 4, "took {took:?}: the calls queued");

        let tappass = TapPass::start().await;
        tappass.push(CHAT, Reply::ok(chat_answer("checked again")));
        let agent = Agent::builder(tappass.url())
            .api_key(KEY)
            .max_retries(0)
            .build()
            .expect("agent");
        tappass.push("/health", Reply::status(503));
        let failed =
            futures_util::future::join_all((0..10).map(|_| agent.chat("hi").into_future())).await;
        assert_eq!(failed.len(), 10);
        assert!(
            failed
                .iter()
                .all(|r| r.as_ref().is_err_and(Error::is_unavailable)),
            "{failed:?}"
        );
        assert_eq!(
            tappass.hits("/health"),
            1,
            "ten concurrent calls share one check"
        );
        let answer = agent.chat("hi").await.expect("the next call checks again");
        assert_eq!(answer.content, "checked again");
        assert_eq!(tappass.hits("/health"), 2);
        assert_eq!(agent.server_version(), Some("0.6.3"));
    })
    .await
}

// ---- 429 is never an ungoverned call ----------------------------------------

/// A fail-open service whose control plane says "slow down" answers 503 with
/// the server's `Retry-After`: the handler never runs ungoverned.
#[tokio::test]
async fn a_429_through_a_fail_open_service_is_503_with_retry_after_not_an_ungoverned_call() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.always(CHAT, Reply::status(429).header("retry-after", "0"));
        let agent = Agent::builder(tappass.url())
            .api_key(KEY)
            .max_retries(1)
            .retry_base_delay(10 * MS)
            .fail_open(true)
            .build()
            .expect("agent");
        let app = serve(agent).await;
        let response = reqwest::Client::new()
            .post(format!("{}/hi", app.url()))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            Some("0")
        );
        let body = response.text().await.expect("body");
        assert_failure(503, &body, 503, "governance_unavailable", tappass.url());
        assert_eq!(tappass.hits(CHAT), 2, "429 is retried, then fails closed");
    })
    .await
}
