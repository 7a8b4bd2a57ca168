//! What a route checks: the call it stands for (its tool, where its
//! arguments come from, its clearance), the arguments read from the
//! request, and the one decision. `#[governed(tool = …)]` and
//! [`RequireCapability`](super::RequireCapability) both call
//! [`verify`]; neither decides anything itself.

use std::borrow::Cow;

use http::request::Parts;
use http::HeaderMap;
use serde_json::Value;

use super::authorizer::{Args, AuthResult, Authorizer};
use super::clearance::Clearance;
use super::errors::{DecodeError, Rejection};
use super::rejection::CapabilityRejection;
use super::{POP_HEADER, TOKEN_HEADER};

/// A route's call: the tool it performs and where its arguments come from.
/// `N` is `&'static str` for the macro's constants, `String` for the layer.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a, N: AsRef<str>> {
    pub(crate) tool: &'a str,
    /// Path parameters, each an argument of the same name (a string).
    pub(crate) path_params: &'a [N],
    /// Query parameters, each an argument of the same name (a string) when
    /// the request has it.
    pub(crate) query: &'a [N],
    /// Members of a JSON object body, each an argument of the same name
    /// (its JSON value) when the body has it.
    pub(crate) body: &'a [N],
    pub(crate) min_clearance: Option<Clearance>,
}

/// The call's arguments, read as the Python SDK's FastAPI guard reads them
/// (`str(request.path_params[name])`, `request.query_params.get(name)`),
/// and more strictly: a path parameter the route does not have is a
/// misconfiguration (the guard leaves it out, and a constraint on it would
/// never be checked), a named query parameter given twice is refused (the
/// guard takes the last, a handler may read another), and body members are
/// read from a JSON object only.
pub(crate) fn arguments<N: AsRef<str>>(
    call: &Call<'_, N>,
    path: &[(&str, &str)],
    query: Option<&str>,
    body: Option<&serde_json::Map<String, Value>>,
) -> Result<Args, CapabilityRejection> {
    let mut args = Args::new();
    for name in call.path_params {
        let name = name.as_ref();
        let value = path.iter().find(|(k, _)| *k == name).ok_or_else(|| {
            CapabilityRejection::misconfigured(format!(
                "the route of tool `{}` takes its argument `{name}` from a path parameter, but the route has no path parameter `{{{name}}}`: name one of the route's parameters in `path_param`",
                call.tool
            ))
        })?;
        args.insert(name.to_owned(), Value::String(value.1.to_owned()));
    }
    if !call.query.is_empty() {
        let pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = query
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).collect())
            .unwrap_or_default();
        for name in call.query {
            let name = name.as_ref();
            let mut values = pairs.iter().filter(|(k, _)| k == name);
            if let Some((_, value)) = values.next() {
                if values.next().is_some() {
                    return Err(CapabilityRejection::Unreadable {
                        reason: format!("the query parameter `{name}` is given more than once"),
                    });
                }
                taken(&args, name, call.tool)?;
                args.insert(name.to_owned(), Value::String(value.clone().into_owned()));
            }
        }
    }
    if let Some(body) = body {
        for name in call.body {
            let name = name.as_ref();
            if let Some(value) = body.get(name) {
                taken(&args, name, call.tool)?;
                args.insert(name.to_owned(), value.clone());
            }
        }
    }
    Ok(args)
}

/// An argument named twice (a path parameter and a query parameter, …) is
/// a misconfiguration: which value the call stands for would be a guess.
fn taken(args: &Args, name: &str, tool: &str) -> Result<(), CapabilityRejection> {
    if args.contains_key(name) {
        return Err(CapabilityRejection::misconfigured(format!(
            "the route of tool `{tool}` reads its argument `{name}` from two places; name each argument once (path_param, query, body)"
        )));
    }
    Ok(())
}

/// The one value of a header, as text; `Err` for a header sent twice or
/// that is not visible ASCII.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ()> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    first.to_str().map(Some).map_err(|_| ())
}

/// The token header's value: `Err` (an invalid token) when it is sent
/// twice or is not visible ASCII.
fn token_header(headers: &HeaderMap) -> Result<Option<&str>, Rejection> {
    single(headers, TOKEN_HEADER).map_err(|()| {
        Rejection::Malformed(DecodeError::new(
            "the token header is sent more than once or is not visible ASCII",
        ))
    })
}

/// Decides the call `args` of `call` with `authorizer` on the request's
/// headers, then the route's clearance.
pub(crate) fn decide<N: AsRef<str>>(
    authorizer: &Authorizer,
    headers: &HeaderMap,
    call: &Call<'_, N>,
    args: &Args,
) -> Result<AuthResult, CapabilityRejection> {
    let refuse = |rejection| CapabilityRejection::for_tool(call.tool, rejection);
    let token = token_header(headers).map_err(refuse)?;
    let pop = single(headers, POP_HEADER).map_err(|()| refuse(Rejection::PopInvalid))?;
    let auth = authorizer
        .check(token, pop, call.tool, args)
        .map_err(refuse)?;
    if let Some(required) = call.min_clearance {
        auth.require_clearance(required).map_err(refuse)?;
    }
    Ok(auth)
}

