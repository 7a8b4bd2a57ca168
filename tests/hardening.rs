//! The client side of "nothing a server sends can crash, stall or get a call
//! past governance": the agent against hostile or broken servers over real
//! sockets, with property tests over the whole input space.

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use proptest::prelude::*;
use serde_json::{json, Value};
use support::{bounded, chat_answer, event, RawSse, Reply, TapPass, CHAT, KEY};
use tappass::{Agent, ChatChunk, Error};

const MS: Duration = Duration::from_millis(1);

fn agent(url: &str) -> Agent {
    Agent::builder(url)
        .api_key(KEY)
        .max_retries(2)
        .retry_base_delay(10 * MS)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("agent")
}

/// A runtime for property tests, whose cases are synchronous.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn collect(stream: tappass::agent::ChatStream) -> Vec<Result<ChatChunk, Error>> {
    stream.collect().await
}

// ---- SSE: linear in the bytes, whatever the chunking ------------------------

/// One SSE event of 256 KiB: a quarter of the parser's 1 MiB limit, whose
/// acceptance just under the limit `agent::stream`'s unit tests show.
fn big_event() -> (String, String) {
    let content = "x".repeat(256 * 1024);
    let body = event(json!({"content": content, "finish_reason": "stop"})) + "data: [DONE]\n\n";
    (content, body)
}

/// Streams `chunks` (one HTTP chunk each) from a fresh raw server; the
/// items and how long the stream took from its first byte to its end.
async fn time_stream(chunks: Vec<Vec<u8>>) -> (Vec<Result<ChatChunk, Error>>, Duration) {
    let server = RawSse::start(chunks).await;
    let agent = agent(server.url());
    let stream = agent.stream("hi").await.expect("stream");
    let started = Instant::now();
    let items = collect(stream).await;
    (items, started.elapsed())
}

/// A 256 KiB event sent one byte per HTTP chunk, through the whole pipeline
/// (hyper, reqwest, the agent's stream and its parser), parses in time
/// proportional to its size. Compared in the same run: the same event in one
/// chunk, and the same one-byte chunks carried by the transport alone (read
/// with reqwest, no parsing), which is what any client pays for such a
/// server. A pipeline that rescans or copies its buffer on each chunk needs
/// about 3 * 10^10 byte operations here: minutes in a debug build, against
/// seconds for the transport, so the 10x margin still catches it.
///
/// Each HTTP chunk costs the transport some 20 µs in a debug build: a 1 MiB
/// event took 55 s here, this one a quarter of it. The parser alone is fed
/// a 1 MiB event byte by byte, in process, in `agent::stream`'s unit tests.
#[test]
fn a_256_kib_event_in_1_byte_chunks_parses_in_linear_time() {
    const HANG_GUARD: Duration = Duration::from_secs(600);
    let (content, body) = big_event();
    let runtime = runtime();
    let bytes: Vec<Vec<u8>> = body.bytes().map(|b| vec![b]).collect();
    let (whole, one_chunk) = runtime.block_on(time_stream(vec![body.clone().into_bytes()]));
    let transport = runtime.block_on(async {
        let server = RawSse::start(bytes.clone()).await;
        let mut response = reqwest::get(format!("{}{CHAT}", server.url()))
            .await
            .expect("answer");
        let started = Instant::now();
        let mut n = 0;
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            n += chunk.len();
        }
        assert_eq!(n, body.len());
        started.elapsed()
    });
    let (split, byte_chunks) = runtime
        .block_on(async { tokio::time::timeout(HANG_GUARD, time_stream(bytes)).await })
        .expect("no hang");
    eprintln!(
        "256 KiB event: one chunk {one_chunk:?}; one-byte chunks {byte_chunks:?}, of which the transport alone {transport:?}"
    );
    for items in [&whole, &split] {
        assert_eq!(items.len(), 1, "one chunk, then [DONE]");
        let chunk = items[0].as_ref().expect("a chunk");
        assert_eq!(chunk.content.len(), content.len());
        assert_eq!(chunk.content, content);
    }
    assert!(
        byte_chunks < 10 * (transport + one_chunk),
        "one-byte chunks took {byte_chunks:?}: not linear (one chunk {one_chunk:?}, transport alone {transport:?})"
    );
}

