use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::BoxError;
use crate::session::scope::Scope;
use crate::session::Session;

pin_project! {
    /// A streamed response body (SSE, chunked) polled inside the request's
    /// session, so that the code producing it still sees
    /// [`current_session`](crate::current_session).
    ///
    /// Only a body whose length is not known up front is wrapped: one of known
    /// length is already made and passes through untouched.
    pub struct ResponseBody<B> {
        #[pin]
        body: B,
        session: Session,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(body: B, session: Session) -> Self {
        ResponseBody { body, session }
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
        let this = self.project();
        let body = this.body;
        Scope::bare(Some(this.session.clone()))
            .enter_sync(|| body.poll_frame(cx))
            .map(|frame| frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
