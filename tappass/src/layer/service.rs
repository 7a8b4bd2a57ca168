use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use super::layer::Shared;
use super::ResponseFuture;
use crate::events::AuditEvent;
use crate::session::{self, Current, LayerContext, Session};
use crate::BoxError;

/// The service [`TapPassLayer`](super::TapPassLayer) wraps around yours.
#[derive(Clone)]
pub struct TapPassService<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for TapPassService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapPassService")
            .field("inner", &self.inner)
            .field("auto_open_session", &self.shared.auto_open_session)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TapPassService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &*self.shared;
        let joined = match session::from_headers(request.headers()) {
            Ok(joined) => joined,
            Err(invalid) => {
                tracing::info!(
                    header = invalid.header,
                    problem = invalid.problem.describe(),
                    "refused a malformed TapPass correlation header"
                );
                return ResponseFuture::rejected(invalid, shared.problem_json);
            }
        };
        let (session, opened) = match joined {
            Some(session) => (Some(session), false),
            None if shared.auto_open_session => (Some(Session::open()), true),
            None => (None, false),
        };
        if let (true, Some(session)) = (opened, &session) {
            shared.agent.report(AuditEvent::new(
                "session_open",
                session,
                serde_json::json!({
                    "method": request.method().as_str(),
                    "path": request.uri().path(),
                }),
            ));
        }
        // `call` itself runs in the session too (some services do work there);
        // the future then runs in the full scope, which the extractors read.
        let future = match &session {
            Some(s) => session::sync_scope(s.clone(), || self.inner.call(request)),
            None => self.inner.call(request),
        };
        let current = Current {
            session,
            layer: Some(LayerContext {
                agent: shared.agent.clone(),
                opened,
            }),
        };
        ResponseFuture::scoped(current, future, shared.problem_json)
    }
}
