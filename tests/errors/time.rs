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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tappass::{Agent, TapPassLayer, Timestamp};

use crate::support::services::{sample, serve};
use crate::support::stand_in::{Reply, TapPass};
use crate::support::{bounded, CHAT, KEY};

// ---- over real sockets ---------------------------------------------------------

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

/// The sample service, whose `/hi` relays a chat through the agent, the
/// decision of the stand-in coming back as the handler's `tappass::Error`.
async fn governed(tappass: &TapPass) -> crate::support::services::Served {
    let agent = Agent::builder(tappass.url())
        .api_key(KEY)
        .max_retries(0)
        .build()
        .expect("agent");
    let layer = TapPassLayer::builder().agent(agent).build().expect("layer");
    serve(sample().layer(layer)).await
}

/// The service's answer when the stand-in answers the chat with `decision`.
async fn relayed(status: u16, decision: Value) -> Seen {
    let tappass = TapPass::start().await;
    tappass.push(CHAT, Reply::json(status, decision));
    let app = governed(&tappass).await;
    send(reqwest::Client::new().post(format!("{}/hi", app.url()))).await
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
                    .post(format!("{}/deadline", app.url()))
                    .json(&json!({ "at": at })),
            )
            .await;
            assert_eq!(seen.status, 200, "{at}: {seen:?}");
            assert_eq!(ts(seen.body["at"].as_str().unwrap()), ts(at));
            httpdate::parse_http_date(seen.body["http_date"].as_str().unwrap())
                .expect("an HTTP date");
        }
        let seen = client
            .post(format!("{}/deadline", app.url()))
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
        let get = |path: &str| client.get(format!("{}{path}", app.url()));

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

// ---- property tests over the full ranges ---------------------------------------

use axum::response::IntoResponse;
use http::HeaderValue;
use proptest::prelude::*;
use tappass::response::RetryAfter;
use tappass::GovernanceDecision;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// The components of an RFC 3339 timestamp, generated independently of any
/// formatter, and the instant they name, computed here from the calendar.
#[derive(Clone, Debug)]
struct Parts {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    /// The fraction's digits as written (1 to 9 of them), if any.
    fraction: Option<String>,
    /// `None` for `Z`, else minutes east of UTC.
    offset: Option<i64>,
}

impl Parts {
    fn text(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if let Some(fraction) = &self.fraction {
            s.push('.');
            s.push_str(fraction);
        }
        match self.offset {
            None => s.push('Z'),
            Some(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                s.push_str(&format!("{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60));
            }
        }
        s
    }

    /// Nanoseconds since 1970-01-01T00:00:00Z.
    fn unix_nanos(&self) -> i128 {
        let local = days_from_civil(self.year, self.month, self.day) * 86_400
            + self.hour * 3_600
            + self.minute * 60
            + self.second;
        let secs = local - self.offset.unwrap_or(0) * 60;
        let nanos = self
            .fraction
            .as_deref()
            .map_or(0, |f| format!("{f:0<9}").parse::<i128>().expect("digits"));
        i128::from(secs) * NANOS_PER_SEC + nanos
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Years 0000 to 9999 with their ends and 1970 weighted in.
fn year() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0i64..=9999,
        1 => prop::sample::select(vec![0i64, 1, 1969, 1970, 9998, 9999]),
    ]
}

/// `None` (`Z`) or minutes east of UTC, -23:59 to +23:59, both ends weighted in.
fn offset() -> impl Strategy<Value = Option<i64>> {
    const EDGE: i64 = 23 * 60 + 59;
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(0)),
        2 => prop::sample::select(vec![Some(-EDGE), Some(EDGE)]),
        4 => (-EDGE..=EDGE).prop_map(Some),
    ]
}

fn fraction() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "[0-9]{1,9}",
        Just("999999999".to_owned()),
        Just("000000001".to_owned()),
    ])
}

/// Any timestamp RFC 3339 can write, with the clock's ends weighted in.
fn parts() -> impl Strategy<Value = Parts> {
    (year(), 1i64..=12)
        .prop_flat_map(|(year, month)| {
            let edge = |max: i64| prop_oneof![1 => Just(0i64), 1 => Just(max), 4 => 0..=max];
            (
                Just(year),
                Just(month),
                prop_oneof![1 => Just(days_in_month(year, month)), 4 => 1..=days_in_month(year, month)],
                edge(23),
                edge(59),
                edge(59),
                fraction(),
                offset(),
            )
        })
        .prop_map(
            |(year, month, day, hour, minute, second, fraction, offset)| Parts {
                year,
                month,
                day,
                hour,
                minute,
                second,
                fraction,
                offset,
            },
        )
}

