//! 5,000 governed calls through a served service behind `TapPassLayer`,
//! each with an audit event of its own, while the dev server (with `--db`)
//! answers 503, hangs, stops and restarts on its file; in each mode. After
//! the run and the flush, the dev server holds every event exactly once;
//! no call went through in `fail_closed`; no call the policy blocks went
//! through in `fail_open_cached`; every degraded call is marked in its
//! response, its `X-TapPass-Degraded` header and its `degraded_call` event.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tappass::agent::AuditEvent;
use tappass::resilience::{Mode, Resilience};
use tappass::{Agent, TapPassLayer};
use tappass_dev::{Availability, DevServer};

use super::support::services::serve;
use super::support::within;
use super::{resilient_agent, TempDir, MS};

const CALLS: usize = 5_000;
/// The callers' sessions, which the calls join in turn: the last-known-good
/// cache keys on the session, so its allows are reused within one.
const SESSIONS: usize = 10;

/// What call `n` is: its kind cycles so that every kind meets every fault,
/// and its arguments repeat, so that `fail_open_cached` has allows to reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `search`, allowed by the default policy.
    AllowedTool,
    /// `delete_database`, blocked by it.
    BlockedTool,
    /// A plain prompt, allowed.
    AllowedChat,
    /// A prompt with an SSN, blocked.
    BlockedChat,
}

impl Kind {
    fn of(n: usize) -> Kind {
        match n % 4 {
            0 => Kind::AllowedTool,
            1 => Kind::AllowedChat,
            2 => Kind::BlockedTool,
            _ => Kind::BlockedChat,
        }
    }

    fn blocked(self) -> bool {
        matches!(self, Kind::BlockedTool | Kind::BlockedChat)
    }
}

#[derive(Deserialize)]
struct CallIn {
    n: usize,
}

/// The service's one route: call `n`'s governed call and its audit event.
async fn call(agent: Agent, Json(input): Json<CallIn>) -> Result<Json<Value>, tappass::Error> {
    let n = input.n;
    let session = tappass::current_session().expect("the caller's session");
    agent.report(AuditEvent::new("test_event", &session, json!({ "id": n })));
    // Ten distinct calls of each kind: the cache has something to reuse.
    let k = n / 4 % 10;
    let degraded = match Kind::of(n) {
        Kind::AllowedTool => agent
            .govern_tool("search", json!({ "q": k }))
            .await?
            .degraded(),
        Kind::BlockedTool => agent
            .govern_tool("delete_database", json!({ "name": k }))
            .await?
            .degraded(),
        Kind::AllowedChat => agent.chat(format!("hello {k}")).await?.degraded(),
        Kind::BlockedChat => agent
            .chat(format!("my ssn is 123-45-6789, call {k}"))
            .await?
            .degraded(),
    };
    Ok(Json(json!({ "degraded": degraded.map(|d| d.as_str()) })))
}

/// One call as the test's client saw it.
#[derive(Debug)]
struct Seen {
    status: u16,
    session: String,
    header: Option<String>,
    body_degraded: Option<String>,
    /// Whether the dev server had been up for [`SETTLING`] when the call was
    /// sent: long enough for the breaker to have closed again (it stays open
    /// 200 ms, and a probe that hung answers 503 when the hang ends, which
    /// opens it once more).
    steady: bool,
}

/// How long after the dev server comes back a call may still find the
/// breaker open.
const SETTLING: Duration = Duration::from_millis(1000);

/// Where the run is, by call number.
fn phase(n: usize) -> Option<Availability> {
    match n {
        1000 => Some(Availability::Unavailable),
        1500 | 2500 => Some(Availability::Available),
        2000 => Some(Availability::Hanging),
        _ => None,
    }
}

