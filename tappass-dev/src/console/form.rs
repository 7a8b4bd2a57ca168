//! The console's forms: the per-server [`FormToken`] every state-changing
//! form carries, and the [`guard`] that refuses (403) a request without it,
//! with a wrong one, sent from another origin, or sent to a host name other
//! than `localhost` (DNS rebinding), so no other web page the developer
//! visits can press the buttons.

use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use maud::html;

use super::layout::{self, Refresh, Section};
use crate::ids;
use crate::origin;
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
    /// Not addressed to this machine, or not from the console's own origin.
    Browser(origin::Refusal),
    /// The form has no `token` field.
    MissingToken,
    /// The form's `token` is not this server's.
    WrongToken,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Refusal::Browser(refusal) => refusal.message(),
            Refusal::MissingToken => {
                "the form has no console token; reload the console page and press the button again."
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
    origin::local_host(headers).map_err(Refusal::Browser)?;
    origin::own_origin(headers).map_err(Refusal::Browser)?;
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
