//! The agent's process restarted in the middle of a flush: a first process
//! makes 2,000 degraded calls while the dev server (with `--db`) is
//! unavailable, each with an audit event, and exits; a second starts the
//! flush and is killed (`SIGKILL`) part way through; a third resumes it.
//! The dev server then holds every event exactly once. The processes are
//! this test binary run again (`spool_child`, ignored in a normal run).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tappass::agent::AuditEvent;
use tappass::resilience::Resilience;
use tappass::Session;
use tappass_dev::DevServer;

use super::{resilient_agent, TempDir, MS};

const CALLS: u64 = 2_000;
const ROLE: &str = "TAPPASS_TEST_SPOOL_CHILD";
const DIR: &str = "TAPPASS_TEST_SPOOL_DIR";
const URL: &str = "TAPPASS_TEST_SPOOL_URL";

/// This test binary, running [`spool_child`] as `role`.
fn child(role: &str, dir: &std::path::Path, url: &str) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "restart::spool_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(DIR, dir)
        .env(URL, url)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the child starts")
}

/// Kills a child left running by a failed assertion.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
}

/// The agent's process. `fill`: 2,000 degraded chats, each in a session of
/// its own with a `test_event`, then exit (what is still queued in memory
/// goes to the spool when the runtime stops). `flush`: flush the spool.
#[test]
#[ignore = "the agent's process of agent_restarted_mid_flush_delivers_every_event_once"]
fn spool_child() {
    let role = std::env::var(ROLE).expect("run by the parent test");
    let dir = std::env::var(DIR).expect("a spool directory");
    let url = std::env::var(URL).expect("the dev server");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let agent = resilient_agent(
            &url,
            Resilience::fail_open_logged()
                .failure_threshold(1)
                .open_for(Duration::from_secs(600)),
            Some(std::path::Path::new(&dir)),
        );
        match role.as_str() {
            "fill" => {
                for i in 0..CALLS {
                    let session = Session::open();
                    tappass::session::scope(session.clone(), async {
                        agent.report(AuditEvent::new("test_event", &session, json!({ "id": i })));
                        let answer = agent.chat("hello").await.expect("ungoverned, logged");
                        assert!(answer.degraded().is_some());
                    })
                    .await;
                }
                agent.flush_events().await;
            }
            _ => {
                // Flushes until killed (or done).
                agent.flush_events().await;
            }
        }
    });
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restarted_mid_flush_delivers_every_event_once() {
    let dir = TempDir::new("restart");
    let spool = dir.path().join("spool");
    let dev = DevServer::builder()
        .db(dir.path().join("dev.db"))
        .start()
        .await
        .expect("dev server");
    dev.set_available(false);
    let url = dev.url();

    let mut fill = Reaped(child("fill", &spool, &url));
    let status = tokio::task::spawn_blocking(move || {
        let status = fill.0.wait();
        (status, fill)
    })
    .await
    .expect("joined")
    .0
    .expect("the fill process ran");
    assert!(status.success(), "the fill process: {status:?}");
    assert!(
        dev.events().is_empty(),
        "nothing reached the unavailable server"
    );

    dev.set_available(true);
    // The second process flushes; it is killed once part of the spool arrived.
    let mut flush = Reaped(child("flush", &spool, &url));
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered_at_kill = loop {
        let now = dev.event_count();
        if now >= 500 {
            flush.0.kill().expect("SIGKILL");
            flush.0.wait().ok();
            break dev.event_count();
        }
        if let Ok(Some(status)) = flush.0.try_wait() {
            panic!("the flush finished before it could be killed ({status:?}, {now} events)");
        }
        assert!(Instant::now() < deadline, "the flush did not start");
        tokio::time::sleep(MS).await;
    };
    assert!(
        delivered_at_kill < 2 * CALLS as usize,
        "killed in the middle: {delivered_at_kill} events"
    );

    // The third process resumes where the second stopped.
    let resume = Reaped(child("flush", &spool, &url));
    let status = tokio::task::spawn_blocking(move || {
        let mut resume = resume;
        let status = resume.0.wait();
        (status, resume)
    })
    .await
    .expect("joined")
    .0
    .expect("the resumed flush ran");
    assert!(status.success(), "the resumed flush: {status:?}");

    let events = dev.events();
    let mut tests = vec![0u32; CALLS as usize];
    let mut degraded = std::collections::HashMap::<String, u32>::new();
    for event in &events {
        match event["event_type"].as_str() {
            Some("test_event") => tests[event["details"]["id"].as_u64().expect("id") as usize] += 1,
            Some("degraded_call") => {
                *degraded
                    .entry(event["session_id"].as_str().expect("a session").to_owned())
                    .or_default() += 1;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    let wrong: Vec<(usize, &u32)> = tests.iter().enumerate().filter(|(_, c)| **c != 1).collect();
    assert!(
        wrong.is_empty(),
        "test events not recorded exactly once: {:?}",
        &wrong[..wrong.len().min(10)]
    );
    assert_eq!(
        degraded.len(),
        CALLS as usize,
        "a degraded_call event for each call"
    );
    assert!(
        degraded.values().all(|c| *c == 1),
        "each degraded_call once"
    );
    assert_eq!(events.len(), 2 * CALLS as usize);
    dev.shutdown().await;
}