/// A valid stream of a few events with their `data:` lines, comments and
/// line endings varied.
fn valid_stream() -> impl Strategy<Value = (Vec<String>, String)> {
    let text = "[ -~]{0,40}|[\\PC]{0,12}";
    let item = (text, any::<bool>(), any::<bool>(), any::<bool>());
    prop::collection::vec(item, 1..6).prop_map(|items| {
        let mut body = String::new();
        let mut contents = Vec::new();
        let n = items.len();
        for (i, (content, crlf, comment, openai)) in items.into_iter().enumerate() {
            let eol = if crlf { "\r\n" } else { "\n" };
            if comment {
                body.push_str(&format!(": keep-alive{eol}event: message{eol}"));
            }
            let last = i + 1 == n;
            let mut chunk = if openai {
                json!({"choices": [{"index": 0, "delta": {"content": content}}]})
            } else {
                json!({"content": content})
            };
            if last {
                chunk["finish_reason"] = json!("stop");
            }
            body.push_str(&format!("data: {chunk}{eol}{eol}"));
            contents.push(content);
        }
        body.push_str("data: [DONE]\n\n");
        (contents, body)
    })
}

/// Splits `body` at these positions (each taken modulo its length).
fn split_at(body: &[u8], mut cuts: Vec<usize>) -> Vec<Vec<u8>> {
    if body.is_empty() {
        return Vec::new();
    }
    for cut in &mut cuts {
        *cut %= body.len();
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([body.len()]) {
        if cut > from {
            pieces.push(body[from..cut].to_vec());
            from = cut;
        }
    }
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// However the server splits a valid stream into HTTP chunks (inside
    /// a UTF-8 character, a `data:` prefix or a CRLF included), the agent
    /// yields the same chunks in the same order.
    #[test]
    fn any_chunking_of_a_valid_stream_gives_the_same_chunks(
        (contents, body) in valid_stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
        one_byte in any::<bool>(),
    ) {
        let pieces = if one_byte {
            body.bytes().map(|b| vec![b]).collect()
        } else {
            split_at(body.as_bytes(), cuts)
        };
        let (items, _) = runtime().block_on(bounded(time_stream(pieces)));
        let got: Vec<String> = items
            .into_iter()
            .map(|item| item.map(|chunk| chunk.content))
            .collect::<Result<_, _>>()
            .map_err(|err| TestCaseError::fail(format!("{err}")))?;
        prop_assert_eq!(got, contents);
    }
}

// ---- every wait is bounded ---------------------------------------------------

/// A stream request answered with plain JSON that then stalls fails within
/// the timeout instead of waiting for ever.
#[tokio::test]
async fn a_json_answer_to_a_stream_that_stalls_times_out() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.push(
            CHAT,
            Reply::stalled("application/json", [r#"{"choices": [{"mess"#.to_owned()]),
        );
        let agent = Agent::builder(tappass.url())
            .api_key(KEY)
            .max_retries(0)
            .timeout(300 * MS)
            .build()
            .expect("agent");
        let started = Instant::now();
        let err = agent.stream("hi").await.expect_err("a stalled answer");
        assert!(err.is_unavailable(), "{err:?}");
        assert!(err.to_string().contains("stalled"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    })
    .await
}

const WAIT: &str = "/v1/me/approvals/apr_1/wait";

/// A server that answers `/wait` at once (no long-poll) is polled about once
/// a second, not in a tight loop.
#[tokio::test]
async fn a_wait_answered_at_once_is_polled_at_most_once_a_second() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.always(WAIT, Reply::json(408, json!({"state": "pending"})));
        let max_wait = 2500 * MS;
        let started = Instant::now();
        let approval = agent(tappass.url())
            .wait_for_approval("apr_1", max_wait)
            .await
            .expect("pending is an answer");
        let took = started.elapsed();
        assert_eq!(approval.state, tappass::agent::ApprovalState::Pending);
        let polls = tappass.hits(WAIT);
        // Polls start at 0, 1 and 2 s (fewer on a loaded machine); a tight
        // loop would make thousands.
        assert!((1..=4).contains(&polls), "{polls} polls in {took:?}");
        assert!(took >= max_wait - 100 * MS, "gave up early: {took:?}");
    })
    .await
}

