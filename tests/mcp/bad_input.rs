//! What a client controls, refused clearly and never with a panic: a
//! malformed or conflicting correlation (in the params, `_meta` or the
//! headers), a resume token that is none, tool names a later parser would
//! read as syntax (`*`, `:`, `..`), unknown tools, a body past the limit. Each
//! is a JSON-RPC `-32602` (or an HTTP status for the body) that names what
//! was wrong without echoing it, before anything is governed or run, and
//! the server serves the next call as before.

use serde_json::{json, Value};

use super::{ours, Raw, Served};
use crate::support::bounded;

/// The markup a hostile value carries: never echoed.
const HOSTILE: &str = "ses_<img src=x onerror=alert(1)>";

/// Asserts a `-32602` whose `data.error` is `code`, and which does not echo
/// the hostile value.
fn invalid_params(answer: &super::Answer, code: &str) -> Value {
    assert_eq!(answer.status, 200, "{}", answer.message);
    let error = answer.error().clone();
    assert_eq!(error["code"], -32602, "{error}");
    assert_eq!(error["data"]["error"], code, "{error}");
    let text = error.to_string();
    assert!(!text.contains("<img"), "{text}");
    assert!(!text.contains("onerror"), "{text}");
    error
}

#[tokio::test]
async fn a_malformed_or_conflicting_correlation_is_invalid_params_and_nothing_runs() {
    bounded(async {
        let served = Served::example(true).await;
        let raw = Raw::connect(&served.url).await;
        let args = json!({"number": "INV-1"});
        let cases = [
            (json!({"tappass-correlation": "ses_1"}), "params.tappass-correlation"),
            (json!({"tappass-correlation": []}), "params.tappass-correlation"),
            (json!({"tappass-correlation": {}}), "params.tappass-correlation.session_id"),
            (json!({"tappass-correlation": {"session_id": HOSTILE}}), "params.tappass-correlation.session_id"),
            (json!({"tappass-correlation": {"session_id": ".."}}), "params.tappass-correlation.session_id"),
            (json!({"tappass-correlation": {"session_id": "x".repeat(129)}}), "params.tappass-correlation.session_id"),
            (json!({"tappass-correlation": {"session_id": 42}}), "params.tappass-correlation.session_id"),
            (json!({"tappass-correlation": {"session_id": "ses_1", "agent_uuid": {"a": 1}}}), "params.tappass-correlation.agent_uuid"),
            (json!({"tappass-correlation": {"session_id": "ses_1", "audit_url": "javascript:alert(1)"}}), "params.tappass-correlation.audit_url"),
            (json!({"tappass-correlation": {"session_id": "ses_1", "audit_url": "https://user:pw@dash.example/"}}), "params.tappass-correlation.audit_url"),
            (json!({"_meta": {"tappass-correlation": {"session_id": HOSTILE}}}), "_meta.tappass-correlation.session_id"),
            (json!({"_meta": {"tappass-resume-token": HOSTILE}}), "_meta.tappass-resume-token"),
            (json!({"_meta": {"tappass-resume-token": ["rt_1"]}}), "_meta.tappass-resume-token"),
            (
                json!({"tappass-correlation": {"session_id": "ses_a"}, "_meta": {"tappass-correlation": {"session_id": "ses_b"}}}),
                "_meta.tappass-correlation",
            ),
        ];
        for (extra, field) in cases {
            let answer = raw.call("lookup_invoice", args.clone(), extra).await;
            let error = invalid_params(&answer, "invalid_correlation");
            assert_eq!(error["data"]["field"], field, "{error}");
        }
        // In the headers: each malformed one.
        for (headers, field) in [
            (vec![("x-tappass-session-id", "..")], "X-TapPass-Session-Id"),
            (vec![("x-tappass-session-id", "a b")], "X-TapPass-Session-Id"),
            (
                vec![("x-tappass-session-id", "ses_1"), ("x-tappass-audit-url", "ftp://x")],
                "X-TapPass-Audit-Url",
            ),
            (vec![("x-tappass-resume-token", "")], "X-TapPass-Resume-Token"),
        ] {
            let params = json!({"name": "lookup_invoice", "arguments": args});
            let answer = raw.request("tools/call", params, &headers).await;
            let error = invalid_params(&answer, "invalid_correlation");
            assert_eq!(error["data"]["field"], field, "{error}");
        }
        // A header that names another session than `_meta` does.
        let params = json!({"name": "lookup_invoice", "arguments": args,
            "_meta": {"tappass-correlation": {"session_id": "ses_a"}}});
        let answer = raw
            .request("tools/call", params, &[("x-tappass-session-id", "ses_b")])
            .await;
        let error = invalid_params(&answer, "invalid_correlation");
        assert_eq!(error["data"]["field"], "the X-TapPass-Session-Id header");
        // A member given twice has no one meaning.
        let twice = r#"{"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "lookup_invoice",
            "arguments": {"number": "INV-1"}, "tappass-correlation": {"session_id": "ses_a"},
            "tappass-correlation": {"session_id": "ses_b"}}}"#;
        let answer = raw.post(twice, &[]).await;
        let error = invalid_params(&answer, "invalid_correlation");
        assert_eq!(error["data"]["field"], "params.tappass-correlation");

        assert_eq!(served.runs(), [0, 0, 0], "no refused call ran");
        // And nothing was governed for them.
        served.governance.flush().await;
        assert!(served
            .dev
            .events()
            .iter()
            .all(|e| e["event_type"] != "tool_call"));
        // The server serves the next call as before.
        let answer = raw.call("lookup_invoice", args, json!({})).await;
        assert_eq!(answer.result()["isError"], false);
        assert_eq!(served.runs(), [1, 0, 0]);
    })
    .await;
}