/// The whole run in one mode.
async fn run(resilience: Resilience) {
    let mode = resilience.clone();
    let dir = TempDir::new(&format!("faults-{}", mode.mode()));
    let db = dir.path().join("dev.db");
    let spool = dir.path().join("spool");
    let mut dev = DevServer::builder()
        .db(&db)
        .start()
        .await
        .expect("dev server");
    let addr: SocketAddr = dev.addr();
    let agent = resilient_agent(
        &dev.url(),
        resilience.failure_threshold(3).open_for(200 * MS),
        Some(&spool),
    );
    let layer = TapPassLayer::builder()
        .agent(agent.clone())
        .auto_open_session(false)
        .build()
        .expect("layer");
    let service = serve(Router::new().route("/call", post(call)).layer(layer)).await;
    let client = reqwest::Client::new();
    let mut seen = Vec::with_capacity(CALLS);
    let mut server_up = true;
    let mut up_since = Instant::now() - SETTLING;
    let started = Instant::now();
    for n in 0..CALLS {
        if let Some(availability) = phase(n) {
            dev.set_availability(availability);
            server_up = availability == Availability::Available;
            up_since = Instant::now();
        }
        if n == 3000 {
            dev.clone().shutdown().await;
            server_up = false;
        }
        if n == 3500 {
            dev = DevServer::builder()
                .db(&db)
                .listen(addr)
                .start()
                .await
                .expect("the dev server restarts on its file and port");
            server_up = true;
            up_since = Instant::now();
        }
        let steady = server_up && up_since.elapsed() >= SETTLING;
        let response = client
            .post(format!("{}/call", service.url()))
            .header(
                "x-tappass-session-id",
                format!("ses_fault_{}", n % SESSIONS),
            )
            .json(&json!({ "n": n }))
            .send()
            .await
            .expect("the service answers");
        let status = response.status().as_u16();
        let header = response
            .headers()
            .get("x-tappass-degraded")
            .map(|v| v.to_str().expect("text").to_owned());
        let session = response
            .headers()
            .get("x-tappass-session-id")
            .expect("the layer echoes the session")
            .to_str()
            .expect("text")
            .to_owned();
        let body: Value = response.json().await.expect("JSON");
        seen.push(Seen {
            status,
            session,
            header,
            body_degraded: body
                .get("degraded")
                .and_then(Value::as_str)
                .map(str::to_owned),
            steady,
        });
    }
    let calls_took = started.elapsed();

    // Everything reported and spooled reaches the server once it is up.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        agent.flush_events().await;
        if agent.spooled_events() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the spool did not drain: {} left",
            agent.spooled_events()
        );
        tokio::time::sleep(50 * MS).await;
    }
    assert_eq!(agent.dropped_events(), 0, "no audit event was lost");

    // The events on the dev server, by session and type.
    let events = dev.events();
    let mut ids: BTreeMap<u64, usize> = BTreeMap::new();
    // Per session: the calls the server governed and let through, and the
    // degraded calls recorded, by reason.
    let mut governed: HashMap<String, usize> = HashMap::new();
    let mut recorded: HashMap<(String, String), usize> = HashMap::new();
    for event in &events {
        let session = event["session_id"].as_str().unwrap_or_default().to_owned();
        let details = &event["details"];
        match event["event_type"].as_str() {
            Some("test_event") => {
                *ids.entry(details["id"].as_u64().expect("an id"))
                    .or_default() += 1;
            }
            Some("chat_call") => *governed.entry(session).or_default() += 1,
            Some("tool_call") if details["outcome"] == "allow" => {
                *governed.entry(session).or_default() += 1;
            }
            Some("degraded_call") => {
                let reason = details["reason"].as_str().expect("a reason").to_owned();
                *recorded.entry((session, reason)).or_default() += 1;
            }
            _ => {}
        }
    }
    let twice: Vec<_> = ids.iter().filter(|(_, count)| **count != 1).collect();
    assert!(
        twice.is_empty(),
        "events recorded more than once: {twice:?}"
    );
    assert_eq!(
        ids.keys().copied().collect::<Vec<_>>(),
        (0..CALLS as u64).collect::<Vec<_>>(),
        "every call's audit event, exactly once"
    );

    let mut degraded = 0;
    let mut failed_closed = 0;
    let mut went_through: HashMap<String, usize> = HashMap::new();
    let mut marked: HashMap<(String, String), usize> = HashMap::new();
    for (n, call) in seen.iter().enumerate() {
        let kind = Kind::of(n);
        match (&call.header, &call.body_degraded) {
            (Some(header), Some(body)) => {
                degraded += 1;
                assert_eq!(call.status, 200, "call {n}");
                assert_eq!(
                    header, body,
                    "call {n}: the header says what the response says"
                );
                assert!(!call.steady, "call {n}: degraded while the server was up");
                *marked
                    .entry((call.session.clone(), header.clone()))
                    .or_default() += 1;
                match mode.mode() {
                    Mode::FailClosed => panic!("call {n} went through ungoverned in fail_closed"),
                    Mode::FailOpenCached => {
                        assert_eq!(header, "cached", "call {n}");
                        assert!(
                            !kind.blocked(),
                            "call {n}: a blocked call went through in fail_open_cached"
                        );
                    }
                    _ => assert_eq!(header, "ungoverned", "call {n}"),
                }
            }
            (None, None) => match call.status {
                200 => {
                    assert!(!kind.blocked(), "call {n}: a blocked call answered 200");
                    *went_through.entry(call.session.clone()).or_default() += 1;
                }
                403 => assert!(kind.blocked(), "call {n}: {kind:?} refused"),
                503 => {
                    failed_closed += 1;
                    assert!(
                        !call.steady,
                        "call {n}: failed closed while the server was up"
                    );
                }
                other => panic!("call {n}: status {other}"),
            },
            other => panic!("call {n}: the header and the body disagree: {other:?}"),
        }
    }
    // Every call that went through undegraded was governed by the server,
    // and every degraded call has its event, once, in its session.
    assert_eq!(
        went_through, governed,
        "calls let through vs calls the server governed"
    );
    assert_eq!(
        marked, recorded,
        "degraded calls vs their degraded_call events"
    );
    match mode.mode() {
        Mode::FailClosed => assert_eq!(degraded, 0),
        Mode::FailOpenLogged => assert_eq!(failed_closed, 0, "every call went through"),
        _ => assert!(degraded > 0, "the cache was used"),
    }
    assert!(failed_closed > 0 || mode.mode() == Mode::FailOpenLogged);
    println!(
        "{}: {CALLS} calls in {calls_took:?}, {degraded} degraded, {failed_closed} failed closed, {} events on the server",
        mode.mode(),
        events.len()
    );
    dev.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_calls_through_outages_fail_closed() {
    within(Duration::from_secs(120), run(Resilience::fail_closed())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_calls_through_outages_fail_open_cached() {
    within(
        Duration::from_secs(120),
        run(Resilience::fail_open_cached(Duration::from_secs(600))),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_calls_through_outages_fail_open_logged() {
    within(
        Duration::from_secs(120),
        run(Resilience::fail_open_logged()),
    )
    .await;
}
