//! When TapPass is down (`tappass::resilience`, the agent guide's "When
//! TapPass is down"): the circuit breaker, the audit spool when full, runs of
//! 5,000 governed calls through a served, layered service while the dev
//! server answers 503, hangs, stops and restarts (with `--db`), in each mode,
//! and the agent's own process killed in the middle of a flush.
//!
//! Which server each test meets: the dev server (in-process, over real
//! sockets, made unavailable on purpose with `DevServer::set_availability`,
//! stopped and restarted on its SQLite file); a port that accepts and
//! closes every connection, counting them, for the breaker's "no connection
//! attempt"; a refused port for a spool that fills up. `restart.rs` runs
//! this test binary again as the agent's process (`spool_child`).

#[path = "../support/mod.rs"]
mod support;

mod breaker;
mod faults;
mod modes;
mod restart;
mod spool;

use std::path::PathBuf;
use std::time::Duration;

use tappass::resilience::{AuditSpool, Fsync, Resilience};
use tappass::Agent;

const MS: Duration = Duration::from_millis(1);

/// A fresh, empty directory under the system's temporary directory, removed
/// when the returned guard drops.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "tappass-resilience-{name}-{}-{:x}",
            std::process::id(),
            rand_u64()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

/// An agent of `url` with `resilience`, short timeouts and retries (a hang
/// costs a call 2 × 150 ms), and a spool in `spool` when given.
fn resilient_agent(url: &str, resilience: Resilience, spool: Option<&std::path::Path>) -> Agent {
    let mut builder = Agent::builder(url)
        .api_key(support::KEY)
        .timeout(150 * MS)
        .connect_timeout(150 * MS)
        .max_retries(1)
        .retry_base_delay(MS)
        .resilience(resilience);
    if let Some(dir) = spool {
        builder = builder.audit_spool(AuditSpool::new(dir).fsync(Fsync::Never));
    }
    builder.build().expect("agent")
}
