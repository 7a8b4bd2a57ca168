//! A real browser for the tests that click through the dev console: headless
//! Chromium, driven over WebDriver by a chromedriver the test starts itself
//! (`ChromeDriver::start`, then `Browser::open`).
//!
//! It needs the Debian packages `chromium` and `chromium-driver`
//! (`apt-get install -y chromium chromium-driver`; `.ci/run` installs them
//! when missing). Without them the test fails and says so: it never skips.
//!
//! The WebDriver client is the few W3C WebDriver commands the tests use, over
//! the reqwest the workspace already has: fantoccini, the usual crate, would
//! bring second major versions of `http`, `thiserror`, `cookie` and ICU.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long chromedriver may take to start, and a WebDriver command to answer: hang guards.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A chromedriver process on a free port it picked itself, stopped on drop,
/// with a fresh browser profile directory removed on drop.
pub struct ChromeDriver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl ChromeDriver {
    pub fn start() -> ChromeDriver {
        for program in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: the browser test needs the Debian packages `chromium` and `chromium-driver`; install them with `apt-get update && apt-get install -y chromium chromium-driver` (.ci/run does this)"
            );
        }
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
