//! A Python with the packages of `tests/requirements.txt` (the real Python
//! SDK among them), in a virtualenv under the target directory.
//!
//! [`python`] makes it on first use: `python3 -m venv target/python-venv`,
//! then `pip install -r tests/requirements.txt`. Test binaries run as
//! separate processes, so the work happens under an exclusive file lock
//! (`target/python-venv.lock`); the second process waits, then finds it done.
//! The virtualenv keeps the requirements' hash and is made again when the
//! file changes. Without python3, its `venv` module or network access to
//! the package index, the tests that need it fail with what to install.
//!
//! [`Uvicorn`] serves an app of `tests/python/` (a FastAPI service with the
//! SDK) on a free port, with that Python.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

/// The virtualenv's interpreter, made ready on first use.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(provision)
}

/// The target directory: `CARGO_TARGET_TMPDIR`'s parent (which follows
/// `CARGO_TARGET_DIR`), else `CARGO_TARGET_DIR`, else `target/` beside the
/// root manifest.
fn target_dir() -> PathBuf {
    if let Some(tmp) = option_env!("CARGO_TARGET_TMPDIR") {
        if let Some(parent) = Path::new(tmp).parent() {
            return parent.to_path_buf();
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => manifest.join(dir),
        None => manifest.join("target"),
    }
}

fn requirements() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/requirements.txt")
}

/// FNV-1a, 64 bits: stable across Rust versions, enough to notice an edit.
fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn interpreter(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

fn run(command: &mut Command, what: &str, fix: &str) {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{what} could not start ({e}). {fix}");
    });
    assert!(
        output.status.success(),
        "{what} failed. {fix}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn provision() -> PathBuf {
    let target = target_dir();
    fs::create_dir_all(&target).expect("the target directory can be created");
    let venv = target.join("python-venv");
    let requirements = requirements();
    let wanted = fingerprint(&fs::read(&requirements).expect("tests/requirements.txt is readable"));
    let stamp = venv.join("requirements.fnv64");

    let lock = File::create(target.join("python-venv.lock")).expect("the lock file can be created");
    lock.lock().expect("the virtualenv's lock can be taken");

    let python = interpreter(&venv);
    if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let _ = fs::remove_dir_all(&venv);
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "`python3 -m venv`",
        "These tests need Python 3.11 or later with its venv module and pip \
         (Debian and Ubuntu: `apt-get install python3 python3-venv python3-pip`).",
    );
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "`pip install -r tests/requirements.txt`",
        "pip needs access to the package index (or a mirror through PIP_INDEX_URL) \
         to install the Python SDK and its dependencies.",
    );
    fs::write(&stamp, &wanted).expect("the virtualenv's stamp can be written");
    drop(lock);
    python
}

/// An app of `tests/python/` under uvicorn on a free port of `127.0.0.1`,
/// stopped on drop.
pub struct Uvicorn {
    child: Child,
    /// Where it listens, e.g. `http://127.0.0.1:43817`.
    pub url: String,
}

impl Uvicorn {
    /// Serves `app` (`module:attribute`, e.g. `estate_app:app`) with `env`
    /// set, once uvicorn says where it listens (within a minute).
    pub fn start(app: &str, env: &[(&str, String)]) -> Uvicorn {
        let app_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
        let mut command = Command::new(python());
        command
            .args(["-m", "uvicorn", "--app-dir", app_dir, app])
            .args(["--host", "127.0.0.1", "--port", "0", "--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .expect("uvicorn starts from the test virtualenv");
        // uvicorn says where it listens; keep draining its log after.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut log = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log.push_str(&line);
                log.push('\n');
                if let Some(rest) = line.split("Uvicorn running on ").nth(1) {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(tx) = tx.take() {
                        let _sent = tx.send(Ok(url));
                    }
                }
            }
            if let Some(tx) = tx.take() {
                let _sent = tx.send(Err(log));
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(url)) => Uvicorn { child, url },
            other => {
                let _killed = child.kill();
                panic!("the FastAPI service {app} did not start: {other:?}");
            }
        }
    }
}

impl Drop for Uvicorn {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}
