//! The dev console: pages for people at the dev server's root.
//!
//! One module per page — [`sessions`] (`/`), [`session`] (a session's
//! `audit_url`, for a browser), [`approvals`] (`/approvals`), [`mandates`]
//! (`/mandates`) and [`policy`] (`/policy`) — rendered with maud (which escapes every value it is given)
//! into the shared [`layout`]. The pages work without JavaScript; a small
//! served script only reloads them while they are open.
//!
//! Reading needs nothing. The state changes, deciding an approval and
//! revoking a mandate, are forms that carry the server's [`FormToken`];
//! [`guard`] refuses (403) a
//! request without it, with a wrong one, sent from another origin, or sent to
//! a host name other than `localhost` (DNS rebinding), so no other web page
//! the developer visits can press the buttons.

mod approvals;
mod layout;
mod mandates;
mod policy;
mod session;
mod sessions;

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use maud::html;

use super::ids;
use super::server::Shared;
use layout::{Refresh, Section};

pub(crate) use session::page as session_page;

/// The console's routes, to merge into the dev server's router.
///
/// `GET /` answers the sessions page only to a browser (`Accept: text/html`);
/// other clients get the server's JSON 404 there, as before the console.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(sessions::page))
        .route("/approvals", get(approvals::page))
        .route("/approvals/{request_id}", get(approvals::one))
        .route("/approvals/{request_id}/approve", post(approvals::approve))
        .route("/approvals/{request_id}/deny", post(approvals::deny))
        .route("/mandates", get(mandates::page))
        .route("/mandates/{mandate_id}/revoke", post(mandates::revoke))
        .route("/policy", get(policy::page))
        .route("/console.css", get(layout::stylesheet))
        .route("/console.js", get(layout::script))
        .layer(Extension(FormToken(ids::random_id("", 32))))
}

// ---- The form token and the origin check ----------------------------------------

/// The per-server secret every console form carries (field `token`).
///
/// It is random per server start and only ever written into the console's own
/// pages, which other origins cannot read.
#[derive(Clone)]
pub(crate) struct FormToken(String);

impl FormToken {
    /// The token's text, to put in a hidden form field.
    fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the token, compared in time independent of where they differ.
    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Why a state-changing request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `Sec-Fetch-Site` says the request came from another site or origin.
    CrossSite,
    /// `Origin` names another origin than the one the request was sent to.
    ForeignOrigin,
    /// The form has no `token` field.
    MissingToken,
    /// The form's `token` is not this server's.
    WrongToken,
    /// `Host` is a name other than `localhost`: the page may be another
    /// site's whose name was made to point at this server (DNS rebinding).
    ForeignHost,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Refusal::CrossSite | Refusal::ForeignOrigin => {
                "this request came from another web page; the console only takes its own forms. Open the console and press the button there."
            }
            Refusal::MissingToken => {
                "the form has no console token; reload the console page and press the button again."
            }
            Refusal::ForeignHost => {
                "the console takes its forms only at localhost or an IP address; open it at the address tappass-dev printed."
            }
            Refusal::WrongToken => {
                "the console token does not match this server (it changes when the server restarts); reload the console page and press the button again."
            }
        }
    }
}

/// Checks a state-changing request to the console: that it was sent to
/// `localhost` or an IP address, that it comes from the console's own origin
/// (by `Sec-Fetch-Site` and `Origin`, when the browser sends them) and that
/// its form body carries the server's token.
fn guard(headers: &HeaderMap, token: &FormToken, form: &[u8]) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(is_local_host) {
        return Err(Refusal::ForeignHost);
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return Err(Refusal::CrossSite);
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
        let own = host.is_some_and(|host| {
            origin
                .as_bytes()
                .strip_prefix(b"http://")
                .is_some_and(|o| o == host)
        });
        if !own {
            return Err(Refusal::ForeignOrigin);
        }
    }
    let given = url::form_urlencoded::parse(form)
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value);
    match given {
        None => Err(Refusal::MissingToken),
        Some(given) if token.matches(&given) => Ok(()),
        Some(_) => Err(Refusal::WrongToken),
    }
}

/// A console form being handled: where it belongs and where its refusal
/// page leads back to.
struct Form<'a> {
    shared: &'a Shared,
    section: Section,
    /// The page to go back to, and the link's text.
    back: (&'static str, &'static str),
}

impl Form<'_> {
    /// Reads the form and passes it through the [`guard`]: `None` when it
    /// may be acted on, else the page that says why it was refused.
    fn refusal(
        &self,
        token: &FormToken,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Option<Response> {
        match body {
            Err(e) => Some(self.refused(e.status(), &e.body_text())),
            Ok(form) => guard(headers, token, &form)
                .err()
                .map(|r| self.refused(StatusCode::FORBIDDEN, r.message())),
        }
    }

    /// The page that says the form was not acted on, and why.
    fn refused(&self, status: StatusCode, message: &str) -> Response {
        let (href, text) = self.back;
        let body = html! {
            h1 { "Not done" }
            p.lead { (message) }
            p { a href=(href) { (text) } }
        };
        layout::page(
            self.shared,
            status,
            Some(self.section),
            "Not done",
            Refresh::Off,
            body,
        )
    }
}

/// Whether `host` (a `Host` header: name or address, maybe a port) is
/// `localhost` or an IP address, not a name someone else may control.
fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split_once(']')
                .is_some_and(|(ip, _port)| ip.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

// ---- Paging -------------------------------------------------------------------------

/// The 1-based page number of a query's `page=N` (1 when absent or not a number).
fn page_number(query: Option<&str>) -> usize {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

// ---- Content negotiation ----------------------------------------------------------

/// Whether the client asked for HTML: `Accept` names `text/html` with a
/// weight above zero and at least that of `application/json`. Browsers do;
/// API clients (no `Accept`, `*/*`, `application/json`) do not.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for accept in headers.get_all(header::ACCEPT) {
        let Ok(accept) = accept.to_str() else {
            continue;
        };
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if media.eq_ignore_ascii_case("text/html") {
                html = html.max(q);
            } else if media.eq_ignore_ascii_case("application/json") {
                json = json.max(q);
            }
        }
    }
    html > 0.0 && html >= json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_are_localhost_and_ip_addresses() {
        for host in [
            "127.0.0.1:9620",
            "127.0.0.1",
            "localhost:80",
            "LOCALHOST",
            "[::1]:9620",
            "[::1]",
            "10.0.0.7:1",
        ] {
            assert!(is_local_host(host), "{host}");
        }
        for host in [
            "evil.example:9620",
            "localhost.evil.example",
            "127.0.0.1.nip.io:9620",
            "[::1",
            "[evil]:1",
            "",
            ":9620",
        ] {
            assert!(!is_local_host(host), "{host}");
        }
    }

    #[test]
    fn accept_headers_of_browsers_ask_for_html_and_of_api_clients_do_not() {
        let wants = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            wants_html(&headers)
        };
        assert!(wants(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(wants("TEXT/HTML"));
        assert!(wants("application/json;q=0.5, text/html"));
        assert!(!wants("*/*"));
        assert!(!wants("application/json"));
        assert!(!wants("text/html;q=0"));
        assert!(!wants("text/html;q=0.4, application/json"));
        assert!(!wants("text/html;q=nonsense;q=0"));
        assert!(!wants_html(&HeaderMap::new()));
    }
}