/// Every `Duration`, `Duration::MAX` and its neighbours weighted in.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        2 => (0u64..400 * 366 * 86_400, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        1 => prop::sample::select(vec![
            Duration::MAX,
            Duration::new(u64::MAX, 999_999_999),
            Duration::new(u64::MAX, 0),
            Duration::new(i64::MAX as u64, 999_999_999),
            Duration::new(i64::MAX as u64 + 1, 0),
            Duration::ZERO,
            Duration::from_nanos(1),
        ]),
    ]
}

fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The latest and earliest instants RFC 3339 can write, from the calendar.
fn rfc3339_max() -> i128 {
    let end = Parts {
        year: 9999,
        month: 12,
        day: 31,
        hour: 23,
        minute: 59,
        second: 59,
        fraction: Some("999999999".into()),
        offset: Some(-(23 * 60 + 59)),
    };
    end.unix_nanos()
}

fn rfc3339_min() -> i128 {
    let start = Parts {
        year: 0,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        fraction: None,
        offset: Some(23 * 60 + 59),
    };
    start.unix_nanos()
}

/// The last whole second an HTTP date can name, in nanoseconds since 1970.
fn last_http_date_nanos() -> i128 {
    unix_nanos(last_http_date())
}

/// What a `Retry-After` says.
#[derive(Debug, PartialEq)]
enum Said {
    Seconds(u64),
    Date(i128),
}

/// Reads a `Retry-After`, failing unless it is delta-seconds or an
/// IMF-fixdate that parses back to itself.
fn retry_after(value: &HeaderValue) -> Said {
    let text = value.to_str().expect("visible ASCII");
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Said::Seconds(text.parse().expect("delta-seconds within u64"));
    }
    let date = httpdate::parse_http_date(text)
        .unwrap_or_else(|e| panic!("`{text}` is neither delta-seconds nor an HTTP date: {e}"));
    assert_eq!(
        httpdate::fmt_http_date(date),
        text,
        "not in the IMF-fixdate form"
    );
    Said::Date(unix_nanos(date))
}

/// Checks the `Retry-After` of an instant `nanos` after 1970, with the clock
/// read before (`before`) and after (`after`) the header was made.
fn check_retry_after(said: Said, nanos: i128, before: i128, after: i128) {
    let ceil = nanos.div_euclid(NANOS_PER_SEC) * NANOS_PER_SEC
        + if nanos.rem_euclid(NANOS_PER_SEC) > 0 {
            NANOS_PER_SEC
        } else {
            0
        };
    let date = ceil.min(last_http_date_nanos());
    match said {
        Said::Seconds(0) => assert!(nanos <= after, "`0` for an instant ahead: {nanos}"),
        Said::Seconds(other) => panic!("delta-seconds {other} for an instant"),
        Said::Date(d) => {
            assert!(nanos > before, "a date for a past instant: {nanos}");
            assert_eq!(d, date, "the HTTP date of {nanos}");
        }
    }
}

