//! End to end: the quick start (`examples/quickstart.rs`, compiled in as a
//! module) with its own telemetry, exporting over OTLP/HTTP through the
//! toolkit's exporter to the dev server; headless Chromium then opens the
//! session's page in the console and finds the decision on its span.

use serde_json::json;
use tappass::TapPassLayer;
use tappass_dev::DevServer;

use crate::quickstart;
use crate::support::browser::{Browser, ChromeDriver};
use crate::support::services::serve;

#[tokio::test]
async fn the_quickstarts_spans_show_in_the_consoles_trace_view_with_the_decision() {
    let driver = ChromeDriver::start();
    let dev = DevServer::start().await.unwrap();
    let (provider, subscriber) = quickstart::telemetry(&dev.url()).expect("telemetry");
    let guard = tracing::subscriber::set_default(subscriber);
    let layer = TapPassLayer::builder()
        .tappass_url(dev.url())
        .api_key("tp_quickstart_dev_key")
        .auto_open_session(true)
        .build()
        .unwrap();
    let app = serve(quickstart::app(layer)).await;

    // Two requests of one session: an allowed chat, then a blocked one.
    let (status, headers, _) = app
        .post("/chat", json!({"prompt": "Summarize Q4 revenue"}), None)
        .await;
    assert_eq!(status, 200);
    let session = headers["x-tappass-session-id"].to_str().unwrap().to_owned();
    let (status, _, _) = app
        .post(
            "/chat",
            json!({"prompt": "My SSN is 123-45-6789"}),
            Some(&session),
        )
        .await;
    assert_eq!(status, 403);
    drop(guard);
    // The batch exporter sends from its own thread to the dev server, which
    // this runtime serves: wait for it off the runtime's thread.
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .expect("the spans were exported");
    assert_eq!(dev.traces_for_session(&session).len(), 2);

    let browser = Browser::open(&driver).await;
    browser
        .goto(&format!("{}/v1/audit/sessions/{session}", dev.url()))
        .await;
    assert_eq!(browser.count("section.traces .waterfall").await, 2);
    let blocked = browser
        .find("section.traces li.span .badge.decision.stop")
        .await;
    assert_eq!(browser.text(&blocked).await, "policy_block");
    let allowed = browser
        .find("section.traces li.span .badge.decision.ok")
        .await;
    assert_eq!(browser.text(&allowed).await, "allow");
    // The decision sits on the chat's row, under the request's.
    let row = browser
        .find("section.traces li.span:has(.badge.decision.stop) .name")
        .await;
    assert!(browser.text(&row).await.starts_with("chat gpt-4o-mini"));
    assert_eq!(
        browser.count("section.traces li.span .status").await,
        1,
        "one error status"
    );
    browser.quit().await;
    dev.shutdown().await;
}