/// `Retry-After` on a pending answer spaces the polls as the server asks.
#[tokio::test]
async fn a_wait_honours_retry_after() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.always(
            WAIT,
            Reply::json(200, json!({"state": "pending"})).header("retry-after", "2"),
        );
        let approval = agent(tappass.url())
            .wait_for_approval("apr_1", 3 * Duration::from_secs(1))
            .await
            .expect("pending is an answer");
        assert_eq!(approval.state, tappass::agent::ApprovalState::Pending);
        let polls = tappass.hits(WAIT);
        assert!(
            (1..=2).contains(&polls),
            "{polls} polls: Retry-After: 2 ignored"
        );
    })
    .await
}

/// The time `wait_for_approval` may take, with `Duration::MAX` among it:
/// an answer, never a panic (no `Instant + Duration` overflow).
#[test]
fn any_max_wait_gives_an_answer_not_a_panic() {
    let runtime = runtime();
    let tappass = runtime.block_on(TapPass::start());
    tappass.always(
        WAIT,
        Reply::ok(json!({"request_id": "apr_1", "state": "approved"})),
    );
    let agent = agent(tappass.url());
    let check = |max_wait: Duration| {
        let approval = runtime
            .block_on(bounded(agent.wait_for_approval("apr_1", max_wait)))
            .expect("an answer");
        assert_eq!(approval.state, tappass::agent::ApprovalState::Approved);
    };
    for max_wait in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
        check(max_wait);
    }
    proptest!(ProptestConfig::with_cases(64), |(secs in any::<u64>(), nanos in 0u32..1_000_000_000)| {
        check(Duration::new(secs, nanos));
    });
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..10_000_000_000).prop_map(Duration::from_nanos),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any timeouts and delays a caller can give the builder: an agent or a
    /// configuration error, and then a call that answers or fails, never a
    /// panic (in a debug build, where overflow panics).
    #[test]
    fn any_builder_durations_give_an_agent_or_an_error(
        timeout in any_duration(),
        connect_timeout in any_duration(),
        base_delay in any_duration(),
        max_delay in any_duration(),
    ) {
        let runtime = runtime();
        runtime.block_on(bounded(async {
            let tappass = TapPass::start().await;
            tappass.always(CHAT, Reply::ok(chat_answer("fine")));
            let built = Agent::builder(tappass.url())
                .api_key(KEY)
                .timeout(timeout)
                .connect_timeout(connect_timeout)
                .retry_base_delay(base_delay)
                .retry_max_delay(max_delay)
                .max_retries(0)
                .build();
            let agent = match built {
                Ok(agent) => agent,
                Err(Error::Config(message)) => {
                    assert!(timeout.is_zero() || connect_timeout.is_zero(), "{message}");
                    return;
                }
                Err(other) => panic!("{other:?}"),
            };
            match agent.chat("hi").await {
                Ok(answer) => assert_eq!(answer.content, "fine"),
                // A timeout of a few nanoseconds cannot be met.
                Err(err) => assert!(err.is_unavailable(), "{err:?}"),
            }
        }));
    }
}

// ---- fail-open never bypasses a server that is alive --------------------------

fn fail_open_agent(url: &str) -> Agent {
    Agent::builder(url)
        .api_key(KEY)
        .max_retries(2)
        .retry_base_delay(10 * MS)
        .fail_open(true)
        .build()
        .expect("agent")
}

