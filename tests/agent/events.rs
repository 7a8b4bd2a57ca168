//! The audit reporter: a bounded queue that drops and counts instead of
//! blocking, batches with an `Idempotency-Key` (read off the wire by a
//! recording relay in front of the dev server), and a reporter that outlives
//! the runtime that started it.

use super::*;
use support::recorders::{Relay, Sent};
use support::within;

fn audit_session() -> Session {
    Session::builder("ses_audit")
        .agent_uuid("agt-audit")
        .build()
        .expect("session")
}

/// README, Sessions: the reporter's queue is bounded by
/// `event_queue_capacity` and a full queue never blocks: on one thread, with
/// the reporter not yet run, 50 reports into a queue of 3 keep 3 and count 47
/// dropped, and return at once (no await between them).
#[tokio::test(flavor = "current_thread")]
async fn a_full_audit_queue_drops_and_counts_instead_of_blocking() {
    within(Duration::from_secs(30), async {
        let dev = DevServer::start().await.expect("dev server");
        let agent = Agent::builder(dev.url())
            .api_key("tp_queue")
            .event_queue_capacity(3)
            .build()
            .expect("agent");
        let session = audit_session();
        for i in 0..50 {
            agent.report(tappass::agent::AuditEvent::new(
                "probe",
                &session,
                json!({"i": i}),
            ));
        }
        assert_eq!(agent.dropped_events(), 47);
        agent.flush_events().await;
        let recorded = dev.events_for_session("ses_audit");
        let probes: Vec<&Value> = recorded
            .iter()
            .filter(|e| e["event_type"] == "probe")
            .collect();
        assert_eq!(probes.len(), 3, "{recorded:?}");
        assert_eq!(agent.dropped_events(), 47);
    })
    .await
}

/// README, Sessions: events go in batches, each `POST /v1/events` with an
/// `Idempotency-Key`, and the dev server records each batch once.
#[tokio::test(flavor = "current_thread")]
async fn audit_events_go_in_one_batch_with_an_idempotency_key() {
    within(Duration::from_secs(30), async {
        let dev = DevServer::start().await.expect("dev server");
        let relay = Relay::start(dev.addr()).await;
        let agent = relayed_agent(relay.url(), "tp_batch");
        let session = audit_session();
        for i in 0..5 {
            agent.report(tappass::agent::AuditEvent::new(
                "probe",
                &session,
                json!({"i": i}),
            ));
        }
        agent.flush_events().await;
        let posts: Vec<Sent> = relay
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v1/events")
            .collect();
        assert_eq!(posts.len(), 1, "one batch: {posts:?}");
        let key = posts[0].header("idempotency-key").expect("a key");
        assert_eq!(key.len(), 32, "{key}");
        let batch = posts[0].json();
        let sent: Vec<&Value> = batch.as_array().expect("an array").iter().collect();
        assert_eq!(sent.len(), 5);
        let order: Vec<i64> = sent
            .iter()
            .map(|e| e["details"]["i"].as_i64().expect("i"))
            .collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
        assert_eq!(
            dev.events_for_session("ses_audit")
                .iter()
                .filter(|e| e["event_type"] == "probe")
                .count(),
            5
        );
        assert_eq!(agent.dropped_events(), 0);
    })
    .await
}

/// An agent that reported from a runtime that is gone still delivers what it
/// reports from another: the reporter starts again on the new one.
#[test]
fn the_audit_reporter_survives_the_runtime_that_started_it() {
    let main = runtime();
    let dev = main
        .block_on(tappass_dev::DevServer::start())
        .expect("dev server");
    let agent = Agent::new(dev.url(), KEY).expect("agent");
    let session = tappass::Session::open();

    // A short-lived runtime reports, delivers, and is dropped.
    let short = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    short.block_on(async {
        agent.report(tappass::agent::AuditEvent::new(
            "from_the_short_runtime",
            &session,
            json!({}),
        ));
        agent.flush_events().await;
    });
    drop(short);

    main.block_on(bounded(async {
        agent.report(tappass::agent::AuditEvent::new(
            "from_the_main_runtime",
            &session,
            json!({}),
        ));
        agent.flush_events().await;
    }));
    let types: Vec<String> = dev
        .events_for_session(session.id())
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(types, ["from_the_short_runtime", "from_the_main_runtime"]);
    assert_eq!(agent.dropped_events(), 0);
}

/// What the dead runtime's task still held is counted as dropped, not lost
/// silently; later events are delivered.
#[test]
fn events_held_by_a_dead_runtime_are_counted_and_later_ones_delivered() {
    let main = runtime();
    let dev = main
        .block_on(tappass_dev::DevServer::start())
        .expect("dev server");
    let agent = Agent::new(dev.url(), KEY).expect("agent");
    let session = tappass::Session::open();

    let short = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    short.block_on(async {
        agent.report(tappass::agent::AuditEvent::new(
            "never_sent",
            &session,
            json!({}),
        ));
    });
    drop(short);
    assert_eq!(agent.dropped_events(), 1);

    main.block_on(bounded(async {
        agent.report(tappass::agent::AuditEvent::new(
            "delivered",
            &session,
            json!({}),
        ));
        agent.flush_events().await;
    }));
    let types: Vec<String> = dev
        .events_for_session(session.id())
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(types, ["delivered"]);
    assert_eq!(agent.dropped_events(), 1);
}
