//! Time arithmetic never panics: every timestamp RFC 3339 can write (years
//! 0000 to 9999, any offset from -23:59 to +23:59, before 1970, any fraction)
//! and every `Duration` up to `Duration::MAX` gives a value or an error from
//! every public API, and `Retry-After` is always a valid header.
//!
//! First over real sockets, where the values arrive over the wire: decisions
//! from a hostile TapPass stand-in relayed by a governed axum service, a
//! client's JSON, and derived errors. Then property tests over the full
//! ranges, with RFC 3339 strings built from independent components rather
//! than by the library's own formatter.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{bounded, Reply, TapPass, CHAT, KEY};
use tappass::{Agent, TapPassLayer, Timestamp};
use tokio::task::JoinHandle;

// ---- over real sockets ---------------------------------------------------------

/// A service on `127.0.0.1:0`, stopped when dropped.
struct App {
    url: String,
    task: JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(app: Router) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    App { url, task }
}

/// What a client of the service got: status, `Retry-After` and the body.
#[derive(Debug)]
struct Seen {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Seen {
    let response = request
        .send()
        .await
        .expect("the service answered (a panic while answering drops the connection)");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("a visible-ASCII Retry-After").to_owned());
    let body = response.json().await.expect("a JSON body");
    Seen {
        status,
        retry_after,
        body,
    }
}

/// A governed service whose `/chat` relays a chat through the agent, the
/// decision of the stand-in coming back as the handler's `tappass::Error`.
async fn governed(tappass: &TapPass) -> App {
    async fn chat(agent: Agent) -> Result<String, tappass::Error> {
        Ok(agent.chat("hi").await?.content)
    }
    let agent = Agent::builder(tappass.url())
        .api_key(KEY)
        .max_retries(0)
        .build()
        .expect("agent");
    let layer = TapPassLayer::builder().agent(agent).build().expect("layer");
    serve(Router::new().route("/chat", post(chat)).layer(layer)).await
}

/// The service's answer when the stand-in answers the chat with `decision`.
async fn relayed(status: u16, decision: Value) -> Seen {
    let tappass = TapPass::start().await;
    tappass.push(CHAT, Reply::json(status, decision));
    let app = governed(&tappass).await;
    send(reqwest::Client::new().post(format!("{}/chat", app.url))).await
}

/// An IMF-fixdate `Retry-After`, as the instant it names.
fn http_date(value: &str) -> SystemTime {
    httpdate::parse_http_date(value)
        .unwrap_or_else(|e| panic!("`{value}` is not an HTTP date: {e}"))
}

/// The latest instant an HTTP date can name.
fn last_http_date() -> SystemTime {
    http_date("Fri, 31 Dec 9999 23:59:59 GMT")
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("`{s}`: {e}"))
}

#[tokio::test]
async fn break_glass_ending_before_1970_is_503_with_retry_after_zero() {
    bounded(async {
        let seen = relayed(
            503,
            json!({"decision": "break_glass_active", "level": "full_bypass",
                   "expires_at": "1969-07-20T20:17:40Z"}),
        )
        .await;
        assert_eq!(seen.status, 503, "{seen:?}");
        assert_eq!(seen.body["error"], "break_glass_active");
        assert_eq!(seen.body["expires_at"], "1969-07-20T20:17:40Z");
        assert_eq!(seen.retry_after.as_deref(), Some("0"), "a past instant");
    })
    .await
}

#[tokio::test]
async fn break_glass_ending_in_year_9999_west_of_utc_is_503_with_the_last_http_date() {
    bounded(async {
        // 23:59:59 at -23:59 is already the year 10000 in UTC.
        let seen = relayed(
            503,
            json!({"decision": "break_glass_active", "level": "relax",
                   "expires_at": "9999-12-31T23:59:59.5-23:59"}),
        )
        .await;
        assert_eq!(seen.status, 503, "{seen:?}");
        assert_eq!(seen.body["error"], "break_glass_active");
        let expires = seen.body["expires_at"].as_str().expect("expires_at");
        assert_eq!(ts(expires), ts("9999-12-31T23:59:59.5-23:59"), "{expires}");
        let retry_after = seen.retry_after.expect("Retry-After");
        assert_eq!(http_date(&retry_after), last_http_date(), "clamped");
    })
    .await
}

