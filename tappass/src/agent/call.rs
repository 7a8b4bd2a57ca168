//! What the call builders ([`ChatCall`](super::ChatCall),
//! [`StreamCall`](super::StreamCall), [`ToolCallRequest`](super::ToolCallRequest))
//! share: each is configured by value, then is itself the `Future` of the
//! call, started on its first poll. Being a `Future` (not only
//! `IntoFuture`) is what lets the compiler say "consider `.await`ing" to
//! someone who wrote `agent.chat(..)?`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The running call of a builder: nothing until its first poll, then the
/// boxed future that the builder's settings made.
pub(crate) struct Started<'a, T>(Option<Pin<Box<dyn Future<Output = T> + Send + 'a>>>);

impl<T> Default for Started<'_, T> {
    fn default() -> Self {
        Started(None)
    }
}

impl<'a, T> Started<'a, T> {
    /// Polls the call, starting it with `start` on the first poll.
    pub(crate) fn poll<F>(&mut self, cx: &mut Context<'_>, start: impl FnOnce() -> F) -> Poll<T>
    where
        F: Future<Output = T> + Send + 'a,
    {
        self.0
            .get_or_insert_with(|| Box::pin(start()))
            .as_mut()
            .poll(cx)
    }
}

impl<T> fmt::Debug for Started<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "running"
        } else {
            "not started"
        })
    }
}
