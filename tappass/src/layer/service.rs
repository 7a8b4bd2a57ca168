use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::layer::Shared;
use super::{ResponseBody, ResponseFuture};
use crate::events::AuditEvent;
use crate::extract::RequestContext;
use crate::session::{self, Session};

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
    ResBody: http_body::Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let joined = match session::from_headers(request.headers()) {
            Ok(joined) => joined,
            Err(invalid) => {
                tracing::info!(
                    header = invalid.header,
                    problem = invalid.problem.describe(),
                    "refused a malformed TapPass correlation header"
                );
                return ResponseFuture::rejected(invalid).problem_json(self.shared.problem_json);
            }
        };
        let (session, opened) = match joined {
            Some(session) => (Some(session), false),
            None if self.shared.auto_open_session => (Some(Session::open()), true),
            None => (None, false),
        };
        let agent = &self.shared.agent;
        if opened {
            if let Some(session) = &session {
                agent.report(AuditEvent::new(
                    "session_open",
                    session,
                    serde_json::json!({
                        "method": request.method().as_str(),
                        "path": request.uri().path(),
                    }),
                ));
            }
        }
        request.extensions_mut().insert(RequestContext {
            session: session.clone(),
            opened_by_layer: opened,
            agent: Some(agent.clone()),
        });
        let future = match session {
            Some(session) => {
                let inner = &mut self.inner;
                let future = session::sync_scope(session.clone(), || inner.call(request));
                let reporter = opened.then(|| agent.clone());
                ResponseFuture::scoped(session, future, reporter)
            }
            None => ResponseFuture::plain(self.inner.call(request)),
        };
        future.problem_json(self.shared.problem_json)
    }
}
