use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::session::{self, Session};
use crate::BoxError;

pin_project! {
    /// The response body of [`TapPassService`](super::TapPassService): the inner
    /// body, polled inside the request's session so that a streamed body (SSE)
    /// still sees [`current_session`](crate::current_session), or the layer's
    /// own rejection.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B, session: Option<Session> },
        Rejected { #[pin] body: axum::body::Body },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(body: B, session: Option<Session>) -> Self {
        ResponseBody {
            kind: Kind::Inner { body, session },
        }
    }

    pub(crate) fn rejected(body: axum::body::Body) -> Self {
        ResponseBody {
            kind: Kind::Rejected { body },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Inner { body, session } => {
                let poll = match session {
                    Some(session) => session::sync_scope(session.clone(), || body.poll_frame(cx)),
                    None => body.poll_frame(cx),
                };
                poll.map(|frame| frame.map(|f| f.map_err(Into::into)))
            }
            KindProj::Rejected { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body, .. } => body.is_end_stream(),
            Kind::Rejected { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body, .. } => body.size_hint(),
            Kind::Rejected { body } => body.size_hint(),
        }
    }
}
