//! The audit spool: full, it drops its oldest events and counts them, or
//! fails the degraded calls closed, as configured, and never grows past its
//! bound; events a slow server cannot take now go to it instead of being
//! dropped, and reach the server once, in order, when it answers.

use std::time::Duration;

use serde_json::json;
use tappass::agent::AuditEvent;
use tappass::resilience::{AuditSpool, DegradedReason, Fsync, Resilience, WhenFull};
use tappass::{Agent, Session};
use tappass_dev::{Availability, DevServer};

use super::support::sockets::Refusing;
use super::support::{within, KEY};
use super::{TempDir, MS};

const BOUND: u64 = 64 << 10;

fn spooling_agent(url: &str, dir: &std::path::Path, when_full: WhenFull) -> Agent {
    Agent::builder(url)
        .api_key(KEY)
        .max_retries(0)
        .timeout(200 * MS)
        .resilience(
            Resilience::fail_open_logged()
                .failure_threshold(1)
                .open_for(Duration::from_secs(60)),
        )
        .audit_spool(
            AuditSpool::new(dir)
                .max_bytes(BOUND)
                .when_full(when_full)
                .fsync(Fsync::Never),
        )
        .build()
        .expect("agent")
}

#[tokio::test]
async fn a_full_spool_drops_its_oldest_events_and_counts_them() {
    within(Duration::from_secs(60), async {
        let dir = TempDir::new("full-drop");
        let refusing = Refusing::start();
        let agent = spooling_agent(refusing.url(), dir.path(), WhenFull::DropOldest);
        let calls = 3000u64;
        for i in 0..calls {
            let verdict = agent
                .govern_tool("search", json!({ "q": i }))
                .await
                .expect("ungoverned, logged");
            assert_eq!(verdict.degraded(), Some(DegradedReason::Ungoverned));
            assert!(agent.spool_bytes() <= BOUND, "never past its bound");
        }
        let dropped = agent.dropped_events();
        assert!(dropped > 0, "the spool filled up");
        assert_eq!(
            agent.spooled_events() + dropped,
            calls,
            "every degraded call's event is spooled or counted as dropped"
        );
        // Reopened, the spool holds what was kept, no more than its bound.
        drop(agent);
        let again = spooling_agent(refusing.url(), dir.path(), WhenFull::DropOldest);
        assert_eq!(again.spooled_events(), calls - dropped);
        assert!(again.spool_bytes() <= BOUND);
    })
    .await;
}

#[tokio::test]
async fn a_full_spool_that_fails_closed_refuses_the_degraded_calls() {
    within(Duration::from_secs(60), async {
        let dir = TempDir::new("full-closed");
        let refusing = Refusing::start();
        let agent = spooling_agent(refusing.url(), dir.path(), WhenFull::FailClosed);
        let mut through = 0u64;
        let mut refused = 0u64;
        for i in 0..3000 {
            match agent.chat(format!("call {i}")).await {
                Ok(answer) => {
                    assert_eq!(answer.degraded(), Some(DegradedReason::Ungoverned));
                    through += 1;
                }
                Err(err) => {
                    assert!(err.is_unavailable(), "{err:?}");
                    assert!(err.to_string().contains("audit spool is full"), "{err}");
                    // Refused only when the event does not fit: the spool is
                    // within one event of its bound (a shorter event may
                    // still fit after a refusal).
                    assert!(
                        BOUND - agent.spool_bytes() < 1024,
                        "{}",
                        agent.spool_bytes()
                    );
                    refused += 1;
                }
            }
            assert!(agent.spool_bytes() <= BOUND);
        }
        assert!(
            through > 0 && refused > 0,
            "{through} through, {refused} refused"
        );
        assert_eq!(agent.dropped_events(), 0, "nothing dropped");
        assert_eq!(
            agent.spooled_events(),
            through,
            "every call that went through is spooled"
        );
    })
    .await;
}

#[tokio::test]
async fn events_a_slow_server_cannot_take_go_to_the_spool_and_arrive_once() {
    within(Duration::from_secs(60), async {
        let dir = TempDir::new("slow");
        let dev = DevServer::start().await.expect("dev server");
        let agent = Agent::builder(dev.url())
            .api_key(KEY)
            .max_retries(0)
            .timeout(100 * MS)
            .event_queue_capacity(8)
            .audit_spool(AuditSpool::new(dir.path()))
            .build()
            .expect("agent");
        dev.set_availability(Availability::Hanging);
        let session = Session::open();
        for i in 0..500 {
            agent.report(AuditEvent::new("test_event", &session, json!({ "id": i })));
        }
        assert_eq!(
            agent.dropped_events(),
            0,
            "the spool took what the queue could not"
        );
        assert!(agent.spooled_events() > 0);
        dev.set_availability(Availability::Available);
        agent.flush_events().await;
        agent.flush_events().await;
        assert_eq!(agent.spooled_events(), 0);
        let ids: Vec<u64> = dev
            .events_for_session(session.id())
            .iter()
            .map(|e| e["details"]["id"].as_u64().expect("an id"))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..500).collect::<Vec<_>>(), "each event once");
        assert_eq!(agent.dropped_events(), 0);
    })
    .await;
}
