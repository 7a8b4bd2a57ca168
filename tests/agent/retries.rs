//! Retries, backoff, `Retry-After`, and timeouts. Retries are shown by
//! counting attempts and by the delays the agent computed (its `retrying a
//! TapPass call` debug events, see `support::recorders::record_retries`), never by the
//! time a call took; wall-clock appears only as a hang guard.

use super::*;
use support::recorders::record_retries;

#[tokio::test]
async fn retries_503_and_502_then_succeeds() {
    bounded(async {
        let (retries, _guard) = record_retries();
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::status(503))
            .push(CHAT, Reply::status(502))
            .push(CHAT, Reply::ok(chat_answer("third time")));
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        assert_eq!(answer.content, "third time");
        assert_eq!(server.hits(CHAT), 3);
        // Exponential from a 10 ms base, jittered within the upper half of
        // each ceiling: 5-10 ms, then 10-20 ms.
        let delays = retries.delays(CHAT);
        assert_eq!(delays.len(), 2, "{delays:?}");
        assert!((5 * MS..=10 * MS).contains(&delays[0]), "{delays:?}");
        assert!((10 * MS..=20 * MS).contains(&delays[1]), "{delays:?}");
    })
    .await
}

#[tokio::test]
async fn retries_exhausted_is_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::status(504));
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .max_retries(3)
            .retry_base_delay(5 * MS)
            .build()
            .unwrap();
        let err = agent.chat("hi").await.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert_eq!(server.hits(CHAT), 4, "max_retries + 1 attempts");
    })
    .await
}

#[tokio::test]
async fn plain_500_is_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::status(500));
        let err = agent(server.url()).chat("hi").await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    })
    .await
}

#[tokio::test]
async fn connection_refused_is_retried_then_unavailable() {
    bounded(async {
        let (retries, _guard) = record_retries();
        let refusing = Refusing::start();
        let agent = Agent::builder(refusing.url())
            .api_key(KEY)
            .max_retries(2)
            .retry_base_delay(20 * MS)
            .build()
            .unwrap();
        let err = agent.chat("hi").await.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        // The first call is the version check: three attempts, two backoffs
        // (10-20 ms, then 20-40 ms), and nothing after the last one.
        let retried: Vec<_> = retries
            .all()
            .into_iter()
            .map(|r| (r.path, r.attempt))
            .collect();
        assert_eq!(
            retried,
            [("/health".to_owned(), 0), ("/health".to_owned(), 1)]
        );
        let delays = retries.delays("/health");
        assert!((10 * MS..=20 * MS).contains(&delays[0]), "{delays:?}");
        assert!((20 * MS..=40 * MS).contains(&delays[1]), "{delays:?}");
    })
    .await
}

#[tokio::test]
async fn connection_refused_is_retried_until_the_server_comes_up() {
    bounded(async {
        let (retries, _guard) = record_retries();
        let refusing = Refusing::start();
        let agent = Agent::builder(refusing.url())
            .api_key(KEY)
            .max_retries(8)
            .retry_base_delay(10 * MS)
            .retry_max_delay(20 * MS)
            .build()
            .unwrap();
        let chat = tokio::spawn(async move { agent.chat("hi").await });
        // The server comes up on that port once two attempts were refused:
        // the agent is then sleeping before its third.
        retries.wait_for(2).await;
        let listener = refusing.listen();
        let app = axum::Router::new()
            .route(
                "/health",
                axum::routing::get(|| async { axum::Json(json!({"version": "0.6.0"})) }),
            )
            .route(
                CHAT,
                axum::routing::post(|| async { axum::Json(chat_answer("late")) }),
            );
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let answer = chat.await.unwrap().expect("chat after retries");
        assert_eq!(answer.content, "late");
        let retried: Vec<_> = retries
            .all()
            .into_iter()
            .map(|r| (r.path, r.attempt))
            .collect();
        assert_eq!(
            retried,
            [("/health".to_owned(), 0), ("/health".to_owned(), 1)],
            "the third attempt reached the server"
        );
        server.abort();
    })
    .await
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    bounded(async {
        let (retries, _guard) = record_retries();
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::status(429).header("retry-after", "1"))
            .push(CHAT, Reply::ok(chat_answer("after the wait")));
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        assert_eq!(answer.content, "after the wait");
        assert_eq!(server.hits(CHAT), 2);
        // The server's second, not the 5-10 ms the agent's own backoff gives.
        assert_eq!(retries.delays(CHAT), [Duration::from_secs(1)]);
    })
    .await
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    bounded(async {
        let server = TapPass::start().await;
        // HTTP dates have whole seconds: this is 1 to 2 s from now.
        let when = std::time::SystemTime::now() + Duration::from_secs(2);
        let date = Timestamp::from(when).to_http_date();
        server
            .push(CHAT, Reply::status(503).header("retry-after", date))
            .push(CHAT, Reply::ok(chat_answer("after the date")));
        let (retries, _guard) = record_retries();
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        assert_eq!(answer.content, "after the date");
        assert_eq!(server.hits(CHAT), 2);
        // Until the date: more than the agent's own 5-10 ms, at most 2 s.
        let delays = retries.delays(CHAT);
        assert_eq!(delays.len(), 1, "{delays:?}");
        assert!(
            (800 * MS..=Duration::from_secs(2)).contains(&delays[0]),
            "Retry-After date ignored: {delays:?}"
        );
    })
    .await
}

