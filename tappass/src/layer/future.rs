use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;

use super::ResponseBody;
use crate::events::AuditEvent;
use crate::extract::RouteSession;
use crate::session::{self, Current, InvalidHeader, LayerContext, Session};
use crate::BoxError;

pin_project! {
    /// The response future of [`TapPassService`](super::TapPassService).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
        problem_json: bool,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        // A malformed correlation header: answered without calling the inner service.
        Rejected { invalid: Option<InvalidHeader> },
        // The inner service's future, run in the request's scope, which holds
        // the session (or none) and the layer's agent, and gives them back when
        // the future is done.
        Scoped {
            #[pin]
            future: TaskLocalFuture<Current, F>,
            span: tracing::Span,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn rejected(invalid: InvalidHeader, problem_json: bool) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                invalid: Some(invalid),
            },
            problem_json,
        }
    }

    pub(crate) fn scoped(current: Current, future: F, problem_json: bool) -> Self
    where
        F: Future,
    {
        let span = match &current.session {
            Some(session) => tracing::info_span!(
                "tappass.request",
                session_id = session.id(),
                agent_uuid = session.agent_uuid(),
                opened = current.layer.as_ref().is_some_and(|l| l.opened),
            ),
            None => tracing::Span::none(),
        };
        ResponseFuture {
            kind: Kind::Scoped {
                future: session::scoped(current, future),
                span,
            },
            problem_json,
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
        let this = self.project();
        let problem_json = *this.problem_json;
        match this.kind.project() {
            KindProj::Rejected { invalid } => {
                let invalid = crate::extract::InvalidCorrelation(
                    invalid.take().expect("polled after completion"),
                );
                let response = if problem_json {
                    crate::response::render_problem(&invalid)
                } else {
                    crate::response::render(&invalid)
                };
                Poll::Ready(Ok(response))
            }
            KindProj::Scoped { mut future, span } => {
                let response = {
                    let _entered = span.enter();
                    ready!(future.as_mut().poll(cx))?
                };
                let current = future.take_value().expect("polled after completion");
                let session = current.session;
                if let (
                    Some(LayerContext {
                        agent,
                        opened: true,
                    }),
                    Some(s),
                ) = (current.layer, &session)
                {
                    agent.report(AuditEvent::new(
                        "session_close",
                        s,
                        serde_json::json!({ "status": response.status().as_u16() }),
                    ));
                }
                Poll::Ready(Ok(finish(response, session, problem_json)))
            }
        }
    }
}

/// Puts the correlation headers on the response and keeps the session in
/// scope while a streamed body is polled. A `#[governed]` route that chose its
/// own session (or none) has the last word. With `problem_json`, a governance
/// error answers problem+json.
///
/// The body comes back as an `axum::body::Body`: one that already is passes
/// through as it is (axum does not box it again), and only a streamed one is
/// wrapped.
fn finish<B>(
    mut response: Response<B>,
    session: Option<Session>,
    problem_json: bool,
) -> Response<axum::body::Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let session = match response.extensions_mut().remove::<RouteSession>() {
        Some(RouteSession(route)) => route,
        None => session,
    };
    if let Some(session) = &session {
        session.write_headers(response.headers_mut());
    }
    if problem_json {
        if let Some(problem) = crate::response::take_problem(&mut response) {
            return response.map(|_| problem);
        }
    }
    response.map(|body| match session {
        Some(session) if body.size_hint().exact().is_none() => {
            axum::body::Body::new(ResponseBody::new(body, session))
        }
        _ => axum::body::Body::new(body),
    })
}
