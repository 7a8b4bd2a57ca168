use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use super::resolve;
use crate::error::BoxError;
use crate::response::{self, Form};
use crate::session::scope::{Scope, Scoped};
use crate::session::InvalidHeader;

pin_project! {
    /// The response future of [`TapPassService`](super::TapPassService).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        // A malformed correlation header: answered without calling the inner
        // service, in the layer's error form.
        Rejected { invalid: Option<InvalidHeader>, form: Form },
        // The inner service's future, run in the request's scope, which gives
        // the scope back when the future is done.
        Scoped {
            #[pin]
            future: Scoped<F>,
            span: tracing::Span,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn rejected(invalid: InvalidHeader, problem_json: bool) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                invalid: Some(invalid),
                form: Form::of(problem_json),
            },
        }
    }

    /// Calls the inner service with `call` in `scope` and `span`, and runs
    /// the future it returns in both.
    pub(crate) fn scoped(scope: Scope, span: tracing::Span, call: impl FnOnce() -> F) -> Self
    where
        F: Future,
    {
        let future = if span.is_disabled() {
            scope.enter_with(call)
        } else {
            span.in_scope(|| scope.enter_with(call))
        };
        ResponseFuture {
            kind: Kind::Scoped { future, span },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<axum::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Rejected { invalid, form } => {
                let invalid = invalid.take().expect("polled after completion");
                Poll::Ready(Ok(response::render_in(&invalid, *form)))
            }
            KindProj::Scoped { mut future, span } => {
                let response = {
                    let _entered = span.enter();
                    ready!(future.as_mut().poll(cx))?
                };
                let scope = future.take_scope().expect("polled after completion");
                super::telemetry::end_request(span, response.status(), &scope);
                Poll::Ready(Ok(resolve::finish(response, scope)))
            }
        }
    }
}
