//! `Server-Timing`: how long a request waited for TapPass, opted into on the
//! layer.

use std::time::Duration;

use serde_json::json;
use tappass::TapPassLayer;
use tappass_dev::DevServer;

use crate::support::services::{sample, serve};
use crate::support::{bounded, KEY};

/// The `dur` of the `tappass` entry of a `Server-Timing` header, in ms.
fn tappass_duration(header: &str) -> f64 {
    let entry = header
        .split(',')
        .map(str::trim)
        .find(|e| e.starts_with("tappass;"))
        .unwrap_or_else(|| panic!("no tappass entry in {header:?}"));
    assert!(entry.ends_with(";desc=\"TapPass\""), "{entry}");
    entry
        .split(';')
        .find_map(|p| p.strip_prefix("dur="))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_time_spent_waiting_for_tappass_is_in_server_timing_when_asked() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let layer = |timing: bool| {
            TapPassLayer::builder()
                .tappass_url(dev.url())
                .api_key(KEY)
                .server_timing(timing)
                .build()
                .unwrap()
        };
        let timed = serve(sample().layer(layer(true))).await;
        // A chat and a tool call: both waits add up; the whole request took longer.
        let started = std::time::Instant::now();
        let (status, headers, _) = timed
            .post("/chat", json!({"prompt": "hello"}), Some("ses_timing"))
            .await;
        let total = started.elapsed();
        assert_eq!(status, 200);
        let waited = tappass_duration(headers["server-timing"].to_str().unwrap());
        assert!(waited > 0.0, "{waited}");
        assert!(
            Duration::from_secs_f64(waited / 1000.0) <= total,
            "{waited} ms waited in a request of {total:?}"
        );
        // A route that does not call TapPass waited nothing.
        let (_, headers, _) = timed.post("/echo", json!({"prompt": "x"}), None).await;
        assert_eq!(
            tappass_duration(headers["server-timing"].to_str().unwrap()),
            0.0
        );
        // A decision is timed too.
        let (status, headers, _) = timed
            .post("/chat", json!({"prompt": "my ssn is 123-45-6789"}), None)
            .await;
        assert_eq!(status, 403);
        assert!(tappass_duration(headers["server-timing"].to_str().unwrap()) > 0.0);

        let plain = serve(sample().layer(layer(false))).await;
        let (_, headers, _) = plain.post("/chat", json!({"prompt": "hello"}), None).await;
        assert!(headers.get("server-timing").is_none(), "off by default");
    })
    .await
}
