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

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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