#[tokio::test]
async fn a_long_retry_after_is_capped_by_retry_max_delay() {
    bounded(async {
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::status(503).header("retry-after", "3600"))
            .push(CHAT, Reply::ok(chat_answer("soon")));
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .retry_max_delay(100 * MS)
            .build()
            .unwrap();
        let (retries, _guard) = record_retries();
        assert_eq!(agent.chat("hi").await.unwrap().content, "soon");
        assert_eq!(retries.delays(CHAT), [100 * MS]);
    })
    .await
}

#[tokio::test]
async fn plain_400_and_404_are_protocol_errors_never_retried() {
    bounded(async {
        for status in [400, 404, 409] {
            let server = TapPass::start().await;
            server.always(CHAT, Reply::status(status));
            let err = agent(server.url()).chat("hi").await.unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{status}: {err:?}");
            assert_eq!(server.hits(CHAT), 1, "{status} was retried");
        }
    })
    .await
}

#[tokio::test]
async fn status_401_and_403_are_authentication_errors() {
    bounded(async {
        for status in [401, 403] {
            let server = TapPass::start().await;
            server.always(CHAT, Reply::json(status, json!({"error": "invalid key"})));
            let err = agent(server.url()).chat("hi").await.unwrap_err();
            assert!(
                matches!(err, Error::Authentication { status: s, .. } if s == status),
                "{status}: {err:?}"
            );
            assert_eq!(server.hits(CHAT), 1);
        }
    })
    .await
}

#[tokio::test]
async fn a_hanging_server_times_out_as_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::hang());
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .timeout(200 * MS)
            .max_retries(0)
            .build()
            .unwrap();
        let started = Instant::now();
        let err = agent.chat("hi").await.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(err.to_string().contains("timed out"), "{err}");
    })
    .await
}

#[tokio::test]
async fn a_slow_but_timely_answer_is_fine() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(CHAT, Reply::ok(chat_answer("slow")).delay(50 * MS));
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .timeout(2000 * MS)
            .build()
            .unwrap();
        assert_eq!(agent.chat("hi").await.unwrap().content, "slow");
    })
    .await
}

/// `connect_timeout` bounds the TCP handshake. Loopback always answers a
/// SYN, except to a listener whose accept queue is full: Linux then drops
/// the SYN and the client waits in `SYN_SENT`. The test owns such a listener
/// (backlog 0, one connection queued and never accepted), checks that a
/// connection to it indeed does not complete, then shows the agent's call
/// ends with a connect timeout although its total `timeout` is a minute,
/// longer than the test's own bound: only `connect_timeout` can end it.
#[tokio::test]
async fn connect_timeout_bounds_a_handshake_that_never_completes() {
    bounded(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        // Fills the accept queue; the listener never accepts it.
        let _queued = tokio::net::TcpStream::connect(addr)
            .await
            .expect("the first connection is queued");
        let hangs = tokio::time::timeout(300 * MS, tokio::net::TcpStream::connect(addr)).await;
        assert!(
            hangs.is_err(),
            "a connection to a full accept queue completed: {hangs:?}"
        );

        let (retries, _guard) = record_retries();
        let agent = Agent::builder(format!("http://{addr}"))
            .api_key(KEY)
            .connect_timeout(200 * MS)
            .timeout(Duration::from_secs(60))
            .max_retries(1)
            .retry_base_delay(10 * MS)
            .build()
            .unwrap();
        let err = agent.chat("hi").await.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert!(err.to_string().contains("timed out"), "{err}");
        // Each attempt of the version check timed out on its own.
        let retried: Vec<_> = retries
            .all()
            .into_iter()
            .map(|r| (r.path, r.attempt))
            .collect();
        assert_eq!(retried, [("/health".to_owned(), 0)]);
        drop(listener);
    })
    .await
}
