//! Streamed chat: Server-Sent Events into a [`ChatStream`] of [`ChatChunk`]s.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_core::Stream;
use http::Method;
use serde_json::Value;

use super::call::Started;
use super::chat::{answer_parts, ChatRequest, Message};
use super::{Agent, ApiKey, Correlation};
use crate::error::Error;
use crate::response::GovernanceError as _;

/// The largest single SSE event accepted from the server.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// One piece of a streamed answer.
///
/// Like [`ChatResponse`](super::ChatResponse), it dereferences to its
/// [`Correlation`]: `chunk.session_id` reads the chunk's session.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ChatChunk {
    /// The text this chunk adds (may be empty).
    pub content: String,
    /// Set on the last chunk: why the model stopped.
    pub finish_reason: Option<String>,
    /// The correlation, when the server sent it (usually on the first chunk
    /// only); `chunk.session_id` reads it through `Deref`.
    pub correlation: Correlation,
    /// The chunk's JSON as sent.
    pub raw: Value,
}

impl ChatChunk {
    /// Reads a chunk: text from `choices[0].delta.content`, or a top-level
    /// `delta` or `content`; the end from `finish_reason` or `finished: true`.
    pub fn from_json(raw: Value) -> Result<ChatChunk, Error> {
        let (obj, choice) = answer_parts(&raw, "a stream chunk")?;
        let content = choice
            .and_then(|c| c.get("delta"))
            .and_then(|d| d.get("content"))
            .and_then(Value::as_str)
            .or_else(|| obj.get("delta").and_then(Value::as_str))
            .or_else(|| {
                obj.get("delta")
                    .and_then(|d| d.get("content"))
                    .and_then(Value::as_str)
            })
            .or_else(|| obj.get("content").and_then(Value::as_str))
            .unwrap_or_default()
            .to_owned();
        let finish_reason = choice
            .and_then(|c| c.get("finish_reason"))
            .or_else(|| obj.get("finish_reason"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                (obj.get("finished").and_then(Value::as_bool) == Some(true))
                    .then(|| "stop".to_owned())
            });
        Ok(ChatChunk {
            content,
            finish_reason,
            correlation: Correlation::read(obj),
            raw,
        })
    }
}

/// A stream call being configured; `.await` it to start the stream.
#[must_use = "a stream call does nothing until it is awaited"]
#[derive(Debug)]
pub struct StreamCall<'a> {
    agent: &'a Agent,
    request: ChatRequest,
    running: Started<'a, Result<ChatStream, Error>>,
}

super::chat::request_options!(StreamCall);

impl Future for StreamCall<'_> {
    type Output = Result<ChatStream, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (agent, request) = (this.agent, &mut this.request);
        this.running.poll(cx, || {
            let request = std::mem::take(request);
            async move { agent.stream_request(&request).await }
        })
    }
}

/// A streamed answer: a `Stream` of `Result<ChatChunk, tappass::Error>`.
///
/// A decision taken before the stream starts is the error of the `.await` that
/// starts it; a stream the server cuts off before its end yields one
/// [`Error::Unavailable`] and then ends.
pub struct ChatStream {
    inner: Pin<Box<dyn Stream<Item = Result<ChatChunk, Error>> + Send>>,
    /// The stream's `chat` span, held (never read) so that it ends when the
    /// stream is dropped.
    _span: tracing::Span,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream").finish_non_exhaustive()
    }
}