fn now_nanos() -> i128 {
    unix_nanos(SystemTime::now())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Every accepted timestamp reads as the instant the calendar says, and
    /// every public API gives a value for it, round-tripping where it writes.
    #[test]
    fn every_rfc_3339_timestamp_parses_to_its_instant_and_every_api_answers(parts in parts()) {
        let text = parts.text();
        let nanos = parts.unix_nanos();
        let t: Timestamp = text.parse().unwrap_or_else(|e| panic!("`{text}`: {e}"));

        prop_assert_eq!(unix_nanos(t.to_system_time()), nanos, "{}", text);
        prop_assert_eq!(unix_nanos(SystemTime::from(t)), nanos);
        prop_assert_eq!(Timestamp::from(t.to_system_time()), t);

        // A client's JSON, and what we write back.
        let from_json: Timestamp = serde_json::from_value(json!(text)).expect("JSON");
        prop_assert_eq!(from_json, t);
        let written = t.to_string();
        prop_assert_eq!(serde_json::to_value(t).unwrap(), json!(written));
        prop_assert_eq!(format!("{t:?}"), format!("Timestamp({written})"));
        let back: Timestamp = written.parse().unwrap_or_else(|e| panic!("`{written}`: {e}"));
        prop_assert_eq!(back, t, "{} was written as {}", text, written);
        let shape = written.as_bytes();
        prop_assert!(
            shape.len() >= 20 && shape[4] == b'-' && shape[7] == b'-' && shape[10] == b'T'
                && shape[13] == b':' && shape[16] == b':',
            "not RFC 3339: {}", written
        );
        // In UTC when UTC can write it; only the two ends need an offset.
        let day = NANOS_PER_SEC * 86_400;
        let suffix = if nanos < i128::from(days_from_civil(0, 1, 1)) * day {
            "+23:59"
        } else if nanos >= i128::from(days_from_civil(10_000, 1, 1)) * day {
            "-23:59"
        } else {
            "Z"
        };
        prop_assert!(written.ends_with(suffix), "{} for {}", written, text);

        // The HTTP date: whole seconds, clamped to 1970 ..= 9999.
        let date = httpdate::parse_http_date(&t.to_http_date()).expect("an HTTP date");
        let floor = nanos.div_euclid(NANOS_PER_SEC) * NANOS_PER_SEC;
        prop_assert_eq!(unix_nanos(date), floor.clamp(0, last_http_date_nanos()));

        // From now: zero once passed, else the distance.
        let before = now_nanos();
        let left = t.duration_from_now().as_nanos() as i128;
        let after = now_nanos();
        prop_assert!(left <= (nanos - before).max(0) && left >= (nanos - after).max(0));

        // Retry-After, directly and through `set_retry_after`.
        let before = now_nanos();
        let value = t.retry_after().expect("a header for every instant");
        let mut headers = http::HeaderMap::new();
        tappass::response::set_retry_after(&mut headers, &t);
        let after = now_nanos();
        check_retry_after(retry_after(&value), nanos, before, after);
        check_retry_after(retry_after(&headers["retry-after"]), nanos, before, after);
    }

    /// A decision from the server with any expiry renders a response: the
    /// expiry echoed, and break glass with a valid `Retry-After`.
    #[test]
    fn decisions_with_any_expiry_render(parts in parts(), kind in prop::sample::select(vec![
        "break_glass_active", "approval_required",
    ])) {
        let text = parts.text();
        let nanos = parts.unix_nanos();
        let sent = json!({"decision": kind, "level": "relax", "expires_at": text});
        let decision = GovernanceDecision::from_json(&sent).expect("a decision");
        let before = now_nanos();
        let response = tappass::Error::from(decision).into_response();
        let after = now_nanos();
        let retry = response.headers().get("retry-after").map(retry_after);
        let bytes = futures_util::FutureExt::now_or_never(
            http_body_util::BodyExt::collect(response.into_body()),
        )
        .expect("a ready body")
        .expect("a body")
        .to_bytes();
        let body: Value = serde_json::from_slice(&bytes).expect("JSON");
        prop_assert_eq!(&body["error"], kind);
        let echoed: Timestamp = body["expires_at"].as_str().expect("expires_at").parse().unwrap();
        prop_assert_eq!(unix_nanos(echoed.to_system_time()), nanos);
        match kind {
            "break_glass_active" => check_retry_after(retry.expect("Retry-After"), nanos, before, after),
            _ => prop_assert_eq!(retry, None),
        }
    }

    /// Moving any timestamp by any `Duration` gives the instant, or
    /// `Timestamp::MAX` past the end.
    #[test]
    fn after_any_duration_is_exact_or_saturates(parts in parts(), by in duration()) {
        let t: Timestamp = parts.text().parse().unwrap();
        let moved = t.after(by);
        let exact = parts.unix_nanos() + by.as_nanos() as i128;
        if exact <= rfc3339_max() {
            prop_assert_eq!(unix_nanos(moved.to_system_time()), exact);
        } else {
            prop_assert_eq!(moved, Timestamp::MAX);
        }
        prop_assert!(moved >= t);
        let back: Timestamp = moved.to_string().parse().unwrap();
        prop_assert_eq!(back, moved);
        check_retry_after(
            retry_after(&moved.retry_after().unwrap()),
            unix_nanos(moved.to_system_time()),
            now_nanos() - NANOS_PER_SEC,
            now_nanos() + NANOS_PER_SEC,
        );
    }

    /// Any `SystemTime` this platform holds converts, saturating at the ends
    /// of RFC 3339, and gives a valid `Retry-After`.
    #[test]
    fn any_system_time_converts_and_gives_a_valid_retry_after(
        secs in prop_oneof![
            2 => any::<i64>(),
            2 => -70_000_000_000i64..=260_000_000_000,
            1 => prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1, 253_402_300_799, 253_402_300_800]),
        ],
        sub in 0u32..1_000_000_000,
    ) {
        let nanos = i128::from(secs) * NANOS_PER_SEC + i128::from(sub);
        let distance = Duration::new(secs.unsigned_abs(), 0);
        let whole = if secs < 0 { UNIX_EPOCH.checked_sub(distance) } else { UNIX_EPOCH.checked_add(distance) };
        let Some(time) = whole.and_then(|t| t.checked_add(Duration::from_nanos(u64::from(sub)))) else {
            return Ok(()); // not a SystemTime on this platform
        };
        let t = Timestamp::from(time);
        let clamped = nanos.clamp(rfc3339_min(), rfc3339_max());
        prop_assert_eq!(unix_nanos(t.to_system_time()), clamped);
        prop_assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);

        let before = now_nanos();
        let value = time.retry_after().expect("a header");
        let after = now_nanos();
        check_retry_after(retry_after(&value), clamped, before, after);
    }

    /// Any `Duration` gives delta-seconds, rounded up, `u64::MAX` at most.
    #[test]
    fn any_duration_gives_delta_seconds_rounded_up(wait in duration()) {
        let want = wait.as_nanos().div_ceil(NANOS_PER_SEC as u128).min(u128::from(u64::MAX));
        let value = wait.retry_after().expect("a header");
        prop_assert_eq!(retry_after(&value), Said::Seconds(want as u64));
        let some = Some(wait).retry_after().expect("a header");
        prop_assert_eq!(some, value);
    }

    /// Strings near RFC 3339, with every component out of range in turn, give
    /// a value or an error, and a value only for a valid timestamp.
    #[test]
    fn near_rfc_3339_strings_give_a_value_or_an_error(
        year in prop_oneof![0i64..=9999, 10_000i64..=99_999],
        month in 0i64..=99,
        day in 0i64..=99,
        hour in 0i64..=99,
        minute in 0i64..=99,
        second in 0i64..=99,
        fraction in prop::option::of("[0-9]{0,30}"),
        offset_hours in 0i64..=99,
        offset_minutes in 0i64..=99,
        sign in prop::sample::select(vec!["+", "-", "Z", "z", ""]),
        separator in prop::sample::select(vec!["T", "t", " ", "x"]),
    ) {
        let mut s = format!("{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}");
        if let Some(f) = &fraction {
            s.push('.');
            s.push_str(f);
        }
        match sign {
            "Z" | "z" | "" => s.push_str(sign),
            _ => s.push_str(&format!("{sign}{offset_hours:02}:{offset_minutes:02}")),
        }
        let parsed = s.parse::<Timestamp>();
        let json = serde_json::from_value::<Timestamp>(json!(s));
        prop_assert_eq!(parsed.is_ok(), json.is_ok());
        if let Ok(t) = parsed {
            prop_assert!(year <= 9999 && (1..=12).contains(&month));
            prop_assert!(day >= 1 && day <= days_in_month(year, month));
            prop_assert!(hour <= 23 && minute <= 59 && second <= 60);
            let offset_valid = match sign {
                "Z" | "z" => true,
                "" => false,
                _ => offset_hours <= 23 && offset_minutes <= 59,
            };
            prop_assert!(offset_valid);
            prop_assert!(t >= Timestamp::MIN && t <= Timestamp::MAX);
            prop_assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
            let mut headers = http::HeaderMap::new();
            tappass::response::set_retry_after(&mut headers, &t);
            retry_after(&headers["retry-after"]);
            prop_assert!(t.after(Duration::MAX) == Timestamp::MAX);
        } else {
            prop_assert!(parsed.unwrap_err().to_string().contains("RFC 3339"));
        }
    }
}

#[test]
fn the_ends_of_the_range_are_the_ends_of_rfc_3339() {
    assert_eq!(unix_nanos(Timestamp::MAX.to_system_time()), rfc3339_max());
    assert_eq!(unix_nanos(Timestamp::MIN.to_system_time()), rfc3339_min());
    assert_eq!(
        Timestamp::MIN.to_http_date(),
        "Thu, 01 Jan 1970 00:00:00 GMT"
    );
    assert_eq!(
        Timestamp::MAX.to_http_date(),
        "Fri, 31 Dec 9999 23:59:59 GMT"
    );
    assert_eq!(
        Timestamp::MAX.after(Duration::from_nanos(1)),
        Timestamp::MAX
    );
    assert_eq!(
        Timestamp::from(UNIX_EPOCH - Duration::from_secs(i64::MAX as u64)),
        Timestamp::MIN
    );
    assert_eq!(
        Timestamp::from(UNIX_EPOCH + Duration::from_secs(i64::MAX as u64)),
        Timestamp::MAX
    );
    assert_eq!(Timestamp::MIN.retry_after().unwrap(), "0");
    assert_eq!(
        Duration::new(u64::MAX, 999_999_999).retry_after().unwrap(),
        u64::MAX.to_string().as_str()
    );
}