#[tokio::test]
async fn odd_and_unknown_tool_names_are_refused_before_anything_is_governed() {
    bounded(async {
        let served = Served::example(true).await;
        let raw = Raw::connect(&served.url).await;
        let long = "x".repeat(129);
        let huge = "y".repeat(100_000);
        for name in [
            "*",
            "..",
            ".",
            "a:b",
            "tool:call:*",
            "",
            " ",
            "a b",
            "<script>",
            "send_email\n",
            "é",
            "../etc/passwd",
            &long,
            &huge,
        ] {
            let answer = raw.call(name, json!({}), json!({})).await;
            let error = invalid_params(&answer, "invalid_tool_name");
            let message = error["message"].as_str().unwrap();
            assert!(
                message.len() < 600,
                "a bounded message: {} bytes",
                message.len()
            );
            assert!(!message.contains("<script>"), "{message}");
        }
        for name in ["nope", "lookup_invoice2", "send-email"] {
            let answer = raw.call(name, json!({}), json!({})).await;
            let error = invalid_params(&answer, "unknown_tool");
            assert!(error["message"].as_str().unwrap().contains("tools/list"));
        }
        // A call with no name at all is rmcp's to refuse.
        let answer = raw
            .request("tools/call", json!({"arguments": {}}), &[])
            .await;
        assert!(answer.message.get("error").is_some(), "{}", answer.message);

        served.governance.flush().await;
        let events = served.dev.events();
        assert!(
            events.iter().all(|e| e["event_type"] != "tool_call"),
            "nothing was governed or audited: {events:#?}"
        );
        assert_eq!(served.runs(), [0, 0, 0]);
        let answer = raw
            .call("lookup_invoice", json!({"number": "INV-2"}), json!({}))
            .await;
        assert_eq!(answer.result()["isError"], false);
    })
    .await;
}

#[tokio::test]
async fn a_body_past_the_limit_is_413_and_odd_bodies_are_rmcps_to_answer() {
    bounded(async {
        let served = Served::example(true).await;
        let raw = Raw::connect(&served.url).await;
        // Past rmcp's default of 4 MiB, named so that it would be read.
        let big = format!(
            r#"{{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {{"name": "lookup_invoice", "tappass-correlation": {{"session_id": "ses_1"}}, "arguments": {{"number": "{}"}}}}}}"#,
            "9".repeat(5 * 1024 * 1024)
        );
        let answer = raw.post(&big, &[]).await;
        assert_eq!(answer.status, 413);
        // Bodies that name the member but are no JSON-RPC call.
        for body in [
            "tappass-correlation",
            r#"{"tappass-correlation": 1"#,
            r#"[{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": ["tappass-correlation"]}]"#,
            r#"{"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "lookup_invoice", "arguments": {"number": "1"}, "tappass-correlation": null}}"#,
        ] {
            let answer = raw.post(body, &[]).await;
            assert!(answer.status < 500, "{body}: {}", answer.status);
        }
        let answer = raw
            .call("lookup_invoice", json!({"number": "INV-3"}), json!({}))
            .await;
        assert_eq!(answer.result()["isError"], false);
        // Only the last two calls ran (`null` is no session: one was opened).
        assert_eq!(served.runs(), [2, 0, 0]);
        served.governance.flush().await;
        assert_eq!(ours(&served.dev.events(), "tool_call").len(), 2);
    })
    .await;
}
