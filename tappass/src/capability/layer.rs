//! [`RequireCapability`]: a tower layer that refuses every request without
//! a valid capability token before the handler runs, for a whole router
//! (what the Python SDK's `SecureAPIRouter` promises) or one route's call.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use tower_layer::Layer;
use tower_service::Service;

use super::authorizer::{AuthResult, Authorizer};
use super::clearance::Clearance;
use super::extract::{no_authorizer, request_authorizer, Verified};
use super::rejection::CapabilityRejection;
use super::route::{self, Call};

/// A boxed future, as the layer's service returns.
type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// The largest body [`RequireCapability::body`] reads by default: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// Requires a capability token on every request of the routes it wraps.
///
/// - [`RequireCapability::new`] (router-wide, with `.layer(..)`): every
///   request carries a token this service accepts — an execution token of
///   a trusted root, in force, with the minimum trust score (and
///   [`min_clearance`](Self::min_clearance)). What the Python SDK's
///   `SecureAPIRouter` promises: no route is reachable without one. It
///   checks the token, not a call: a token proves possession only for a
///   tool and its arguments, which each route names with
///   `#[governed(tool = …)]` (or the layer below), so put those on the
///   routes that act.
/// - [`RequireCapability::tool`] (one route, with `.route_layer(..)`): the
///   whole call, as `#[governed(tool = …)]` checks it — tool, arguments
///   from the path, the query and (unlike the macro) the JSON body's
///   members, proof of possession, clearance. The handler's
///   [`AuthResult`] extractor then reads the verified call.
///
/// A refused request never reaches the inner service: it is answered with
/// the [`CapabilityRejection`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{routing::post, Router};
/// use tappass::capability::{AuthResult, Authorizer, RequireCapability, SigningKey};
/// use tower::ServiceExt;
///
/// let control_plane = SigningKey::generate()?;
/// let authorizer = Authorizer::builder().trusted_root(control_plane.public_key()).build()?;
/// let app: Router = Router::new()
///     .route(
///         "/tickets",
///         post(|auth: AuthResult| async move { format!("created under {}", auth.token_id()) })
///             .route_layer(RequireCapability::tool("create_ticket").body(["title", "priority"])),
///     )
///     .layer(RequireCapability::new(authorizer));
///
/// // Without a token, the handler never runs.
/// let bare = http::Request::post("/tickets").body(axum::body::Body::empty())?;
/// let response = app.oneshot(bare).await?;
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "TapPass-Capability error=\"capability_missing\"");
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RequireCapability {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    authorizer: Option<Authorizer>,
    tool: Option<String>,
    path_params: Vec<String>,
    query: Vec<String>,
    body: Vec<String>,
    body_limit: usize,
    min_clearance: Option<Clearance>,
}

impl RequireCapability {
    fn map(self, f: impl FnOnce(&mut Inner)) -> RequireCapability {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        f(&mut inner);
        RequireCapability {
            inner: Arc::new(inner),
        }
    }

    fn blank(authorizer: Option<Authorizer>, tool: Option<String>) -> RequireCapability {
        RequireCapability {
            inner: Arc::new(Inner {
                authorizer,
                tool,
                path_params: Vec::new(),
                query: Vec::new(),
                body: Vec::new(),
                body_limit: DEFAULT_BODY_LIMIT,
                min_clearance: None,
            }),
        }
    }

    /// Every request needs a valid token, checked with `authorizer`
    /// (router-wide; see the type's documentation).
    pub fn new(authorizer: Authorizer) -> RequireCapability {
        RequireCapability::blank(Some(authorizer), None)
    }

    /// Every request needs a valid token, checked with the authorizer of
    /// the [`TapPassLayer`](crate::TapPassLayer) outside this one
    /// (`.capabilities(authorizer)`), else the request's
    /// `Extension<Authorizer>` (`500 governance_misconfigured` without either).
    pub fn from_extension() -> RequireCapability {
        RequireCapability::blank(None, None)
    }

    /// Every request is a call of `tool`, verified whole: its arguments
    /// (from [`path_param`](Self::path_param), [`query`](Self::query),
    /// [`body`](Self::body)), the proof of possession over them, the
    /// clearance. The authorizer is the layer's or the request's
    /// `Extension` (as [`from_extension`](Self::from_extension)), unless
    /// [`authorizer`](Self::authorizer) gives one.
    pub fn tool(tool: impl Into<String>) -> RequireCapability {
        RequireCapability::blank(None, Some(tool.into()))
    }

    /// Checks with `authorizer` rather than the layer's or an `Extension`'s.
    pub fn authorizer(self, authorizer: Authorizer) -> RequireCapability {
        self.map(|i| i.authorizer = Some(authorizer))
    }

