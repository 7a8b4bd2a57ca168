//! rmcp's own MCP client over streamable HTTP, carried by this workspace's
//! reqwest 0.12: rmcp's built-in carrier (`transport-streamable-http-client-reqwest`)
//! is reqwest 0.13, which would build a second HTTP stack. This is rmcp's
//! client transport trait implemented for one client, with rmcp's own SSE
//! reader (`sse-stream`) for the event streams; the protocol above it
//! (initialize, sessions, requests) is all rmcp's.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::stream::{BoxStream, StreamExt};
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use rmcp::transport::StreamableHttpClientTransport;
use sse_stream::{Sse, SseStream};

const SESSION_ID: &str = "mcp-session-id";
const LAST_EVENT_ID: &str = "last-event-id";
const ACCEPT_BOTH: &str = "text/event-stream, application/json";

/// A reqwest 0.12 client as rmcp's streamable-HTTP client carrier; `headers`
/// go on every request (the `X-TapPass-*` headers of a caller, say).
#[derive(Clone, Default)]
pub struct Reqwest012 {
    client: reqwest::Client,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reqwest012 {
    /// A carrier that sends `headers` with every request.
    pub fn with_headers(headers: &[(&'static str, &str)]) -> Reqwest012 {
        Reqwest012 {
            client: reqwest::Client::new(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    (
                        HeaderName::from_static(name),
                        HeaderValue::from_str(value).expect("a header value"),
                    )
                })
                .collect(),
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        uri: &str,
        session_id: Option<&str>,
        auth: Option<String>,
        custom: HashMap<HeaderName, HeaderValue>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.client.request(method, uri);
        for (name, value) in self.headers.iter().cloned().chain(custom) {
            request = request.header(name, value);
        }
        if let Some(session_id) = session_id {
            request = request.header(SESSION_ID, session_id);
        }
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        request
    }
}

/// The SSE events of a response, as rmcp reads them.
fn events(response: reqwest::Response) -> BoxStream<'static, Result<Sse, SseError>> {
    SseStream::from_bytes_stream(response.bytes_stream()).boxed()
}

fn unexpected(what: &'static str) -> StreamableHttpError<reqwest::Error> {
    StreamableHttpError::UnexpectedServerResponse(what.into())
}

/// A rmcp client transport to the MCP server at `url` over this carrier.
pub fn transport(url: &str, carrier: Reqwest012) -> StreamableHttpClientTransport<Reqwest012> {
    StreamableHttpClientTransport::with_client(
        carrier,
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            url.to_owned(),
        ),
    )
}

impl StreamableHttpClient for Reqwest012 {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth: Option<String>,
        custom: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>> {
        let response = self
            .request(
                reqwest::Method::POST,
                &uri,
                session_id.as_deref(),
                auth,
                custom,
            )
            .header(reqwest::header::ACCEPT, ACCEPT_BOTH)
            .json(&message)
            .send()
            .await
            .map_err(StreamableHttpError::Client)?;
        let status = response.status();
        if matches!(status.as_u16(), 202 | 204) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == 404 && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let session = response
            .headers()
            .get(SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if content_type.starts_with("text/event-stream") && status.is_success() {
            return Ok(StreamableHttpPostResponse::Sse(events(response), session));
        }
        if content_type.starts_with("application/json") {
            let bytes = response
                .bytes()
                .await
                .map_err(StreamableHttpError::Client)?;
            let message: ServerJsonRpcMessage = serde_json::from_slice(&bytes)?;
            return Ok(StreamableHttpPostResponse::Json(message, session));
        }
        if !status.is_success() {
            return Err(unexpected(
                "the server answered a POST with an error status",
            ));
        }
        Err(StreamableHttpError::UnexpectedContentType(Some(
            content_type,
        )))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth: Option<String>,
        custom: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<reqwest::Error>> {
        let response = self
            .request(
                reqwest::Method::DELETE,
                &uri,
                Some(&session_id),
                auth,
                custom,
            )
            .send()
            .await
            .map_err(StreamableHttpError::Client)?;
        if response.status().is_success() || response.status() == 405 {
            Ok(())
        } else {
            Err(unexpected("the server refused to end the session"))
        }
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth: Option<String>,
        custom: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<reqwest::Error>>
    {
        let mut request = self
            .request(
                reqwest::Method::GET,
                &uri,
                session_id.as_deref(),
                auth,
                custom,
            )
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(last) = last_event_id {
            request = request.header(LAST_EVENT_ID, last);
        }
        let response = request.send().await.map_err(StreamableHttpError::Client)?;
        if response.status() == 405 {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if !response.status().is_success() {
            return Err(unexpected("the server refused the event stream"));
        }
        Ok(events(response))
    }
}
