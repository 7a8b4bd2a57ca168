//! Requests a browser may send: whether one is addressed to this machine by
//! name (`Host`) and was sent by the server's own pages (`Origin`,
//! `Sec-Fetch-Site`).
//!
//! A page of another site can make a browser send requests here in two ways:
//! across origins (a form or `fetch` aimed at `http://127.0.0.1:9620`), which
//! the browser marks with `Origin` and `Sec-Fetch-Site`; and by DNS
//! rebinding, where the page's own name is made to point at 127.0.0.1, so
//! that its requests are same-origin but carry its name in `Host`. The
//! console's pages and forms and the routes that change state (deciding an
//! approval, revoking a mandate) refuse both: they answer only to `localhost`
//! or an IP address, and only to requests of their own origin. Clients that
//! are not browsers send neither `Origin` nor `Sec-Fetch-Site`, and pass.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::reply::json_error;

/// Why a request a browser may have sent was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `Host` is a name other than `localhost` (or missing): the page may be
    /// another site's whose name was made to point at this server.
    ForeignHost,
    /// `Sec-Fetch-Site` says the request came from another site or origin.
    CrossSite,
    /// `Origin` names another origin than the one the request was sent to.
    ForeignOrigin,
}

impl Refusal {
    /// What to do about it, in words.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::ForeignHost => {
                "the dev server's console and its state-changing routes answer only at localhost or an IP address; open it at the address tappass-dev printed"
            }
            Refusal::CrossSite | Refusal::ForeignOrigin => {
                "this request came from another web page; the console only takes its own forms. Open the console and press the button there"
            }
        }
    }
}

/// Middleware of the routes that read what a rebound page must not (the
/// audit trail): `403 foreign_host` unless [`local_host`].
pub(crate) async fn local_only(request: Request, next: Next) -> Response {
    match local_host(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refused(refusal),
    }
}

/// Middleware of the routes that change state (deciding an approval,
/// revoking a mandate): `403` unless [`local_host`] and [`own_origin`].
pub(crate) async fn same_origin_only(request: Request, next: Next) -> Response {
    match local_host(request.headers()).and_then(|()| own_origin(request.headers())) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refused(refusal),
    }
}

/// The JSON `403` for a refused request.
fn refused(refusal: Refusal) -> Response {
    let code = match refusal {
        Refusal::ForeignHost => "foreign_host",
        Refusal::CrossSite | Refusal::ForeignOrigin => "cross_origin_request",
    };
    json_error(StatusCode::FORBIDDEN, code, refusal.message())
}

/// Refuses a request whose `Host` is not `localhost` or an IP address.
pub(crate) fn local_host(headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if host.is_some_and(is_local_host) {
        Ok(())
    } else {
        Err(Refusal::ForeignHost)
    }
}

/// Refuses a request a browser marked as coming from another site or
/// origin (`Sec-Fetch-Site` other than `same-origin`, an `Origin` other than
/// `http://` + the request's `Host`). A request with neither header (a
/// client that is no browser) passes.
pub(crate) fn own_origin(headers: &HeaderMap) -> Result<(), Refusal> {
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
    Ok(())
}

/// Whether a `Host` value names this machine without a DNS name another
/// site could point here: `localhost` or an IP address literal, with or
/// without a port.
pub(crate) fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6.split_once(']').is_some_and(|(ip, port)| {
                ip.parse::<std::net::Ipv6Addr>().is_ok() && is_port(port)
            })
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Whether `tail` is empty or `:` and a port number.
fn is_port(tail: &str) -> bool {
    match tail.strip_prefix(':') {
        None => tail.is_empty(),
        Some(port) => port.parse::<u16>().is_ok(),
    }
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
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io:9620",
            "[::1]evil",
            "[evil]:80",
            "127.0.0.1:notaport",
            "localhost:99999",
            "",
            "0x7f.0.0.1",
        ] {
            assert!(!is_local_host(host), "{host}");
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn only_the_servers_own_origin_passes() {
        let own = headers(&[
            ("host", "127.0.0.1:9620"),
            ("origin", "http://127.0.0.1:9620"),
        ]);
        assert_eq!(own_origin(&own), Ok(()));
        assert_eq!(own_origin(&headers(&[("host", "127.0.0.1:9620")])), Ok(()));
        for (pairs, refusal) in [
            (
                &[
                    ("host", "127.0.0.1:9620"),
                    ("origin", "http://evil.example"),
                ][..],
                Refusal::ForeignOrigin,
            ),
            (
                &[("host", "127.0.0.1:9620"), ("origin", "null")][..],
                Refusal::ForeignOrigin,
            ),
            (
                &[("host", "127.0.0.1:9620"), ("sec-fetch-site", "cross-site")][..],
                Refusal::CrossSite,
            ),
            (
                &[("host", "127.0.0.1:9620"), ("sec-fetch-site", "same-site")][..],
                Refusal::CrossSite,
            ),
        ] {
            assert_eq!(own_origin(&headers(pairs)), Err(refusal), "{pairs:?}");
        }
    }
}
