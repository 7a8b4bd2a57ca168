//! The layout every console page shares: head, navigation, footer, the
//! response headers (a strict content security policy among them), the served
//! stylesheet and script, and small formatting helpers.

use maud::{html, Markup, DOCTYPE};

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde_json::Value;

use crate::state::{Availability, Shared, SERVER_VERSION};
use tappass::Timestamp;

/// A part of the console, as the navigation lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Sessions,
    Approvals,
    Mandates,
    Capabilities,
    Policy,
    Availability,
}

impl Section {
    /// Every section, in navigation order.
    const ALL: [Section; 6] = [
        Section::Sessions,
        Section::Approvals,
        Section::Mandates,
        Section::Capabilities,
        Section::Policy,
        Section::Availability,
    ];

    fn href(self) -> &'static str {
        match self {
            Section::Sessions => "/",
            Section::Approvals => "/approvals",
            Section::Mandates => "/mandates",
            Section::Capabilities => "/capabilities",
            Section::Policy => "/policy",
            Section::Availability => "/availability",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Section::Sessions => "Sessions",
            Section::Approvals => "Approvals",
            Section::Mandates => "Mandates",
            Section::Capabilities => "Capability tokens",
            Section::Policy => "Policy",
            Section::Availability => "Availability",
        }
    }
}

/// Whether an open page reloads itself (with the served script).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refresh {
    /// Every few seconds while visible: lists that change under the reader.
    Auto,
    /// Never: pages read at length, whose open details a reload would close.
    Off,
}

/// Seconds between reloads of a [`Refresh::Auto`] page.
const REFRESH_SECONDS: u32 = 5;

/// What the pages allow themselves: their own stylesheet, script and forms.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A whole page: `body` inside the shared layout, answered with `status`.
pub(super) fn page(
    shared: &Shared,
    status: StatusCode,
    section: Option<Section>,
    title: &str,
    refresh: Refresh,
    body: Markup,
) -> Response {
    let pending = shared.approvals().pending().len();
    let availability = shared.availability();
    let kept = shared.db_path().map(|path| path.display().to_string());
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // `same-origin`: no referrer leaves the console, and its own forms keep
                // their `Origin` (under `no-referrer` a browser sends `Origin: null`).
                meta name="referrer" content="same-origin";
                title { (title) " · TapPass dev console" }
                link rel="stylesheet" href="/console.css";
                @if refresh == Refresh::Auto {
                    script src="/console.js" defer {}
                }
            }
            body data-refresh=[(refresh == Refresh::Auto).then_some(REFRESH_SECONDS)] {
                header.top {
                    a.brand href="/" { span.mark { "◆" } " TapPass " span.dim { "dev console" } }
                    nav {
                        @for s in Section::ALL {
                            a href=(s.href()) aria-current=[(Some(s) == section).then_some("page")] {
                                (s.label())
                                @if s == Section::Approvals && pending > 0 {
                                    " " span.count title="pending approvals" { (pending) }
                                }
                                @if s == Section::Availability && availability != Availability::Available {
                                    " " span.count title="the API does not answer" { (availability.as_str()) }
                                }
                            }
                        }
                    }
                    span.server { (shared.base_url) }
                }
                main { (body) }
                footer {
                    "tappass-dev " (SERVER_VERSION)
                    @match &kept {
                        Some(path) => { " · kept in " code { (path) } }
                        None => { " · in memory" }
                    }
                    " · any API key that starts with " code { "tp_" }
                    @if refresh == Refresh::Auto { " · this page reloads every " (REFRESH_SECONDS) " s" }
                }
            }
        }
    };
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /console.css`.
pub(super) async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

/// `GET /console.js`: reloads a page whose body says `data-refresh`.
pub(super) async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        text,
    )
        .into_response()
}

// ---- Formatting helpers -----------------------------------------------------------

/// A timestamp as `2026-11-29 20:18:23` (UTC), the full value on hover; a
/// value that is not an RFC 3339 string is shown as it is.
pub(super) fn when(value: Option<&Value>) -> Markup {
    match value {
        Some(Value::String(s)) => match s.parse::<Timestamp>() {
            Ok(t) => timestamp(t),
            Err(_) => html! { span { (s) } },
        },
        Some(Value::Null) | None => html! { span.dim { "—" } },
        Some(other) => html! { span { (other) } },
    }
}

/// A timestamp as `2026-11-29 20:18:23`, in a `<time>` with the full value.
pub(super) fn timestamp(t: Timestamp) -> Markup {
    let full = t.to_string();
    let short = match (full.get(..10), full.get(11..19)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => full.clone(),
    };
    html! { time datetime=(full) title=(full) { (short) } }
}

/// How long until `t`, e.g. `in 59 min` (or `now` when it has passed).
pub(super) fn from_now(t: Timestamp) -> String {
    let secs = t.duration_from_now().as_secs();
    match secs {
        0 => "now".to_owned(),
        1..=119 => format!("in {secs} s"),
        120..=7199 => format!("in {} min", secs / 60),
        _ => format!("in {} h", secs / 3600),
    }
}

/// A JSON value for people: strings as they are, `null` as a dash, the rest
/// as compact JSON.
pub(super) fn value(value: &Value) -> Markup {
    match value {
        Value::String(s) => html! { (s) },
        Value::Null => html! { span.dim { "—" } },
        other => html! { code { (other) } },
    }
}

/// The CSS class of a decision's badge: its family's colour.
pub(super) fn decision_class(decision: &str) -> &'static str {
    match decision {
        "allow" | "approved" => "ok",
        "redaction_applied" | "break_glass_active" => "note",
        "approval_required"
        | "needs_approval"
        | "escalate"
        | "pending"
        | "authorization_required" => "ask",
        "timed_out" | "cancelled" => "dim",
        _ => "stop",
    }
}

/// The console path of a session: its `audit_url` path, the id percent-encoded.
pub(super) fn session_href(session_id: &str) -> String {
    path(&["v1", "audit", "sessions", session_id])
}

/// The path of `segments`, each percent-encoded as a path segment.
pub(super) fn path(segments: &[&str]) -> String {
    crate::ids::url_path(segments)
}

/// The 1-based page number of a query's `page=N` (1 when absent or not a number).
pub(super) fn page_number(query: Option<&str>) -> usize {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}
