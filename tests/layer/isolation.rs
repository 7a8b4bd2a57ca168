//! Isolation under load: 1,500 concurrent requests with distinct sessions,
//! through the layer and through `#[governed]`, with spawned work and streamed
//! bodies, over real sockets. No request may ever see another's session.

use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tappass::{Session, TapPassLayer};

use crate::support::sockets::refused_url;

fn current_id() -> String {
    tappass::current_session()
        .map(|s| s.id().to_owned())
        .unwrap_or_else(|| "none".to_owned())
}

/// Through the layer alone, with work spawned under `session::scope`.
async fn layered() -> String {
    tokio::task::yield_now().await;
    let session = tappass::current_session().expect("joined");
    let spawned = tokio::spawn(tappass::session::scope(session, async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        current_id()
    }));
    let mine = current_id();
    let theirs = spawned.await.unwrap();
    format!("{mine}|{theirs}")
}

/// Through `#[governed]`: the injected session, the task-local, and spawned work.
#[tappass::governed]
async fn governed(session: Session) -> String {
    tokio::time::sleep(Duration::from_millis(1)).await;
    let spawned = tokio::spawn(tappass::session::scope(session.clone(), async {
        current_id()
    }));
    format!(
        "{}|{}|{}",
        session.id(),
        current_id(),
        spawned.await.unwrap()
    )
}

/// A streamed body that reads the session each time it is polled.
#[tappass::governed]
async fn streamed() -> impl IntoResponse {
    let chunks = futures_util::stream::unfold(0u8, |n| async move {
        if n == 3 {
            return None;
        }
        tokio::task::yield_now().await;
        Some((
            Ok::<_, std::convert::Infallible>(format!("{}|", current_id())),
            n + 1,
        ))
    });
    Body::from_stream(chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_crosstalk_between_1500_concurrent_sessions() {
    let layer = TapPassLayer::builder()
        .tappass_url(refused_url())
        .api_key("tp_isolation")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/layered", get(layered))
        .route("/governed", get(governed))
        .route("/streamed", get(streamed))
        .layer(layer);
    // The same routes without the layer: #[governed] alone must isolate too.
    let bare = Router::new()
        .route("/governed", get(governed))
        .route("/streamed", get(streamed));

    let mut addrs = Vec::new();
    for app in [app, bare] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1500 {
        let client = client.clone();
        let (addr, path) = match i % 5 {
            0 => (addrs[0], "/layered"),
            1 => (addrs[0], "/governed"),
            2 => (addrs[0], "/streamed"),
            3 => (addrs[1], "/governed"),
            _ => (addrs[1], "/streamed"),
        };
        tasks.spawn(async move {
            let id = format!("ses_iso_{i}");
            let response = client
                .get(format!("http://{addr}{path}"))
                .header("x-tappass-session-id", &id)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.headers()["x-tappass-session-id"],
                id.as_str(),
                "{path}"
            );
            let body = response.text().await.unwrap();
            (id, path, body)
        });
    }
    let run = async {
        let mut seen = 0;
        while let Some(result) = tasks.join_next().await {
            let (id, path, body) = result.unwrap();
            let parts: Vec<&str> = body.split('|').filter(|p| !p.is_empty()).collect();
            assert!(!parts.is_empty(), "{path}: empty body");
            for part in parts {
                assert_eq!(part, id, "{path} saw another session: {body}");
            }
            seen += 1;
        }
        seen
    };
    let seen = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("no hang");
    assert_eq!(seen, 1500);
}
