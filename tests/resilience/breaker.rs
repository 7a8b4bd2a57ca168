//! The circuit breaker: while it is open a call makes no connection attempt
//! and answers at once; after `open_for`, one call probes, and its success
//! closes it; each transition is logged once, at `warn`, not each call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tappass::resilience::{BreakerState, Resilience};
use tappass_dev::DevServer;

use super::support::{bounded, recorders};
use super::{resilient_agent, MS};

/// A port that accepts every connection and closes it at once, counting
/// them: each of an agent's connection attempts is one.
struct Counting {
    url: String,
    accepted: Arc<AtomicUsize>,
}

impl Counting {
    async fn start() -> Counting {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        Counting { url, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn while_open_a_call_makes_no_connection_attempt_and_answers_at_once() {
    let (logs, _guard) = recorders::capture_logs();
    bounded(async {
        let server = Counting::start().await;
        let agent = resilient_agent(
            &server.url,
            Resilience::fail_closed()
                .failure_threshold(3)
                .open_for(Duration::from_secs(60)),
            None,
        );
        for _ in 0..3 {
            let err = agent
                .chat("hi")
                .await
                .expect_err("the server closes every connection");
            assert!(err.is_unavailable(), "{err:?}");
        }
        assert_eq!(agent.breaker_state(), Some(BreakerState::Open));
        let attempts = server.accepted();
        assert!(attempts >= 3, "each failed call tried: {attempts}");

        let started = Instant::now();
        for _ in 0..1000 {
            let err = agent.chat("hi").await.expect_err("the breaker is open");
            assert!(err.is_unavailable(), "{err:?}");
            let err = agent
                .govern_tool("search", serde_json::json!({}))
                .await
                .expect_err("the breaker is open");
            assert!(err.to_string().contains("circuit breaker is open"), "{err}");
        }
        let took = started.elapsed();
        assert_eq!(
            server.accepted(),
            attempts,
            "no connection attempt while open"
        );
        assert!(
            took < Duration::from_secs(1),
            "2,000 calls while open took {took:?}: none waits for a timeout"
        );
    })
    .await;
    let text = logs.text();
    let opened = text
        .lines()
        .filter(|l| l.contains("circuit breaker OPEN"))
        .count();
    assert_eq!(
        opened, 1,
        "one warning for the transition, not one per call:\n{text}"
    );
    assert!(text
        .lines()
        .filter(|l| l.contains("circuit breaker OPEN"))
        .all(|l| l.contains("WARN")));
}

#[tokio::test(flavor = "current_thread")]
async fn one_probe_closes_the_breaker_after_recovery() {
    bounded(async {
        let dev = DevServer::start().await.expect("dev server");
        let agent = resilient_agent(
            &dev.url(),
            Resilience::fail_closed()
                .failure_threshold(2)
                .open_for(200 * MS),
            None,
        );
        agent.chat("hello").await.expect("up");
        dev.set_available(false);
        for _ in 0..2 {
            assert!(agent.chat("hello").await.expect_err("503").is_unavailable());
        }
        assert_eq!(agent.breaker_state(), Some(BreakerState::Open));
        dev.set_available(true);
        let chats = || {
            dev.events()
                .iter()
                .filter(|e| e["event_type"] == "chat_call")
                .count()
        };
        let before = chats();
        assert!(
            agent.chat("hello").await.is_err(),
            "still open: no call until open_for has passed"
        );
        tokio::time::sleep(250 * MS).await;
        // Ten calls at once: one probes, the others are refused without waiting.
        let clones: Vec<_> = (0..10).map(|_| agent.clone()).collect();
        let outcomes = join_all(clones.iter().map(|a| a.chat("hello"))).await;
        let through = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(through, 1, "one probe: {outcomes:?}");
        assert_eq!(agent.breaker_state(), Some(BreakerState::Closed));
        assert_eq!(chats(), before + 1, "only the probe reached the server");
        // Closed: every call goes through again.
        for _ in 0..5 {
            agent.chat("hello").await.expect("closed");
        }
        assert_eq!(chats(), before + 6);
    })
    .await;
}