impl ChatStream {
    /// This stream as an axum [`Sse`](axum::response::Sse) response, in one
    /// call: return it from a handler.
    ///
    /// - each chunk is a `chunk` event whose data is
    ///   `{"content": "…", "finish_reason": null}`;
    /// - a clean end is a `done` event with data `[DONE]`, then the
    ///   response ends;
    /// - a decision the server takes in the middle of the stream ends it with a
    ///   `decision` event whose data is the decision's JSON body, the one a
    ///   `?` would have answered before the stream started (`error`,
    ///   `message`, the decision's fields, `session_id`, `audit_url`; in
    ///   problem+json form under a layer that asks for it); another failure
    ///   ends it with an `error` event of the same shape, whose message keeps
    ///   the details out as a `5xx` body does. No API key is ever in them.
    ///
    /// Call it in the handler, inside the request: it keeps the request's
    /// session (the events render its correlation ids, and the layer or
    /// `#[governed]` keeps the session in scope while the body is polled).
    /// A decision before the stream starts is the error of `agent.stream()`
    /// itself: `?` answers it with its status, as for a plain chat.
    ///
    /// ```no_run
    /// use axum::response::IntoResponse;
    ///
    /// #[tappass::governed]
    /// async fn report(agent: tappass::Agent) -> Result<impl IntoResponse, tappass::Error> {
    ///     Ok(agent.stream("Write a report").await?.into_sse())
    /// }
    /// # let _: axum::Router = axum::Router::new().route("/report", axum::routing::post(report));
    /// ```
    pub fn into_sse(
        self,
    ) -> axum::response::Sse<
        impl Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
            + Send
            + 'static,
    > {
        use axum::response::sse::Event;
        use futures_util::StreamExt as _;

        let session = crate::session::current_session();
        let form = crate::response::Form::current();
        let events = futures_util::stream::unfold(Some(self), move |state| {
            let session = session.clone();
            async move {
                let mut chunks = state?;
                let event = match chunks.next().await {
                    Some(Ok(chunk)) => {
                        let data = serde_json::json!({
                            "content": chunk.content,
                            "finish_reason": chunk.finish_reason,
                        });
                        return Some((
                            Ok(Event::default().event("chunk").data(data.to_string())),
                            Some(chunks),
                        ));
                    }
                    None => Event::default().event("done").data("[DONE]"),
                    Some(Err(err)) => {
                        let kind = if err.decision().is_some() {
                            "decision"
                        } else {
                            "error"
                        };
                        let body = crate::response::body_bytes(&err, session.as_ref(), form);
                        Event::default()
                            .event(kind)
                            .data(String::from_utf8_lossy(&body))
                    }
                };
                // The last event: the stream ends after it.
                Some((Ok(event), None))
            }
        });
        axum::response::Sse::new(events)
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatChunk, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct SseState {
    response: reqwest::Response,
    parser: SseParser,
    done: bool,
    read_timeout: std::time::Duration,
}

enum Step {
    Chunk(ChatChunk),
    Done,
}

impl SseState {
    /// The next chunk, `Ok(None)` at a clean end.
    async fn next(&mut self) -> Result<Option<ChatChunk>, Error> {
        loop {
            match self.parser.next_step()? {
                Some(Step::Chunk(chunk)) => return Ok(Some(chunk)),
                Some(Step::Done) => {
                    self.done = true;
                    return Ok(None);
                }
                None => {}
            }
            match self.read().await? {
                Some(bytes) => self.parser.feed(&bytes),
                None => {
                    self.done = true;
                    return match self.parser.end()? {
                        Some(Step::Chunk(chunk)) => Ok(Some(chunk)),
                        // A final `data: [DONE]` is a clean end, blank line or not.
                        Some(Step::Done) => Ok(None),
                        None if self.parser.finished => Ok(None),
                        None => Err(Error::unavailable(
                            "the TapPass stream ended before its last chunk",
                            None,
                        )),
                    };
                }
            }
        }
    }

    /// The next bytes of the body, `None` at its end. A stream has no total
    /// timeout, but each wait for its next bytes is bounded by the agent's
    /// timeout; bytes already received are taken without arming a timer.
    async fn read(&mut self) -> Result<Option<bytes::Bytes>, Error> {
        let mut read = std::pin::pin!(self.response.chunk());
        let ready = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
        let next = match ready {
            Poll::Ready(next) => next,
            Poll::Pending => match tokio::time::timeout(self.read_timeout, read).await {
                Ok(next) => next,
                Err(_) => {
                    self.done = true;
                    return Err(Error::unavailable(
                        format!(
                            "the TapPass stream stalled: no data for {:?}",
                            self.read_timeout
                        ),
                        None,
                    ));
                }
            },
        };
        next.map_err(|err| {
            self.done = true;
            Error::unavailable(
                format!("the TapPass stream was cut off: {}", err.without_url()),
                None,
            )
        })
    }
}

/// The Server-Sent Events parser, apart from any I/O: bytes in, chat chunks
/// out. Its cost is linear in the bytes fed, however they are split.
struct SseParser {
    /// The agent's key, scrubbed from a decision the server echoes it into.
    secret: ApiKey,
    /// The agent's public base of approval pages, for an approval decided
    /// in the middle of the stream, as for one that answers a call.
    approval_base: Option<String>,
    /// Bytes received and not yet parsed: at most one line.
    buffer: BytesMut,
    /// How much of `buffer` is known to hold no newline, so that each byte is
    /// scanned once however the server chunks the stream.
    scanned: usize,
    /// The `data:` lines of the event being read.
    data: String,
    /// A chunk with a `finish_reason` was seen.
    finished: bool,
}

impl SseParser {
    fn new(secret: ApiKey, approval_base: Option<String>) -> Self {
        SseParser {
            secret,
            approval_base,
            buffer: BytesMut::new(),
            scanned: 0,
            data: String::new(),
            finished: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next event of the bytes fed so far, `None` when it needs more.
    fn next_step(&mut self) -> Result<Option<Step>, Error> {
        while let Some(pos) = self.buffer[self.scanned..].iter().position(|&b| b == b'\n') {
            let line = self.buffer.split_to(self.scanned + pos + 1);
            self.scanned = 0;
            if let Some(step) = self.line(&line)? {
                return Ok(Some(step));
            }
        }
        self.scanned = self.buffer.len();
        if self.buffer.len() > MAX_EVENT_BYTES {
            return Err(Error::Protocol(
                "a stream event is larger than 1 MiB".to_owned(),
            ));
        }
        Ok(None)
    }

    /// The body ended: a last event may lack its newline or its blank line.
    fn end(&mut self) -> Result<Option<Step>, Error> {
        let mut last = None;
        if !self.buffer.is_empty() {
            let rest = self.buffer.split();
            self.scanned = 0;
            last = self.line(&rest)?;
        }
        if last.is_none() && !self.data.is_empty() {
            last = self.dispatch()?;
        }
        Ok(last)
    }

    fn line(&mut self, raw: &[u8]) -> Result<Option<Step>, Error> {
        let line = std::str::from_utf8(raw)
            .map_err(|_| Error::Protocol("a stream line is not UTF-8".to_owned()))?
            .trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            return self.dispatch();
        }
        if let Some(data) = line.strip_prefix("data:") {
            let data = data.strip_prefix(' ').unwrap_or(data);
            if !self.data.is_empty() {
                self.data.push('\n');
            }
            self.data.push_str(data);
            if self.data.len() > MAX_EVENT_BYTES {
                return Err(Error::Protocol(
                    "a stream event is larger than 1 MiB".to_owned(),
                ));
            }
        }
        // Comments (`:`), `event:`, `id:` and `retry:` lines carry nothing we use.
        Ok(None)
    }

    fn dispatch(&mut self) -> Result<Option<Step>, Error> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let data = std::mem::take(&mut self.data);
        if data.trim() == "[DONE]" {
            return Ok(Some(Step::Done));
        }
        // A server may echo the key into what it sends (`invalid key tp_…`):
        // scrubbed as `classify` scrubs an error body, before a decision can
        // carry it into an error, a log line or a response body.
        let data = super::transport::redact_text(&data, self.secret.expose());
        let value: Value = serde_json::from_str(&data)
            .map_err(|e| Error::Protocol(format!("a stream chunk is not JSON ({e})")))?;
        if let Some(decision) = super::received_decision(&value, self.approval_base.as_deref()) {
            tracing::info!(
                decision = decision.code(),
                "TapPass decision in the middle of a stream"
            );
            return Err(decision.into());
        }
        let chunk = ChatChunk::from_json(value)?;
        chunk.correlation.teach_session();
        if chunk.finish_reason.is_some() {
            self.finished = true;
        }
        Ok(Some(Step::Chunk(chunk)))
    }
}

impl Agent {
    /// A governed, streamed chat call with one user message; `.await` it to
    /// start the stream. The `.await` resolves once the server's first event
    /// has arrived (or its decision, or the read timeout), so that the
    /// session in scope knows the correlation that event carries before the
    /// handler returns: a streamed response echoes every correlation header,
    /// as a plain chat's does.
    pub fn stream(&self, prompt: impl Into<String>) -> StreamCall<'_> {
        StreamCall {
            agent: self,
            request: ChatRequest {
                messages: vec![Message::user(prompt)],
                ..ChatRequest::default()
            },
            running: Started::default(),
        }
    }

    /// Starts a stream for a prepared [`ChatRequest`].
    pub async fn stream_request(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        let operation = super::telemetry::Operation::chat(self, request, true);
        let result = super::in_span(&operation.span, self.start_stream(request)).await;
        operation.finish_stream_start(self, &result);
        // The span lasts as long as the stream: it ends when the stream is
        // dropped (after its last chunk, or when the client goes away).
        result.map(|stream| ChatStream {
            _span: operation.span,
            ..stream
        })
    }

    async fn start_stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        self.ensure_version().await?;
        let body = request.to_body(self, true)?;
        let answer = self
            .send(Method::POST, super::transport::CHAT_PATH, Some(body), true)
            .await?;
        let is_sse = answer
            .response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_sse {
            // A server that answers a stream request with one JSON body: one
            // chunk, read within the agent's timeout like any other answer.
            let read =
                super::transport::read_limited(answer.response, self.inner.max_response_bytes);
            let bytes = tokio::time::timeout(self.inner.timeout, read)
                .await
                .map_err(|_| {
                    Error::unavailable(
                        format!(
                            "the TapPass stream answered JSON and then stalled: not all of it within {:?}",
                            self.inner.timeout
                        ),
                        None,
                    )
                })??;
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Protocol(format!("the stream answer is neither SSE nor JSON ({e})"))
            })?;
            let full = super::ChatResponse::from_json(value)?;
            let chunk = ChatChunk {
                content: full.content,
                finish_reason: full.finish_reason.or(Some("stop".to_owned())),
                correlation: full.correlation,
                raw: full.raw,
            };
            return Ok(ChatStream {
                inner: Box::pin(futures_util::stream::iter([Ok(chunk)])),
                _span: tracing::Span::none(),
            });
        }
        let mut state = SseState {
            response: answer.response,
            parser: SseParser::new(self.inner.key.clone(), self.inner.approval_base_url.clone()),
            done: false,
            read_timeout: self.inner.timeout,
        };
        // The first event is read here, before the stream is handed out: the
        // session in scope learns the correlation it carries while the
        // handler still runs, so the response's headers (written when the
        // handler returns) echo all of it, as for a plain chat.
        let first = match state.next().await {
            Ok(Some(chunk)) => Some(Ok(chunk)),
            Ok(None) => None,
            Err(err) => {
                state.done = true;
                Some(Err(err))
            }
        };
        let rest = futures_util::stream::unfold(state, |mut state| async move {
            if state.done {
                return None;
            }
            match state.next().await {
                Ok(Some(chunk)) => Some((Ok(chunk), state)),
                Ok(None) => None,
                Err(err) => {
                    state.done = true;
                    Some((Err(err), state))
                }
            }
        });
        let stream = futures_util::StreamExt::chain(futures_util::stream::iter(first), rest);
        Ok(ChatStream {
            inner: Box::pin(stream),
            _span: tracing::Span::none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Parses `body` fed in pieces of `size` bytes: the chunks' contents, and
    /// how long the parser took.
    fn parse(body: &[u8], size: usize) -> (Vec<String>, Duration) {
        let mut parser = SseParser::new(ApiKey::new("tp_test"), None);
        let mut contents = Vec::new();
        let started = Instant::now();
        for piece in body.chunks(size) {
            parser.feed(piece);
            while let Some(step) = parser.next_step().expect("valid SSE") {
                match step {
                    Step::Chunk(chunk) => contents.push(chunk.content),
                    Step::Done => return (contents, started.elapsed()),
                }
            }
        }
        panic!("no [DONE]")
    }

    /// A 1 MiB event fed one byte at a time costs a constant per byte more
    /// than the same event fed at once, not a rescan of everything buffered:
    /// the quadratic parser needed about 5 * 10^11 byte comparisons here.
    #[test]
    fn a_1_mib_event_fed_byte_by_byte_parses_in_linear_time() {
        let content = "x".repeat(MAX_EVENT_BYTES - 200);
        let body = format!(
            "data: {}\n\ndata: [DONE]\n\n",
            serde_json::json!({"content": content, "finish_reason": "stop"})
        );
        let (whole, at_once) = parse(body.as_bytes(), body.len());
        let (split, byte_by_byte) = parse(body.as_bytes(), 1);
        assert_eq!(whole, std::slice::from_ref(&content));
        assert_eq!(split, [content]);
        // Generous: per-call overhead in a debug build, on a loaded machine.
        assert!(
            byte_by_byte < 50 * at_once + Duration::from_millis(500),
            "byte by byte {byte_by_byte:?}, at once {at_once:?}"
        );
        eprintln!("1 MiB event: at once {at_once:?}, byte by byte {byte_by_byte:?}");
    }
}