#[tokio::test]
async fn approvals_expiring_at_either_end_of_rfc_3339_are_428_with_their_expiry() {
    bounded(async {
        for expires in [
            "9999-12-31T23:59:59.999999999-23:59",
            "9999-12-31T20:00:00-05:00",
            "0000-01-01T00:00:00+23:59",
            "0000-01-01T00:00:00Z",
            "1900-02-28T12:00:00.25+01:00",
        ] {
            let seen = relayed(
                428,
                json!({"decision": "approval_required", "approval_url": "https://tappass.example/a/1",
                       "expires_at": expires}),
            )
            .await;
            assert_eq!(seen.status, 428, "{expires}: {seen:?}");
            assert_eq!(seen.body["error"], "approval_required");
            let echoed = seen.body["expires_at"].as_str().expect("expires_at");
            assert_eq!(ts(echoed), ts(expires), "{expires} came back as {echoed}");
            assert_eq!(seen.retry_after, None);
        }
    })
    .await
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Deadline {
    at: Timestamp,
}

#[tokio::test]
async fn a_clients_timestamp_at_either_end_of_rfc_3339_is_read_and_echoed() {
    bounded(async {
        async fn echo(Json(deadline): Json<Deadline>) -> Json<Value> {
            Json(json!({
                "at": deadline.at,
                "http_date": deadline.at.to_http_date(),
                "left_secs": deadline.at.duration_from_now().as_secs(),
            }))
        }
        let app = serve(Router::new().route("/deadline", post(echo))).await;
        let client = reqwest::Client::new();
        for at in [
            "9999-12-31T23:59:59.999999999-23:59",
            "0000-01-01T00:00:00+23:59",
            "1969-12-31T23:59:59.999999999Z",
        ] {
            let seen = send(
                client
                    .post(format!("{}/deadline", app.url))
                    .json(&json!({ "at": at })),
            )
            .await;
            assert_eq!(seen.status, 200, "{at}: {seen:?}");
            assert_eq!(ts(seen.body["at"].as_str().unwrap()), ts(at));
            httpdate::parse_http_date(seen.body["http_date"].as_str().unwrap())
                .expect("an HTTP date");
        }
        let seen = client
            .post(format!("{}/deadline", app.url))
            .json(&json!({ "at": "10000-01-01T00:00:00Z" }))
            .send()
            .await
            .expect("the service answered");
        assert_eq!(seen.status(), StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await
}

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum Closed {
    #[error("closed for a while")]
    #[governance(status = 503, retry_after = wait)]
    For {
        #[governance(skip)]
        wait: Duration,
    },
    #[error("closed until a system time")]
    #[governance(status = 503, retry_after = until)]
    UntilSystemTime {
        #[governance(skip)]
        until: SystemTime,
    },
    #[error("closed until a timestamp")]
    #[governance(status = 503, retry_after = until)]
    Until { until: Timestamp },
}

#[tokio::test]
async fn derived_errors_with_extreme_retry_after_fields_answer_over_the_wire() {
    bounded(async {
        let app = serve(
            Router::new()
                .route(
                    "/forever",
                    get(|| async {
                        Err::<(), _>(Closed::For {
                            wait: Duration::MAX,
                        })
                    }),
                )
                .route(
                    "/before-1970",
                    get(|| async {
                        Err::<(), _>(Closed::UntilSystemTime {
                            until: UNIX_EPOCH - Duration::from_secs(86_400 * 365 * 3000),
                        })
                    }),
                )
                .route(
                    "/far-future",
                    get(|| async {
                        Err::<(), _>(Closed::UntilSystemTime {
                            until: UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 2),
                        })
                    }),
                )
                .route(
                    "/timestamp-after-max",
                    get(|| async {
                        Err::<(), _>(Closed::Until {
                            until: Timestamp::now().after(Duration::MAX),
                        })
                    }),
                ),
        )
        .await;
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("{}{path}", app.url));

        let seen = send(get("/forever")).await;
        assert_eq!(seen.status, 503, "{seen:?}");
        assert_eq!(seen.retry_after, Some(u64::MAX.to_string()));

        let seen = send(get("/before-1970")).await;
        assert_eq!(seen.status, 503, "{seen:?}");
        assert_eq!(seen.retry_after.as_deref(), Some("0"));

        for path in ["/far-future", "/timestamp-after-max"] {
            let seen = send(get(path)).await;
            assert_eq!(seen.status, 503, "{path}: {seen:?}");
            let retry_after = seen.retry_after.expect("Retry-After");
            assert_eq!(http_date(&retry_after), last_http_date(), "{path}");
        }
    })
    .await
}