/// The check of a token without a call ([`Authorizer::validate`]), then
/// the clearance: what a router-wide [`RequireCapability::new`](super::RequireCapability::new) asks.
pub(crate) fn validate(
    authorizer: &Authorizer,
    headers: &HeaderMap,
    min_clearance: Option<Clearance>,
) -> Result<(), CapabilityRejection> {
    let refuse = |rejection| CapabilityRejection::for_tool("", rejection);
    let token = authorizer
        .validate(token_header(headers).map_err(refuse)?)
        .map_err(refuse)?;
    match min_clearance {
        Some(required) if token.clearance() < required => Err(refuse(Rejection::Clearance {
            actual: token.clearance(),
            required,
        })),
        _ => Ok(()),
    }
}

/// The path parameters of the matched route, percent-decoded; `Err` when
/// one is not UTF-8.
pub(crate) async fn path_params(
    parts: &mut Parts,
) -> Result<Vec<(String, String)>, CapabilityRejection> {
    use axum::extract::rejection::RawPathParamsRejection;
    use axum::extract::{FromRequestParts, RawPathParams};
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(raw) => Ok(raw
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()),
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => {
            Err(CapabilityRejection::Unreadable {
                reason: "a path parameter is not UTF-8 once percent-decoded".into(),
            })
        }
        // No parameters at all (a route without any, or outside a router).
        Err(_) => Ok(Vec::new()),
    }
}

/// The whole check of a route whose arguments are in the request's head
/// (path and query): what `#[governed(tool = …)]` runs.
pub(crate) async fn verify<N: AsRef<str>>(
    authorizer: &Authorizer,
    parts: &mut Parts,
    call: &Call<'_, N>,
    body: Option<&serde_json::Map<String, Value>>,
) -> Result<AuthResult, CapabilityRejection> {
    let path = if call.path_params.is_empty() {
        Vec::new()
    } else {
        path_params(parts).await?
    };
    let path: Vec<(&str, &str)> = path.iter().map(|(k, v)| (&**k, &**v)).collect();
    let args = arguments(call, &path, parts.uri.query(), body)?;
    decide(authorizer, &parts.headers, call, &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(path: &'a [&'static str], query: &'a [&'static str]) -> Call<'a, &'static str> {
        Call {
            tool: "read_file",
            path_params: path,
            query,
            body: &[],
            min_clearance: None,
        }
    }

    #[test]
    fn arguments_are_read_as_the_python_guard_reads_them_and_more_strictly() {
        let args = arguments(
            &call(&["path"], &["q", "absent"]),
            &[("path", "a b/c.pdf")],
            Some("q=hello+w%C3%B6rld&other=1"),
            None,
        )
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(args),
            serde_json::json!({"path": "a b/c.pdf", "q": "hello wörld"})
        );
        // A path parameter the route lacks: misconfigured, never left out.
        let missing = arguments(&call(&["file"], &[]), &[("path", "x")], None, None);
        assert!(matches!(
            missing,
            Err(CapabilityRejection::Misconfigured(_))
        ));
        // A query parameter twice: refused, not the last one taken.
        let twice = arguments(&call(&[], &["q"]), &[], Some("q=a&q=b"), None);
        assert!(matches!(twice, Err(CapabilityRejection::Unreadable { .. })));
        // An empty value is a value (as `keep_blank_values`).
        let blank = arguments(&call(&[], &["q"]), &[], Some("q="), None).unwrap();
        assert_eq!(blank["q"], "");
        // One name from two places: misconfigured.
        let both = arguments(&call(&["q"], &["q"]), &[("q", "a")], Some("q=b"), None);
        assert!(matches!(both, Err(CapabilityRejection::Misconfigured(_))));
    }

    #[test]
    fn body_members_keep_their_json_values() {
        let body = serde_json::json!({"title": "x", "priority": 2, "tags": ["a"], "extra": true});
        let c = Call {
            tool: "create_ticket",
            path_params: &[],
            query: &[],
            body: &["title", "priority", "tags", "absent"],
            min_clearance: None,
        };
        let args = arguments(&c, &[], None, body.as_object()).unwrap();
        assert_eq!(
            serde_json::Value::Object(args),
            serde_json::json!({"title": "x", "priority": 2, "tags": ["a"]})
        );
    }

    #[test]
    fn a_repeated_or_non_ascii_header_is_refused() {
        let a = Authorizer::builder()
            .trusted_root(crate::capability::SigningKey::from_bytes(&[1; 32]).public_key())
            .build()
            .unwrap();
        let c = call(&[], &[]);
        let mut twice = HeaderMap::new();
        twice.append(TOKEN_HEADER, "a".parse().unwrap());
        twice.append(TOKEN_HEADER, "b".parse().unwrap());
        let refused = decide(&a, &twice, &c, &Args::new()).unwrap_err();
        assert!(matches!(refused, CapabilityRejection::Invalid { .. }));
        let mut binary = HeaderMap::new();
        binary.insert(
            TOKEN_HEADER,
            http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        let refused = decide(&a, &binary, &c, &Args::new()).unwrap_err();
        assert!(matches!(refused, CapabilityRejection::Invalid { .. }));
        let refused = decide(&a, &HeaderMap::new(), &c, &Args::new()).unwrap_err();
        assert!(matches!(refused, CapabilityRejection::Missing { .. }));
    }
}