    /// The path parameter `name` is an argument of the call, as a string
    /// (the route must have it: a `500` otherwise). Only with
    /// [`tool`](Self::tool).
    pub fn path_param(self, name: impl Into<String>) -> RequireCapability {
        let name = name.into();
        self.map(|i| i.path_params.push(name))
    }

    /// Each of these query parameters is an argument of the call, as a
    /// string, when the request has it (a parameter given twice is a
    /// `400`). Only with [`tool`](Self::tool).
    pub fn query(self, names: impl IntoIterator<Item = impl Into<String>>) -> RequireCapability {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        self.map(|i| i.query.extend(names))
    }

    /// Each of these members of the request's JSON object body is an
    /// argument of the call, with its JSON value, when the body has it. The
    /// body is read (up to [`body_limit`](Self::body_limit)) before the
    /// handler and handed on unchanged; a body that is not a JSON object is
    /// a `400`. Only with [`tool`](Self::tool).
    pub fn body(self, names: impl IntoIterator<Item = impl Into<String>>) -> RequireCapability {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        self.map(|i| i.body.extend(names))
    }

    /// The largest body read for [`body`](Self::body) (default 1 MiB); a
    /// larger one is a `400`.
    pub fn body_limit(self, bytes: usize) -> RequireCapability {
        self.map(|i| i.body_limit = bytes)
    }

    /// The token's clearance must be at least `level` (`403
    /// capability_clearance`).
    pub fn min_clearance(self, level: Clearance) -> RequireCapability {
        self.map(|i| i.min_clearance = Some(level))
    }

    fn authorizer_for(&self, parts: &Parts) -> Result<Authorizer, CapabilityRejection> {
        match &self.inner.authorizer {
            Some(authorizer) => Ok(authorizer.clone()),
            None => request_authorizer(parts).ok_or_else(no_authorizer),
        }
    }

    /// The router-wide check: the token alone.
    fn validate(&self, parts: &Parts) -> Result<(), CapabilityRejection> {
        let authorizer = self.authorizer_for(parts)?;
        route::validate(&authorizer, &parts.headers, self.inner.min_clearance)
    }

    /// The check of one call; the request comes back with its body.
    async fn verify(
        &self,
        tool: &str,
        mut parts: Parts,
        body: Body,
    ) -> Result<(AuthResult, Request), CapabilityRejection> {
        let authorizer = self.authorizer_for(&parts)?;
        let call = Call {
            tool,
            path_params: &self.inner.path_params,
            query: &self.inner.query,
            body: &self.inner.body,
            min_clearance: self.inner.min_clearance,
        };
        if self.inner.body.is_empty() {
            let auth = route::verify(&authorizer, &mut parts, &call, None).await?;
            return Ok((auth, Request::from_parts(parts, body)));
        }
        let bytes = axum::body::to_bytes(body, self.inner.body_limit)
            .await
            .map_err(|_| CapabilityRejection::Unreadable {
                reason: format!(
                    "the body could not be read, or is over the route's {}-byte limit",
                    self.inner.body_limit
                ),
            })?;
        let json: serde_json::Value = if bytes.is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&bytes).map_err(|_| CapabilityRejection::Unreadable {
                reason: "the body is not JSON".into(),
            })?
        };
        let object = json
            .as_object()
            .ok_or_else(|| CapabilityRejection::Unreadable {
                reason: "the body is not a JSON object".into(),
            })?;
        let auth = route::verify(&authorizer, &mut parts, &call, Some(object)).await?;
        Ok((auth, Request::from_parts(parts, Body::from(bytes))))
    }
}

impl fmt::Debug for RequireCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireCapability")
            .field("authorizer", &self.inner.authorizer)
            .field("tool", &self.inner.tool)
            .field("path_params", &self.inner.path_params)
            .field("query", &self.inner.query)
            .field("body", &self.inner.body)
            .field("body_limit", &self.inner.body_limit)
            .field("min_clearance", &self.inner.min_clearance)
            .finish()
    }
}

impl<S> Layer<S> for RequireCapability {
    type Service = RequireCapabilityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireCapabilityService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireCapability`].
#[derive(Clone, Debug)]
pub struct RequireCapabilityService<S> {
    inner: S,
    layer: RequireCapability,
}

impl<S> Service<Request> for RequireCapabilityService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let checked = match layer.inner.tool.clone() {
                None => layer
                    .validate(&parts)
                    .map(|()| Request::from_parts(parts, body)),
                Some(tool) => layer
                    .verify(&tool, parts, body)
                    .await
                    .map(|(auth, mut request)| {
                        request.extensions_mut().insert(Verified(auth));
                        request
                    }),
            };
            match checked {
                Ok(request) => inner.call(request).await,
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
