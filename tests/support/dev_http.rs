//! Plain HTTP to the development server, as an attacker (or a client that
//! is not the `Agent`) sends it: a `POST` with any key and any headers, and
//! a `/v1/govern` behaviour as the Python SDK writes it.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// `POST {url}{path}` with the API key `key` and `headers`: status, body, headers.
pub async fn post(
    url: &str,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(key)
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the dev server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

/// A `/v1/govern` body for `tool` with `args`, as the Python SDK writes it.
pub fn behaviour(tool: &str, args: Value) -> Value {
    json!({"type": "TOOL_CALL", "agent_id": "", "session_id": "", "org_id": null,
           "behavior_id": "0123456789abcdef0123456789abcdef",
           "payload": {"tool": tool, "args": args, "server": null}})
}
