//! Retries, backoff, `Retry-After`, and timeouts.

use super::*;

#[tokio::test]
async fn retries_503_and_502_then_succeeds() {
    bounded(async {
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::status(503))
            .push(CHAT, Reply::status(502))
            .push(CHAT, Reply::ok(chat_answer("third time")));
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        assert_eq!(answer.content, "third time");
        assert_eq!(server.hits(CHAT), 3);
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
        let refusing = Refusing::start();
        let agent = Agent::builder(refusing.url())
            .api_key(KEY)
            .max_retries(2)
            .retry_base_delay(100 * MS)
            .build()
            .unwrap();
        let started = Instant::now();
        let err = agent.chat("hi").await.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        // Two backoffs of at least half their ceilings (100 ms, 200 ms).
        assert!(
            started.elapsed() >= 150 * MS,
            "not retried: {:?}",
            started.elapsed()
        );
    })
    .await
}

#[tokio::test]
async fn connection_refused_is_retried_until_the_server_comes_up() {
    bounded(async {
        let refusing = Refusing::start();
        let url = refusing.url().to_owned();
        // The server comes up on that port after the first attempts failed.
        let late = tokio::spawn(async move {
            tokio::time::sleep(150 * MS).await;
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
            axum::serve(listener, app).await.unwrap();
        });
        let agent = Agent::builder(&url)
            .api_key(KEY)
            .max_retries(8)
            .retry_base_delay(50 * MS)
            .retry_max_delay(100 * MS)
            .build()
            .unwrap();
        let answer = agent.chat("hi").await.expect("chat after retries");
        assert_eq!(answer.content, "late");
        late.abort();
    })
    .await
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    bounded(async {
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::status(429).header("retry-after", "1"))
            .push(CHAT, Reply::ok(chat_answer("after the wait")));
        let started = Instant::now();
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        let elapsed = started.elapsed();
        assert_eq!(answer.content, "after the wait");
        assert!(elapsed >= 990 * MS, "Retry-After ignored: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
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
        let started = Instant::now();
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        let elapsed = started.elapsed();
        assert_eq!(answer.content, "after the date");
        assert!(elapsed >= 800 * MS, "Retry-After date ignored: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
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
        let started = Instant::now();
        assert_eq!(agent.chat("hi").await.unwrap().content, "soon");
        assert!(started.elapsed() < Duration::from_secs(2));
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
