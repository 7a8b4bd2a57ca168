//! `--db FILE` (README, Keeping state): a restart on the same file keeps the
//! sessions' events, the mandates and their keys, and a pending approval,
//! which is then approved and resumed; a server killed with `SIGKILL` while
//! it records events leaves a file that opens with every event it
//! acknowledged.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tappass::{Agent, GovernanceDecision, Session};
use tappass_dev::DevServer;

const BIN: &str = env!("CARGO_BIN_EXE_tappass-dev");

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "tappass-dev-db-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(db: &Path) -> DevServer {
    DevServer::builder()
        .db(db)
        .start()
        .await
        .expect("the dev server starts on its file")
}

fn agent(dev: &DevServer) -> Agent {
    Agent::builder(dev.url())
        .api_key("tp_db_test")
        .max_retries(0)
        .build()
        .expect("agent")
}

#[tokio::test]
async fn a_restart_keeps_a_pending_approval_that_is_then_approved_and_resumed() {
    let dir = TempDir::new("restart");
    let db = dir.file("dev.db");
    let session = Session::builder("ses_kept_across_restarts")
        .build()
        .unwrap();
    let args = json!({"to": "cfo@example.com", "subject": "Q4"});

    let dev = start(&db).await;
    let first = agent(&dev);
    let (approval, verdict) = tappass::session::scope(session.clone(), async {
        let verdict = first
            .govern_tool("search", json!({"q": "revenue"}))
            .await
            .expect("allowed");
        let err = first
            .govern_tool("send_email", args.clone())
            .await
            .expect_err("the default policy asks a human");
        let Some(GovernanceDecision::ApprovalRequired(approval)) = err.decision().cloned() else {
            panic!("expected an approval, got {err:?}");
        };
        (approval, verdict)
    })
    .await;
    let request_id = approval.request_id.clone().expect("an id");
    let mandate = verdict.mandate().expect("a mandate").to_owned();
    let events_before = dev.events_for_session(session.id());
    let kid = dev.mandate_kid();
    assert!(!events_before.is_empty());
    dev.shutdown().await;

    let dev = start(&db).await;
    assert_eq!(dev.db_path().as_deref(), Some(db.as_path()));
    let pending: Vec<String> = dev
        .pending_approvals()
        .into_iter()
        .map(|a| a.request_id)
        .collect();
    assert_eq!(
        pending,
        std::slice::from_ref(&request_id),
        "still pending after the restart"
    );
    assert_eq!(
        dev.events_for_session(session.id()),
        events_before,
        "the session's timeline is kept"
    );
    assert_eq!(dev.mandate_kid(), kid, "the same key goes on signing");
    assert_eq!(dev.mandates().len(), 1, "the issued mandate is kept");
    let jwks = reqwest::get(dev.jwks_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks: serde_json::Value = serde_json::from_str(&jwks).unwrap();
    let header = mandate.split('.').next().expect("a JWS");
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid),
        "the key of the kept mandate ({header}) is published"
    );

    assert!(dev.approve(&request_id), "the kept approval can be decided");
    let second = agent(&dev);
    let resumed = tappass::session::scope(session.clone(), async {
        second
            .resume(&approval, second.govern_tool("send_email", args.clone()))
            .await
    })
    .await
    .expect("approved after the restart, resumed");
    assert!(
        resumed.reason.contains("approved by a human"),
        "{}",
        resumed.reason
    );
    dev.shutdown().await;

    // And the approval stays used up across one more restart.
    let dev = start(&db).await;
    let row = dev.approval(&request_id).expect("kept");
    assert!(row.used_at.is_some(), "{row:?}");
    dev.shutdown().await;
}

/// Kills a child left running by a failed assertion.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
}

/// Posts one event with `id` on a fresh connection; whether the server
/// acknowledged it (202).
fn post_event(addr: &str, id: u64) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let body = json!([{
        "event_type": "test_event",
        "agent_id": "",
        "occurred_at": "2026-12-07T00:00:00Z",
        "session_id": "ses_killed",
        "task_id": null,
        "details": {"id": id},
    }])
    .to_string();
    let request = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tp_db_test\r\nContent-Type: application/json\r\nIdempotency-Key: key-{id}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).is_ok() && answer.starts_with("HTTP/1.1 202")
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_write_leaves_a_file_with_every_acknowledged_event() {
    let dir = TempDir::new("killed");
    let db = dir.file("dev.db");
    let child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tappass-dev starts");
    let mut child = Running(child);
    let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the first line");
    let addr = first
        .trim()
        .rsplit("http://")
        .next()
        .expect("`… listening on URL`")
        .to_owned();

    // Four writers post events as fast as the server takes them, each
    // noting what was acknowledged; the server is killed while they write.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (addr, acknowledged, stop) = (addr.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut id = w;
                while !stop.load(Ordering::Relaxed) {
                    if post_event(&addr, id) {
                        acknowledged.lock().unwrap().push(id);
                    }
                    id += 4;
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 400 {
        std::thread::sleep(Duration::from_millis(2));
    }
    // SIGKILL: no shutdown, no flush, mid-write.
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reaped");
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("a writer");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let dev = start(&db).await;
    let mut kept: Vec<u64> = dev
        .events_for_session("ses_killed")
        .iter()
        .map(|e| e["details"]["id"].as_u64().expect("an id"))
        .collect();
    kept.sort_unstable();
    let mut expected = acknowledged.clone();
    expected.sort_unstable();
    let missing: Vec<&u64> = expected
        .iter()
        .filter(|id| kept.binary_search(id).is_err())
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let mut unique = kept.clone();
    unique.dedup();
    assert_eq!(unique.len(), kept.len(), "no event twice");
    // At most the requests in flight at the kill were recorded unacknowledged.
    assert!(
        kept.len() <= acknowledged.len() + 4,
        "{} kept, {} acknowledged",
        kept.len(),
        acknowledged.len()
    );
    // A retried batch is still recognised after the restart.
    let again = post_event(&dev.addr().to_string(), expected[0]);
    assert!(!again, "a repeated key answers 200 duplicate, not 202");
    assert_eq!(dev.events_for_session("ses_killed").len(), kept.len());
    dev.shutdown().await;
}
