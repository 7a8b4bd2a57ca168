//! Procedural macros for `tappass`; use them through the `tappass` crate
//! (`#[tappass::governed]`, `#[derive(tappass::GovernanceError)]`).
//!
//! Generated code names only `::tappass::…` paths, so it works wherever
//! `tappass` is a dependency (and inside `tappass` itself, which declares
//! `extern crate self as tappass`).
//!
//! The [macros guide](https://docs.rs/tappass/latest/tappass/macros_guide/index.html)
//! of `tappass` shows both at work, with examples that compile.

#![deny(missing_docs)]

use proc_macro::TokenStream;
use syn::parse::Parse;

mod errors;
mod governance_error;
mod governed;
mod meta;

/// Makes an async axum handler governed: its `Agent` and `Session`
/// parameters are injected by the toolkit, its body runs inside the request's
/// session (so [`tappass::current_session()`] works there, and calls made with
/// the `Agent` carry the session), and its response carries the session's
/// correlation headers, error responses included.
///
/// ```ignore
/// use axum::{extract::State, Json};
/// use tappass::{Agent, Session};
///
/// #[tappass::governed]                            // join the caller's session (the layer's default)
/// async fn chat(
///     agent: Agent,
///     session: Option<Session>,
///     Json(req): Json<ChatIn>,
/// ) -> Result<Json<ChatOut>, tappass::Error> {
///     let answer = agent.chat(&req.prompt).await?;
///     Ok(Json(ChatOut { answer: answer.content }))
/// }
///
/// #[tappass::governed(auto_open_session = true)]  // open a session for this route
/// /// Starts a conversation.
/// pub async fn start(State(app): State<App>, agent: Agent, session: Session) -> Result<String, tappass::Error> {
///     Ok(session.id().to_owned())
/// }
///
/// let app = axum::Router::new()
///     .route("/chat", axum::routing::post(chat))
///     .route("/start", axum::routing::post(start))
///     .with_state(app_state);
/// ```
///
/// # The route flag
///
/// `auto_open_session = true | false` overrides the layer's setting for this
/// route, in both directions: with `true`, a request without correlation
/// headers gets a freshly opened session; with `false`, it gets none (a
/// session the layer would have opened is dropped). A session joined from the
/// caller's `X-TapPass-Session-Id` always wins. Without the flag, the layer
/// decides; without the layer, the request's correlation headers do.
///
/// # What it generates
///
/// The handler stays a plain `async fn` with the same name, visibility,
/// generics, docs and other attributes, that `axum::routing::post(chat)`
/// takes, with or without `tappass::TapPassLayer`. Its parameters become: a
/// hidden context extractor that resolves the session by the route flag, then
/// the `Agent`, `Session` and `Option<Session>` parameters (recognized by the
/// last segment of their type's path, so `tappass::Agent` works too), then the
/// other parameters in their order, so a body extractor such as `Json` stays
/// last. The return type `R` becomes `tappass::__private::Governed<R>`, which
/// implements `IntoResponse` when `R` does; `return` and `?` in the body work
/// as before, and `-> impl IntoResponse` is supported.
///
/// # Compile errors
///
/// Each points at the offending token: a fn that is not `async`, a `self`
/// receiver, an unknown option, a flag that is not `true` or `false`, a
/// repeated option.
///
/// In debug builds the signature is checked as `#[axum::debug_handler]`
/// would, each error on its own token with a sentence naming the trait: a
/// parameter that is not an extractor (`FromRequestParts`, or `FromRequest`
/// for the last one) and a return type that is not `IntoResponse`.
/// Extractors are checked against the `T` of a `State<T>` parameter, else
/// `()`; `state = AppState` names the router's state for a handler whose
/// extractors need it but that takes no `State<T>`. `#[axum::debug_handler]`
/// is not needed; if used, it goes below `#[governed]`.
///
/// The [macros guide] has these examples compiled and run as doctests.
///
/// [`tappass::current_session()`]: https://docs.rs/tappass/latest/tappass/fn.current_session.html
/// [macros guide]: https://docs.rs/tappass/latest/tappass/macros_guide/index.html
#[proc_macro_attribute]
pub fn governed(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(item, |item: proc_macro2::TokenStream| {
        Ok(governed::expand(args.into(), item))
    })
}