/// A fail-open agent lets a chat and a tool call through when the server
/// answers 5xx without a decision; a 429, on any attempt of the call, it
/// never does.
#[tokio::test]
async fn fail_open_covers_5xx_but_never_a_429() {
    bounded(async {
        let tappass = TapPass::start().await;
        let agent = fail_open_agent(tappass.url());
        tappass.always(CHAT, Reply::status(503));
        tappass.always("/v1/govern", Reply::status(502));
        assert!(agent.chat("hi").await.expect("fails open").degraded);
        let verdict = agent.govern_tool("t", json!({})).await.expect("fails open");
        assert!(verdict.degraded);

        // 429 on every attempt, 429 then 503 or 500, 503 then 429: all fail closed.
        let scripts: [&[u16]; 4] = [
            &[429, 429, 429],
            &[429, 503, 503],
            &[429, 500],
            &[503, 503, 429],
        ];
        for script in scripts {
            for path in [CHAT, "/v1/govern"] {
                for &status in script {
                    tappass.push(path, Reply::status(status).header("retry-after", "0"));
                }
            }
            let err = agent.chat("hi").await.expect_err("a 429 never fails open");
            assert!(err.is_rate_limited(), "{script:?}: {err:?}");
            assert!(!err.is_unavailable());
            let err = agent
                .govern_tool("t", json!({}))
                .await
                .expect_err("a 429 never fails open");
            assert!(err.is_rate_limited(), "{script:?}: {err:?}");
        }
    })
    .await
}

// ---- ids in URL paths stay one segment ---------------------------------------

/// A server with the approval routes, which records the id its router
/// extracted (percent-decoded) from the one path segment.
async fn approvals_server() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tokio::task::JoinHandle<()>,
) {
    use axum::extract::{Path, State};
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    async fn row(
        State(seen): State<Arc<Mutex<Vec<String>>>>,
        Path(id): Path<String>,
    ) -> axum::Json<Value> {
        seen.lock().unwrap().push(id.clone());
        axum::Json(json!({"request_id": id, "state": "approved"}))
    }
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(|| async { axum::Json(json!({"version": "0.6.3"})) }),
        )
        .route("/v1/me/approvals/{id}", axum::routing::get(row))
        .route("/v1/me/approvals/{id}/wait", axum::routing::get(row))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (url, seen, task)
}

/// Any id (slashes, `%`, `?`, `#`, dots, spaces, non-ASCII, controls) reaches
/// the server as exactly one path segment that decodes to the whole id.
#[test]
fn any_approval_id_is_exactly_one_path_segment() {
    let runtime = runtime();
    let (url, seen, _task) = runtime.block_on(approvals_server());
    let agent = agent(&url);
    let check = |id: &str| {
        seen.lock().unwrap().clear();
        let approval = runtime
            .block_on(bounded(agent.approval(id)))
            .unwrap_or_else(|err| panic!("{id:?}: {err}"));
        assert_eq!(approval.state, tappass::agent::ApprovalState::Approved);
        let waited = runtime
            .block_on(bounded(agent.wait_for_approval(id, Duration::from_secs(1))))
            .unwrap_or_else(|err| panic!("{id:?}: {err}"));
        assert_eq!(waited.request_id, id);
        assert_eq!(*seen.lock().unwrap(), [id, id], "the server saw another id");
    };
    for id in [
        "a/b", "../admin", "%2e%2e", "..%2F..", "a?b#c", "a b", ".x", "x..", "...", "é✓", "apr_1",
    ] {
        check(id);
    }
    proptest!(ProptestConfig::with_cases(64), |(id in any::<String>())| {
        prop_assume!(!matches!(id.as_str(), "" | "." | ".."));
        check(&id);
    });
}

