use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;

use super::ResponseBody;
use crate::events::AuditEvent;
use crate::extract::RouteSession;
use crate::session::{self, InvalidHeader, Session};
use crate::Agent;

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
        Rejected { invalid: Option<InvalidHeader> },
        Plain { #[pin] future: F },
        Scoped {
            #[pin]
            future: TaskLocalFuture<Option<Session>, F>,
            session: Option<Session>,
            span: tracing::Span,
            // Set when the layer opened the session and must report its close.
            reporter: Option<Agent>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn rejected(invalid: InvalidHeader) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                invalid: Some(invalid),
            },
            problem_json: false,
        }
    }

    pub(crate) fn plain(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Plain { future },
            problem_json: false,
        }
    }

    pub(crate) fn scoped(session: Session, future: F, reporter: Option<Agent>) -> Self
    where
        F: Future,
    {
        let span = tracing::info_span!(
            "tappass.request",
            session_id = session.id(),
            agent_uuid = session.agent_uuid(),
            opened = reporter.is_some(),
        );
        ResponseFuture {
            kind: Kind::Scoped {
                future: session::scoped(Some(session.clone()), future),
                session: Some(session),
                span,
                reporter,
            },
            problem_json: false,
        }
    }

    /// Answers governance errors as problem+json (the layer's `problem_json`).
    pub(crate) fn problem_json(mut self, on: bool) -> Self {
        self.problem_json = on;
        self
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

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
                Poll::Ready(Ok(response.map(ResponseBody::rejected)))
            }
            KindProj::Plain { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(finish(response, None, problem_json)))
            }
            KindProj::Scoped {
                future,
                session,
                span,
                reporter,
            } => {
                let response = {
                    let _entered = span.enter();
                    ready!(future.poll(cx))?
                };
                let session = session.take();
                if let (Some(agent), Some(s)) = (reporter.take(), &session) {
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
/// scope while its body is polled. A `#[governed]` route that chose its own
/// session (or none) has the last word. With `problem_json`, a governance
/// error answers problem+json.
fn finish<B: http_body::Body>(
    mut response: Response<B>,
    session: Option<Session>,
    problem_json: bool,
) -> Response<ResponseBody<B>> {
    let session = match response.extensions_mut().remove::<RouteSession>() {
        Some(RouteSession(route)) => route,
        None => session,
    };
    if let Some(session) = &session {
        session.write_headers(response.headers_mut());
    }
    if problem_json {
        if let Some(problem) = crate::response::take_problem(&mut response) {
            return response.map(|_| ResponseBody::rejected(problem));
        }
    }
    response.map(|body| {
        // A body whose length is known is already made: only a streamed one
        // (SSE, chunked) needs the session while it is polled.
        let streamed = session.filter(|_| body.size_hint().exact().is_none());
        ResponseBody::new(body, streamed)
    })
}
