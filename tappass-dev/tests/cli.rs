//! The `tappass-dev` program as its users run it (README, Running it):
//! `--print-default-policy` prints the built-in policy, and Ctrl-C (SIGINT)
//! stops a serving process gracefully, with its closing report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tappass_dev::{Policy, DEFAULT_POLICY};

const BIN: &str = env!("CARGO_BIN_EXE_tappass-dev");

/// Kills the child if a test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
}

#[test]
fn print_default_policy_prints_the_built_in_policy() {
    let output = Command::new(BIN)
        .arg("--print-default-policy")
        .output()
        .expect("tappass-dev runs");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(printed, DEFAULT_POLICY);
    let policy = Policy::from_toml(&printed).expect("the printed policy parses");
    assert_eq!(policy.len(), Policy::default().len());
    assert!(policy.len() > 5, "the demo triggers: {}", policy.len());
}

/// One HTTP/1.1 exchange on a fresh connection: the whole answer.
fn exchange(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("the server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    stream.write_all(request.as_bytes()).expect("sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    answer
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_serving_process_gracefully() {
    let child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tappass-dev starts");
    let mut child = Running(child);
    let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the first line");
    let url = first
        .trim()
        .rsplit(' ')
        .next()
        .expect("`… listening on URL`")
        .to_owned();
    assert!(first.contains("listening on http://127.0.0.1:"), "{first}");
    let addr = url.trim_start_matches("http://");

    let health = exchange(
        addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hello"}]}"#;
    let chat = exchange(
        addr,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tp_cli\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(chat.starts_with("HTTP/1.1 200"), "{chat}");
    assert!(chat.contains("Echo: hello"), "{chat}");

    // SAFETY: a plain syscall on the pid of a child this test owns and has
    // not yet reaped.
    let sent = unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "SIGINT delivered");
    // A hang guard, not the evidence: the evidence is the exit status and
    // the closing report.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "tappass-dev did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("the rest of stdout");
    assert!(rest.contains("stopping…"), "{rest}");
    assert!(
        rest.contains("stopped (") && rest.contains("audit events were recorded)"),
        "{rest}"
    );
    let count: usize = rest
        .split("stopped (")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a count of events");
    assert!(count >= 1, "the chat was recorded: {rest}");
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(
        !stderr.contains("warning"),
        "on loopback, no warning: {stderr}"
    );
}