/// Ids a URL would resolve to another route are refused with a clear error,
/// and nothing is sent.
#[tokio::test]
async fn empty_dot_and_dot_dot_ids_are_refused_before_sending() {
    bounded(async {
        let tappass = TapPass::start().await;
        let agent = agent(tappass.url());
        for id in ["", ".", ".."] {
            let err = agent.approval(id).await.expect_err("refused");
            assert!(matches!(err, Error::Config(_)), "{id:?}: {err:?}");
            assert!(
                err.to_string().contains("cannot be put in a URL path"),
                "{err}"
            );
            let err = agent
                .wait_for_approval(id, Duration::from_secs(1))
                .await
                .expect_err("refused");
            assert!(matches!(err, Error::Config(_)), "{id:?}: {err:?}");
        }
        assert!(tappass.requests().is_empty(), "{:?}", tappass.requests());
    })
    .await
}

/// The default approval link of a `needs_approval` verdict names the id as
/// one segment too.
#[tokio::test]
async fn the_default_approval_url_encodes_the_id() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "needs_approval", "reason": "ask", "approval": {"request_id": "a/../b?c"}})),
        );
        let err = agent(tappass.url())
            .govern_tool("t", json!({}))
            .await
            .expect_err("an approval decision");
        let Some(tappass::GovernanceDecision::ApprovalRequired(approval)) = err.decision() else {
            panic!("{err:?}");
        };
        assert_eq!(
            approval.approval_url.as_deref(),
            Some(format!("{}/v1/me/approvals/a%2F..%2Fb%3Fc", tappass.url()).as_str())
        );
        assert_eq!(approval.resume_token.as_deref(), Some("a/../b?c"));
    })
    .await
}

// ---- no credentials in the base URL -------------------------------------------

const PASSWORD: &str = "hunter2SECRETpw";

/// A base URL with user info is refused at build, and neither the error nor
/// the builder's `Debug` shows the password, whatever else is wrong with it.
#[test]
fn a_base_url_with_user_info_is_refused_without_showing_it() {
    let shapes = [
        format!("https://user:{PASSWORD}@tappass.example.com"),
        format!("https://user:{PASSWORD}@tappass.example.com/"),
        format!("http://:{PASSWORD}@127.0.0.1:9620"),
        format!("https://{PASSWORD}@tappass.example.com"),
        format!("https://user:{PASSWORD}@tappass.example.com/?q=1"),
        format!("https://user:{PASSWORD}@tappass.example.com#f"),
        format!("ftp://user:{PASSWORD}@tappass.example.com"),
        format!("https://user:{PASSWORD}@"),
        format!("https://user:{PASSWORD}@bad host"),
        format!("  https://user:{PASSWORD}@tappass.example.com  "),
    ];
    for url in shapes {
        let builder = Agent::builder(&url).api_key(KEY);
        let debug = format!("{builder:?}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        let err = builder.build().expect_err(&url);
        assert!(matches!(err, Error::Config(_)), "{url}: {err:?}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(PASSWORD), "{url}: {text}");
        }
    }
    let err = Agent::new(format!("https://user:{PASSWORD}@tappass.example.com"), KEY)
        .expect_err("refused");
    assert!(err.to_string().contains("user info"), "{err}");
    proptest!(|(user in "[A-Za-z0-9._~-]{0,12}", password in "[A-Za-z0-9._~!$&'()*+,;=-]{1,20}")| {
        let password = format!("PW{password}");
        let url = format!("https://{user}:{password}@tappass.example.com");
        let builder = Agent::builder(&url).api_key(KEY);
        let debug = format!("{:?}", builder);
        prop_assert!(!debug.contains(&password));
        let err = builder.build().expect_err("refused");
        let text = format!("{} {:?}", err, err);
        prop_assert!(!text.contains(&password));
    });
}

// ---- Idempotency-Key -----------------------------------------------------------

fn keys(tappass: &TapPass, path: &str) -> Vec<String> {
    tappass
        .requests_to(path)
        .iter()
        .map(|r| {
            r.header("idempotency-key")
                .expect("an Idempotency-Key")
                .to_owned()
        })
        .collect()
}

fn assert_key_format(key: &str) {
    assert_eq!(key.len(), 32, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
}

/// Every POST carries an `Idempotency-Key`; a retry carries the same one, a
/// new call a new one: chat, govern and audit batches.
#[tokio::test]
async fn every_post_carries_one_idempotency_key_per_call_kept_across_retries() {
    bounded(async {
        let tappass = TapPass::start().await;
        let agent = agent(tappass.url());
        tappass
            .push(CHAT, Reply::status(503))
            .push(CHAT, Reply::ok(chat_answer("first")))
            .push(CHAT, Reply::ok(chat_answer("second")));
        tappass.push("/v1/govern", Reply::status(503)).always(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "ok"})),
        );
        tappass
            .push("/v1/events", Reply::status(503))
            .always("/v1/events", Reply::ok(json!({"accepted": 1})));

        assert_eq!(agent.chat("one").await.expect("chat").content, "first");
        assert_eq!(agent.chat("two").await.expect("chat").content, "second");
        agent.govern_tool("t", json!({})).await.expect("allowed");
        agent.govern_tool("t", json!({})).await.expect("allowed");
        let session = tappass::Session::open();
        agent.report(tappass::agent::AuditEvent::new("one", &session, json!({})));
        agent.flush_events().await;
        agent.report(tappass::agent::AuditEvent::new("two", &session, json!({})));
        agent.flush_events().await;
        assert_eq!(agent.dropped_events(), 0);

        for path in [CHAT, "/v1/govern", "/v1/events"] {
            let keys = keys(&tappass, path);
            assert_eq!(
                keys.len(),
                3,
                "{path}: a failed attempt, its retry, another call"
            );
            keys.iter().for_each(|k| assert_key_format(k));
            assert_eq!(keys[0], keys[1], "{path}: a retry keeps its key");
            assert_ne!(keys[1], keys[2], "{path}: a new call gets a new key");
        }
        let health = tappass.requests_to("/health");
        assert!(!health.is_empty(), "the version was checked");
        assert!(health.iter().all(|r| r.header("idempotency-key").is_none()));
    })
    .await
}

