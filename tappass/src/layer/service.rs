use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use super::layer::Shared;
use super::resolve;
use super::ResponseFuture;
use crate::error::BoxError;

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
        let scope = match resolve::for_layer(&self.shared, &request) {
            Ok(scope) => scope,
            Err(invalid) => {
                tracing::info!(
                    header = invalid.header,
                    problem = invalid.problem.describe(),
                    "refused a malformed TapPass correlation header"
                );
                return ResponseFuture::rejected(invalid, self.shared.lent.problem_json);
            }
        };
        // `call` itself runs in the request's scope too (some services do
        // work there), and so does the future it returns.
        let span = super::telemetry::request_span(&request, &scope);
        let inner = &mut self.inner;
        ResponseFuture::scoped(scope, span, || inner.call(request))
    }
}
