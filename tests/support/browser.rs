//! A real browser for the tests that click through the dev console: headless
//! Chromium, driven over WebDriver by a chromedriver the test starts itself
//! (`ChromeDriver::start`, then `Browser::open`).
//!
//! It needs the Debian packages `chromium` and `chromium-driver`. When either
//! program is missing and the test runs as root on a machine with `apt-get`,
//! the first browser test installs them (`provision`), under a file lock in
//! the target directory so that test binaries running at the same time do
//! not run apt twice; anywhere else the test fails with the command to run.
//! It never skips.
//!
//! The WebDriver client is the few W3C WebDriver commands the tests use, over
//! the reqwest the workspace already has: fantoccini, the usual crate, would
//! bring second major versions of `http`, `thiserror`, `cookie` and ICU.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// What installs both, as root on Debian.
const INSTALL: &str = "apt-get update && apt-get install -y chromium chromium-driver";
/// How long chromedriver may take to start, and a WebDriver command to answer: hang guards.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Makes sure Chromium and chromedriver are installed, installing them once
/// when this process may (see the module documentation); panics, naming the
/// command to run, when they are missing and it may not.
pub fn provision() {
    static PROVISIONED: OnceLock<()> = OnceLock::new();
    PROVISIONED.get_or_init(|| provision_at(&[Path::new(CHROMIUM), Path::new(CHROMEDRIVER)]));
}

fn provision_at(programs: &[&Path]) {
    let missing = || -> Vec<&Path> {
        programs
            .iter()
            .copied()
            .filter(|program| !program.exists())
            .collect()
    };
    let absent = missing();
    if absent.is_empty() {
        return;
    }
    let cannot = |why: &str| -> ! {
        panic!(
            "{} missing: the browser tests need the Debian packages `chromium` and \
             `chromium-driver`, and {why}; install them with `{INSTALL}` (as root)",
            names(&absent)
        )
    };
    if !runs_as_root() {
        cannot("this test does not run as root, so it cannot install them");
    }
    if !has_apt_get() {
        cannot("this machine has no `apt-get`");
    }
    // One installer at a time across test binaries; whoever waited finds
    // the programs there and installs nothing.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let lock_path = tmp.join("chromium-install.lock");
    std::fs::create_dir_all(tmp)
        .unwrap_or_else(|e| cannot(&format!("{} cannot be created ({e})", tmp.display())));
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| cannot(&format!("{} cannot be created ({e})", lock_path.display())));
    lock.lock()
        .unwrap_or_else(|e| cannot(&format!("{} cannot be locked ({e})", lock_path.display())));
    if missing().is_empty() {
        return;
    }
    eprintln!("{} missing: running `{INSTALL}`", names(&absent));
    for args in [
        &["update"][..],
        &["install", "-y", "chromium", "chromium-driver"][..],
    ] {
        let output = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| cannot(&format!("`apt-get` did not start ({e})")));
        if !output.status.success() {
            cannot(&format!(
                "`apt-get {}` failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    let still = missing();
    if !still.is_empty() {
        panic!(
            "{} still missing after `{INSTALL}`: install the Debian packages `chromium` and \
             `chromium-driver` by hand",
            names(&still)
        );
    }
}

fn names(programs: &[&Path]) -> String {
    let names: Vec<String> = programs.iter().map(|p| p.display().to_string()).collect();
    match names.len() {
        1 => format!("{} is", names[0]),
        _ => format!("{} are", names.join(" and ")),
    }
}

fn runs_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == b"0")
}

fn has_apt_get() -> bool {
    Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A chromedriver process on a free port it picked itself, stopped on drop,
/// with a fresh browser profile directory removed on drop.
pub struct ChromeDriver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl ChromeDriver {
    /// Starts chromedriver, installing Chromium first where [`provision`] may.
    pub fn start() -> ChromeDriver {
        provision();
        let profile = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "console-browser-{}-{:016x}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // chromedriver prints the port it bound; keep draining its output after.
        let stdout = child.stdout.take().unwrap();
        let (port_tx, port_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Some(tx) = port_tx.take() {
                        let _sent = tx.send(port.parse::<u16>().ok());
                    }
                }
            }
        });
        let port = match port_rx.recv_timeout(PATIENCE) {
            Ok(Some(port)) => port,
            other => {
                let _killed = child.kill();
                panic!("chromedriver did not say which port it listens on: {other:?}");
            }
        };
        ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
        let _removed = std::fs::remove_dir_all(&self.profile);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// A WebDriver session in headless Chromium.
pub struct Browser {
    http: reqwest::Client,
    session: String,
}

/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    pub async fn open(driver: &ChromeDriver) -> Browser {
        let http = reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", driver.profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let value = command(
            &http,
            reqwest::Method::POST,
            &format!("{}/session", driver.url),
            Some(capabilities),
        )
        .await;
        let id = value["sessionId"].as_str().expect("a WebDriver session id");
        Browser {
            http,
            session: format!("{}/session/{id}", driver.url),
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        command(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn current_url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The element `css` selects; the test fails when there is none.
    pub async fn find(&self, css: &str) -> String {
        let found = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element `{css}`: {found}"))
            .to_owned()
    }

    pub async fn count(&self, css: &str) -> usize {
        let found = self
            .cmd(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found.as_array().unwrap().len()
    }

    pub async fn text(&self, element: &str) -> String {
        let text = self
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await;
        text.as_str().unwrap().to_owned()
    }

    pub async fn click(&self, element: &str) {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn quit(self) {
        self.cmd(reqwest::Method::DELETE, "", None).await;
    }
}

/// Sends one WebDriver command; its `value`, or the test fails with the driver's error.
async fn command(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status();
    let mut answer: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{method} {url}: {status} {answer}");
    answer["value"].take()
}
