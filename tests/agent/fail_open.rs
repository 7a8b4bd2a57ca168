//! Failing open: only an unreachable control plane, or a `5xx` without a
//! decision, is bypassed, marked as degraded and with a warning when calls
//! start being degraded; a decision, a refused key, a bad configuration, a
//! protocol violation, a stream and a `429` never are.

use super::*;
use support::services::{sample_agent, serve_sample};
use tappass::resilience::DegradedReason;

#[tokio::test]
async fn fail_open_lets_chats_through_only_when_unavailable() {
    bounded(async {
        let refusing = Refusing::start();
        let open = Agent::builder(refusing.url())
            .api_key(KEY)
            .max_retries(0)
            .fail_open(true)
            .build()
            .unwrap();
        let degraded = open.chat("hi").await.expect("fail open");
        assert_eq!(degraded.degraded(), Some(DegradedReason::Ungoverned));
        assert_eq!(degraded.content, "");

        // A decision is never bypassed.
        let dev = DevServer::start().await.expect("dev server");
        let open = Agent::builder(dev.url())
            .api_key(KEY)
            .fail_open(true)
            .build()
            .unwrap();
        let err = open.chat("My SSN is 123-45-6789").await.unwrap_err();
        assert!(
            matches!(err.decision(), Some(GovernanceDecision::PolicyBlock(_))),
            "{err:?}"
        );
    })
    .await
}

/// README, Failing open: with `fail_open(true)` only an unreachable control
/// plane is bypassed, with a warning in the logs when it starts; streams still fail closed;
/// a refused key, a bad configuration and a protocol violation are never
/// bypassed. The test runs on one thread so the capture sees every log line.
#[tokio::test(flavor = "current_thread")]
async fn fail_open_bypasses_only_an_unreachable_control_plane() {
    let (logs, _guard) = support::recorders::capture_logs();
    bounded(async {
        let open = |url: &str, key: &str| {
            Agent::builder(url)
                .api_key(key)
                .max_retries(0)
                .timeout(Duration::from_secs(5))
                .fail_open(true)
                .build()
        };
        let refusing = Refusing::start();
        let down = open(refusing.url(), "tp_open").expect("agent");
        let degraded = down
            .chat("hi")
            .await
            .expect("an unreachable server fails open");
        assert_eq!(degraded.degraded(), Some(DegradedReason::Ungoverned));
        assert_eq!(degraded.content, "");
        let verdict = down
            .govern_tool("send_email", json!({}))
            .await
            .expect("fails open");
        assert_eq!(verdict.degraded(), Some(DegradedReason::Ungoverned));
        let err = down.stream("hi").await.expect_err("a stream fails closed");
        assert!(err.is_unavailable(), "{err:?}");

        let dev = DevServer::start().await.expect("dev server");
        // The dev server refuses a key without `tp_`: 401, never bypassed.
        let refused = open(&dev.url(), "sk_not_tappass").expect("agent");
        let err = refused
            .chat("hi")
            .await
            .expect_err("a refused key fails closed");
        assert!(
            matches!(err, Error::Authentication { status: 401, .. }),
            "{err:?}"
        );
        let err = refused
            .govern_tool("read_file", json!({}))
            .await
            .expect_err("a refused key fails closed");
        assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
        // A base URL that is not a TapPass server: the dev server's 404s are
        // a protocol violation or a configuration error, never bypassed.
        let wrong = open(&format!("{}/not-tappass", dev.url()), "tp_open").expect("agent");
        let err = wrong
            .chat("hi")
            .await
            .expect_err("not TapPass fails closed");
        assert!(
            matches!(err, Error::Protocol(_) | Error::Config(_)),
            "{err:?}"
        );
        // A bad configuration does not even build.
        let err = open("ftp://tappass.example.com", "tp_open").expect_err("bad url");
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        // A decision is never bypassed.
        let fine = open(&dev.url(), "tp_open").expect("agent");
        let err = fine
            .chat("my ssn is 123-45-6789")
            .await
            .expect_err("blocked");
        assert!(err.is_decision(), "{err:?}");
    })
    .await;
    let text = logs.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("failing OPEN"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning when calls start being degraded, not one per call:\n{text}"
    );
    assert!(
        warnings.iter().all(|line| line.contains("WARN")),
        "{warnings:?}"
    );
}

fn fail_open_agent(url: &str) -> Agent {
    Agent::builder(url)
        .api_key(KEY)
        .max_retries(2)
        .retry_base_delay(10 * MS)
        .fail_open(true)
        .build()
        .expect("agent")
}

/// A fail-open agent lets a chat and a tool call through when the server
/// answers 5xx without a decision; a 429, on any attempt of the call, it
/// never does.
#[tokio::test]
async fn fail_open_covers_5xx_but_never_a_429() {
    bounded(async {
        let tappass = TapPass::start().await;
        let agent = fail_open_agent(tappass.url());
        tappass.always(CHAT, Reply::status(503));
        tappass.always("/v1/govern", Reply::status(502));
        assert_eq!(
            agent.chat("hi").await.expect("fails open").degraded(),
            Some(DegradedReason::Ungoverned)
        );
        let verdict = agent.govern_tool("t", json!({})).await.expect("fails open");
        assert_eq!(verdict.degraded(), Some(DegradedReason::Ungoverned));

        // 429 on every attempt, 429 then 503 or 500, 503 then 429: all fail closed.
        let scripts: [&[u16]; 4] = [
            &[429, 429, 429],
            &[429, 503, 503],
            &[429, 500],
            &[503, 503, 429],
        ];
        for script in scripts {
            for path in [CHAT, "/v1/govern"] {
                for &status in script {
                    tappass.push(path, Reply::status(status).header("retry-after", "0"));
                }
            }
            let err = agent.chat("hi").await.expect_err("a 429 never fails open");
            assert!(err.is_rate_limited(), "{script:?}: {err:?}");
            assert!(!err.is_unavailable());
            let err = agent
                .govern_tool("t", json!({}))
                .await
                .expect_err("a 429 never fails open");
            assert!(err.is_rate_limited(), "{script:?}: {err:?}");
        }
    })
    .await
}

#[tokio::test]
async fn fail_open_is_explicit_marks_degraded_calls_and_never_bypasses_a_decision() {
    let dev = DevServer::start().await.unwrap();
    let open = Agent::builder(dev.url())
        .api_key("tp_e2e_key")
        .max_retries(0)
        .fail_open(true)
        .build()
        .unwrap();
    assert!(open.is_fail_open());
    assert!(
        !sample_agent(&dev).is_fail_open(),
        "fail-open is off by default"
    );

    // A decision is still a decision.
    let err = open.chat("My SSN is 123-45-6789").await.unwrap_err();
    assert!(err.is_decision(), "{err}");
    let ok = open.chat("hello").await.unwrap();
    assert_eq!(ok.degraded(), None);

    // With the control plane gone, calls pass, marked as ungoverned.
    dev.shutdown().await;
    let degraded = open.chat("hello").await.unwrap();
    assert_eq!(degraded.degraded(), Some(DegradedReason::Ungoverned));
    assert!(degraded.content.is_empty());
    let verdict = open.govern_tool("send_email", json!({})).await.unwrap();
    assert_eq!(verdict.degraded(), Some(DegradedReason::Ungoverned));

    // Through the layer, the same agent answers 200 instead of 503.
    let app = serve_sample(open, false).await;
    let (status, _, _) = app.chat("hello").await;
    assert_eq!(status, 200);
}