/// Derives the HTTP mapping of a governance error: `tappass::GovernanceError`
/// (status, `error` code, public message, JSON body fields, headers) and
/// `axum::response::IntoResponse`, for an enum (attributes on each variant)
/// or a struct (attributes on the struct).
///
/// The type writes its own `Display` (with `thiserror`, typically): the
/// body's `message` is that text.
///
/// ```ignore
/// use tappass::Timestamp;
///
/// #[derive(Debug, thiserror::Error, tappass::GovernanceError)]
/// enum ChatError {
///     #[error("prompt rejected: {reason}")]
///     #[governance(status = 403, code = "prompt_rejected")]
///     Rejected { reason: String, audit_url: Option<String> },
///
///     #[error("maintenance window")]
///     #[governance(status = 503, retry_after = until)]
///     Maintenance { until: Timestamp },
///
///     #[error(transparent)]
///     #[governance(transparent)]                   // use the inner error's own mapping
///     TapPass(#[from] tappass::Error),
///
///     #[error("storage failed")]
///     #[governance(status = 500, message = "storage is unavailable")]
///     Storage(#[source] std::io::Error),            // unnamed fields never reach the body
/// }
///
/// // A handler returning `Result<_, ChatError>` needs nothing else:
/// // `ChatError::Rejected { reason: "pii".into(), audit_url: None }` answers
/// // 403 {"error":"prompt_rejected","message":"prompt rejected: pii","reason":"pii","audit_url":null}
/// ```
///
/// # Attributes of a variant (or of a struct)
///
/// | attribute | meaning |
/// |---|---|
/// | `status = 403` | the HTTP status, 400..=599; required unless `transparent` |
/// | `code = "prompt_rejected"` | the body's `error` code, snake case; defaults to the snake-case name of the variant (or struct) |
/// | `code = field` | the code is the value of a named field (`AsRef<str>`) |
/// | `message = "…"` | a fixed public message instead of the `Display` text, for failures whose details belong in logs |
/// | `retry_after = field` | sets `Retry-After` from a named field: an HTTP date for `SystemTime` and `tappass::Timestamp` (`0` once passed, at most the end of 9999), delta-seconds for `Duration` (rounded up, any size); `Option` of these sends no header when `None` |
/// | `headers = path::to_fn` | calls `path::to_fn(&self, &mut HeaderMap)` to add headers, such as `WWW-Authenticate` |
/// | `transparent` | the case has exactly one field, a `GovernanceError`, whose mapping is used as it is |
///
/// # Attributes of a field
///
/// | attribute | meaning |
/// |---|---|
/// | `skip` | the field stays out of the body |
/// | `rename = "key"` | the field's key in the body |
///
/// # Attributes of the type (on the enum, or on the struct)
///
/// | attribute | meaning |
/// |---|---|
/// | `problem` | the type always answers RFC 9457 `application/problem+json` (`type`, `title`, `status`, `detail` in front of the same members) |
/// | `openapi` | also derives `utoipa::ToSchema`: the schema of the body, a `oneOf`/`anyOf` of the cases for an enum; needs `tappass`'s `utoipa` feature |
/// | `openapi = "Name"` | the same, under the schema name `Name` |
///
/// The body is `{"error": code, "message": …, <fields>…, "session_id": …,
/// "audit_url": …}`: the named fields that are not skipped go through
/// `serde::Serialize`; unnamed fields never reach it; the current session's
/// correlation ids fill in what the fields do not carry. Keys `error` and
/// `message` are the renderer's own, so a field cannot use them.
///
/// # Compile errors
///
/// Every mistake of an item is reported in one build, at the user's token: a
/// status outside 400..=599 or missing, `transparent` on a case without
/// exactly one field, a `retry_after` or `code` naming no field, a
/// `retry_after` field of another type, an unknown or repeated key, a field
/// type that is not `Serialize`, a code that is not snake case, two fields
/// with one key, a union. Generic types are supported; the bounds are yours.
///
/// The [macros guide] has these examples compiled and run as doctests,
/// with the `problem` and `openapi` attributes.
///
/// [macros guide]: https://docs.rs/tappass/latest/tappass/macros_guide/index.html
#[proc_macro_derive(GovernanceError, attributes(governance))]
pub fn derive_governance_error(input: TokenStream) -> TokenStream {
    expand(input, |input: syn::DeriveInput| {
        Ok(governance_error::derive(&input))
    })
}

/// Parses `tokens` as `T` and expands it with `f`; an error becomes
/// `compile_error!` at its span.
fn expand<T: Parse>(
    tokens: TokenStream,
    f: impl FnOnce(T) -> syn::Result<proc_macro2::TokenStream>,
) -> TokenStream {
    syn::parse::<T>(tokens)
        .and_then(f)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
