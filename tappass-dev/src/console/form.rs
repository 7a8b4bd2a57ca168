//! The console's forms: the per-server [`FormToken`] every state-changing
//! form carries, and the [`guard`] that refuses (403) a request without it,
//! with a wrong one, sent from another origin, or sent to a host name other
//! than `localhost` (DNS rebinding), so no other web page the developer
//! visits can press the buttons.

use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use maud::html;

use super::layout::{self, Refresh, Section};
use crate::ids;
use crate::state::Shared;

/// The per-server secret every console form carries (field `token`).
///
/// It is random per server start and only ever written into the console's own
/// pages, which other origins cannot read.
#[derive(Clone)]
pub(crate) struct FormToken(String);

impl FormToken {
    /// A fresh token: 32 URL-safe random characters.
    pub(crate) fn random() -> FormToken {
        FormToken(ids::random_id("", 32))
    }

    /// The token's text, to put in a hidden form field.
    pub(super) fn as_str(&self) -> &str {
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
pub(super) struct Form<'a> {
    pub(super) shared: &'a Shared,
    pub(super) section: Section,
    /// The page to go back to, and the link's text.
    pub(super) back: (&'static str, &'static str),
}

impl Form<'_> {
    /// Reads the form and passes it through the [`guard`]: `None` when it
    /// may be acted on, else the page that says why it was refused.
    pub(super) fn refusal(
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
    pub(super) fn refused(&self, status: StatusCode, message: &str) -> Response {
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
}
