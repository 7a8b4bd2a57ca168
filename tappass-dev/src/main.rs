//! `tappass-dev`: the TapPass-compatible development server, as a program.
//!
//! ```text
//! tappass-dev [--listen ADDR] [--policy FILE] [--signing-key FILE] [--db FILE]
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use tappass_dev::{DevServer, Policy, DEFAULT_POLICY};

const DEFAULT_LISTEN: &str = "127.0.0.1:9620";

const HELP: &str = "\
tappass-dev: a local TapPass-compatible server for development and tests

It answers governed chats with a deterministic echo model, decides tool calls,
keeps approvals and audit events in memory (or in SQLite with --db), and applies
a small TOML policy whose demo triggers produce every kind of governance decision.

USAGE:
    tappass-dev [--listen ADDR] [--policy FILE] [--signing-key FILE] [--db FILE]

OPTIONS:
    --listen ADDR            Address to listen on [default: 127.0.0.1:9620]
                             (port 0 picks a free port; an address that is not
                             loopback is warned about: there is no real
                             authentication)
    --policy FILE            Policy file in TOML [default: the built-in policy]
    --signing-key FILE       P-256 private key (PKCS#8 PEM) that signs mandates
                             [default: a key generated at start, or with --db
                             the key of the last run]
    --db FILE                Keep sessions, audit events, approvals, mandates and
                             idempotency records in this SQLite file (created
                             when missing), so that a restart keeps them
                             [default: in memory]
    --print-default-policy   Print the built-in policy and exit
    -h, --help               Print this help and exit
    -V, --version            Print the version and exit

Any API key that starts with `tp_` is accepted. The console's Availability page
makes the API unavailable on purpose, to rehearse an outage. Stop the server
with Ctrl-C.";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Serve {
        listen: SocketAddr,
        policy: Option<String>,
        signing_key: Option<String>,
        db: Option<String>,
    },
    Help,
    Version,
    PrintPolicy,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut listen: Option<SocketAddr> = None;
    let mut policy: Option<String> = None;
    let mut signing_key: Option<String> = None;
    let mut db: Option<String> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(format!("`{name}` needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--print-default-policy" => return Ok(Command::PrintPolicy),
            "--listen" => {
                if listen.is_some() {
                    return Err("`--listen` is given twice".into());
                }
                let v = value("--listen")?;
                listen = Some(v.parse().map_err(|_| {
                    format!("`--listen {v}` is not a socket address; write IP:PORT, e.g. 127.0.0.1:9620 or [::1]:9620")
                })?);
            }
            "--policy" => {
                if policy.is_some() {
                    return Err("`--policy` is given twice".into());
                }
                policy = Some(value("--policy")?);
            }
            "--signing-key" => {
                if signing_key.is_some() {
                    return Err("`--signing-key` is given twice".into());
                }
                signing_key = Some(value("--signing-key")?);
            }
            "--db" => {
                if db.is_some() {
                    return Err("`--db` is given twice".into());
                }
                db = Some(value("--db")?);
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    Ok(Command::Serve {
        listen: listen.unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid default")),
        policy,
        signing_key,
        db,
    })
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("tappass-dev: error: {message}");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => return fail(format_args!("{e}\nRun `tappass-dev --help` for usage.")),
    };
    let (listen, policy_path, signing_key, db) = match command {
        Command::Help => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("tappass-dev {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::PrintPolicy => {
            print!("{DEFAULT_POLICY}");
            return ExitCode::SUCCESS;
        }
        Command::Serve {
            listen,
            policy,
            signing_key,
            db,
        } => (listen, policy, signing_key, db),
    };
    let (policy, policy_name) = match &policy_path {
        Some(path) => match Policy::from_file(path) {
            Ok(p) => (p, path.clone()),
            Err(e) => return fail(e),
        },
        None => (Policy::default(), "the built-in policy".to_owned()),
    };
    let rules = policy.len();
    let mut builder = DevServer::builder().policy(policy).listen(listen);
    if let Some(path) = &signing_key {
        builder = match builder.signing_key_file(path) {
            Ok(b) => b,
            Err(e) => return fail(e),
        };
    }
    if let Some(path) = &db {
        builder = builder.db(path);
    }
    let server = match builder.start().await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let url = server.url();
    println!(
        "tappass-dev {} listening on {url}",
        env!("CARGO_PKG_VERSION")
    );
    println!("policy: {policy_name} ({rules} rules)");
    match &db {
        Some(path) => println!(
            "state: kept in {path} ({} audit events, {} pending approvals)",
            server.event_count(),
            server.pending_approvals().len()
        ),
        None => println!("state: in memory (gone when the server stops; keep it with --db FILE)"),
    }
    println!("console: {url}/ (sessions, approvals, mandates and the policy, in a browser)");
    if !server.is_loopback() {
        eprintln!(
            "tappass-dev: warning: listening on {listen}, not only on loopback: the dev server has no real authentication (any `tp_` key is accepted), so anyone who can reach this address can read its audit events and decide its approvals. Use --listen 127.0.0.1:PORT unless that is what you want."
        );
    }
    println!(
        "mandates: signed with key `{}`, published at {}",
        server.mandate_kid(),
        server.jwks_url()
    );
    println!();
    println!("Use it from an agent or service:");
    println!("    export TAPPASS_URL={url} TAPPASS_API_KEY=tp_dev");
    println!("Try it:");
    println!(
        "    curl -s {url}/v1/chat/completions -H 'Authorization: Bearer tp_dev' -H 'Content-Type: application/json' \\\n        -d '{{\"model\":\"gpt-4o-mini\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}]}}'"
    );
    println!("Pending approvals (or open {url}/approvals), and approving one:");
    println!("    curl -s {url}/v1/me/approvals -H 'Authorization: Bearer tp_dev'");
    println!("    curl -s -X POST {url}/v1/me/approvals/REQUEST_ID/approve -H 'Authorization: Bearer tp_dev'");
    println!();
    println!("Press Ctrl-C to stop.");

    stop_signal().await;
    println!("\nstopping…");
    let events = server.event_count();
    server.shutdown().await;
    println!("stopped ({events} audit events were recorded)");
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_flags() {
        assert_eq!(
            parse(&[]).unwrap(),
            Command::Serve {
                listen: "127.0.0.1:9620".parse().unwrap(),
                policy: None,
                signing_key: None,
                db: None,
            }
        );
        assert_eq!(
            parse(&["--listen", "0.0.0.0:8080", "--policy=p.toml"]).unwrap(),
            Command::Serve {
                listen: "0.0.0.0:8080".parse().unwrap(),
                policy: Some("p.toml".into()),
                signing_key: None,
                db: None,
            }
        );
        assert_eq!(
            parse(&[
                "--listen=[::1]:0",
                "--signing-key",
                "k.pem",
                "--db",
                "state.db"
            ])
            .unwrap(),
            Command::Serve {
                listen: "[::1]:0".parse().unwrap(),
                policy: None,
                signing_key: Some("k.pem".into()),
                db: Some("state.db".into()),
            }
        );
        assert_eq!(parse(&["--policy", "x", "-h"]).unwrap(), Command::Help);
        assert_eq!(parse(&["-V"]).unwrap(), Command::Version);
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        assert!(parse(&["--listen"])
            .unwrap_err()
            .contains("`--listen` needs a value"));
        assert!(parse(&["--listen", "localhost"])
            .unwrap_err()
            .contains("IP:PORT"));
        assert!(parse(&["--port", "1"])
            .unwrap_err()
            .contains("unexpected argument `--port`"));
        assert!(parse(&["--policy", "a", "--policy", "b"])
            .unwrap_err()
            .contains("twice"));
        assert!(parse(&["--policy="]).unwrap_err().contains("needs a value"));
    }
}
