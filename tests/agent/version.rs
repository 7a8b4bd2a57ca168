//! The version check on `/health`: once per agent, refused when too old.

use super::*;

#[tokio::test]
async fn old_missing_or_garbage_versions_are_refused() {
    bounded(async {
        for (version, named) in [
            (Some("0.5.9"), "0.5.9"),
            (None, "no version"),
            (Some("garbage"), "garbage"),
        ] {
            let server = TapPass::with_version(version).await;
            server.always(CHAT, Reply::ok(chat_answer("must not be reached")));
            let agent = agent(server.url());
            let err = agent.chat("hi").await.unwrap_err();
            let Error::Config(message) = &err else {
                panic!("{version:?}: {err:?}")
            };
            assert!(message.contains(named), "{version:?}: {message}");
            assert!(message.contains("0.6.0"), "says what is needed: {message}");
            assert_eq!(server.hits(CHAT), 0, "no chat sent to a refused server");
            // Streams are refused the same way.
            let err = agent.stream("hi").await.unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{err:?}");
            assert_eq!(agent.server_version(), None);
        }
    })
    .await
}

#[tokio::test]
async fn newer_and_prerelease_versions_are_accepted() {
    bounded(async {
        for version in ["0.6.0", "0.6.0-rc.1", "0.7.2+build.5", "1.0.0"] {
            let server = TapPass::with_version(Some(version)).await;
            server.always(CHAT, Reply::ok(chat_answer("ok")));
            let agent = agent(server.url());
            agent
                .chat("hi")
                .await
                .unwrap_or_else(|e| panic!("{version}: {e}"));
            assert_eq!(agent.server_version(), Some(version));
        }
    })
    .await
}

#[tokio::test]
async fn version_is_checked_once_per_agent() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        let agent = agent(server.url());
        agent.chat("one").await.unwrap();
        agent.chat("two").await.unwrap();
        agent.clone().chat("three, from a clone").await.unwrap();
        assert_eq!(server.hits("/health"), 1);
        assert_eq!(server.hits(CHAT), 3);
    })
    .await
}

#[tokio::test]
async fn concurrent_first_calls_check_the_version_once() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        let agent = agent(server.url());
        // On this one-thread runtime `join_all` polls the four calls before
        // the stand-in can answer anything: all four are first calls,
        // whatever the machine's speed, and no delay is needed to make them so.
        let calls = (0..4).map(|i| {
            let agent = agent.clone();
            async move { agent.chat(format!("call {i}")).await }
        });
        for result in futures_util::future::join_all(calls).await {
            result.unwrap();
        }
        assert_eq!(server.hits("/health"), 1);
    })
    .await
}

#[tokio::test]
async fn a_failed_version_check_is_tried_again_later() {
    bounded(async {
        let server = TapPass::start().await;
        server.push("/health", Reply::status(500));
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        let agent = agent(server.url());
        assert!(agent.chat("hi").await.unwrap_err().is_unavailable());
        agent
            .chat("hi again")
            .await
            .expect("the second check passes");
        assert_eq!(server.hits("/health"), 2);
    })
    .await
}