// ---- the audit reporter outlives a runtime -------------------------------------

/// An agent that reported from a runtime that is gone still delivers what it
/// reports from another: the reporter starts again on the new one.
#[test]
fn the_audit_reporter_survives_the_runtime_that_started_it() {
    let main = runtime();
    let dev = main
        .block_on(tappass_dev::DevServer::start())
        .expect("dev server");
    let agent = Agent::new(dev.url(), KEY).expect("agent");
    let session = tappass::Session::open();

    // A short-lived runtime reports, delivers, and is dropped.
    let short = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    short.block_on(async {
        agent.report(tappass::agent::AuditEvent::new(
            "from_the_short_runtime",
            &session,
            json!({}),
        ));
        agent.flush_events().await;
    });
    drop(short);

    main.block_on(bounded(async {
        agent.report(tappass::agent::AuditEvent::new(
            "from_the_main_runtime",
            &session,
            json!({}),
        ));
        agent.flush_events().await;
    }));
    let types: Vec<String> = dev
        .events_for_session(session.id())
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(types, ["from_the_short_runtime", "from_the_main_runtime"]);
    assert_eq!(agent.dropped_events(), 0);
}

/// What the dead runtime's task still held is counted as dropped, not lost
/// silently; later events are delivered.
#[test]
fn events_held_by_a_dead_runtime_are_counted_and_later_ones_delivered() {
    let main = runtime();
    let dev = main
        .block_on(tappass_dev::DevServer::start())
        .expect("dev server");
    let agent = Agent::new(dev.url(), KEY).expect("agent");
    let session = tappass::Session::open();

    let short = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    short.block_on(async {
        agent.report(tappass::agent::AuditEvent::new(
            "never_sent",
            &session,
            json!({}),
        ));
    });
    drop(short);
    assert_eq!(agent.dropped_events(), 1);

    main.block_on(bounded(async {
        agent.report(tappass::agent::AuditEvent::new(
            "delivered",
            &session,
            json!({}),
        ));
        agent.flush_events().await;
    }));
    let types: Vec<String> = dev
        .events_for_session(session.id())
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(types, ["delivered"]);
    assert_eq!(agent.dropped_events(), 1);
}
