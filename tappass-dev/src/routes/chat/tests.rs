use axum::body::Body;
use http::{header, Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::testing::*;
use tappass::agent::ApprovalState;

#[test]
fn content_parts_and_last_user_message() {
    let body = json!({"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}]},
        {"role": "assistant", "content": null},
    ]});
    let r = parse_request(&body).unwrap();
    assert_eq!(r.last_user, 1);
    assert_eq!(r.messages[1].1, "hello there");
    assert_eq!(r.model, "tappass-dev-echo");
    assert!(!r.stream);
}

#[test]
fn malformed_requests_say_what_is_wrong() {
    let err = |v: Value| parse_request(&v).err().unwrap_or_default();
    assert!(err(json!([])).contains("JSON object"));
    assert!(err(json!({})).contains("`messages` is missing"));
    assert!(err(json!({"messages": []})).contains("empty"));
    assert!(
        err(json!({"messages": [{"role": "system", "content": "x"}]})).contains("role \"user\"")
    );
    assert!(
        err(json!({"messages": [{"role": "user", "content": 3}]})).contains("messages[0].content")
    );
    assert!(err(json!({"messages": [{"role": "user"}], "stream": "yes"})).contains("`stream`"));
}

// ---- Over the router ----------------------------------------------------------------

#[tokio::test]
async fn chat_echoes_with_usage_and_envelope() {
    let h = Harness::new();
    let a = h
        .post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "Summarize Q4 revenue"}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let v = a.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Echo: Summarize Q4 revenue"
    );
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["tool_calls"], json!([]));
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9})
    );
    let t = &v["tappass"];
    assert_correlated(t);
    assert!(t["session_id"].as_str().unwrap().starts_with("ses_"));
    assert_eq!(t["session_id"].as_str().unwrap().len(), 28);
    assert_eq!(t["blocked"], false);
    assert_eq!(t["blocked_by"], "");
    assert_eq!(t["classification"], "PUBLIC");
    assert!(t["capability_token"].is_null());
    let steps = t["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    assert_eq!(steps[0]["step"], "detect_pii_ssn");
    assert_eq!(steps[0]["action"], "continue");
    assert_eq!(steps[0]["detected"], false);
    assert!(steps[0]["duration_ms"].is_f64());
    // The same key is the same agent; the correlation travels back in headers.
    assert_eq!(
        a.headers["x-tappass-session-id"],
        t["session_id"].as_str().unwrap()
    );
    let again = h.chat("hello").await.json();
    assert_eq!(again["tappass"]["agent_uuid"], t["agent_uuid"]);
    assert_ne!(again["tappass"]["session_id"], t["session_id"]);
    assert_eq!(h.get("/health").await.json()["agents"], 1);
}

#[tokio::test]
async fn chat_honours_the_session_from_headers_then_metadata() {
    let h = Harness::new();
    let body = json!({"messages": [{"role": "user", "content": "hi"}],
                      "metadata": {"session_id": "ses_from_metadata"}});
    let v = h.post("/v1/chat/completions", body.clone()).await.json();
    assert_eq!(v["tappass"]["session_id"], "ses_from_metadata");

    for name in ["X-TapPass-Session-Id", "X-TapPass-Session"] {
        let a = h
            .send(
                Harness::request(Method::POST, "/v1/chat/completions")
                    .header(name, "ses_from_header")
                    .header("X-TapPass-Agent-UUID", "agt-42")
                    .header("X-TapPass-Pipeline-Uuid", "pipe-7")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        let t = &a.json()["tappass"];
        assert_eq!(t["session_id"], "ses_from_header", "{name}");
        assert_eq!(t["agent_uuid"], "agt-42");
        assert_eq!(t["pipeline_uuid"], "pipe-7");
        assert_eq!(
            t["audit_url"],
            "http://dev.test/v1/audit/sessions/ses_from_header"
        );
    }

    let a = h
        .send(
            Harness::request(Method::POST, "/v1/chat/completions")
                .header("X-TapPass-Session-Id", "bad id!")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("X-TapPass-Session-Id"));
    assert!(!a.text.contains("bad id!"));
}

#[tokio::test]
async fn malformed_chat_requests_are_plain_400s() {
    let h = Harness::new();
    for body in [
        "{not json",
        "{}",
        r#"{"messages": []}"#,
        r#"{"messages": [{"role": "user", "content": 1}]}"#,
        r#"{"messages": [{"role": "user", "content": "x"}], "metadata": {"session_id": "no spaces"}}"#,
    ] {
        let a = h
            .send(
                Harness::request(Method::POST, "/v1/chat/completions")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        let v = a.json();
        assert_eq!(v["error"], "invalid_request");
        assert!(v.get("decision").is_none());
    }
}

#[tokio::test]
async fn streaming_is_sse_with_the_envelope_first_and_done_last() {
    let h = Harness::new();
    let a = h
        .post(
            "/v1/chat/completions",
            json!({"stream": true, "messages": [{"role": "user", "content": "one two three four five six seven"}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/event-stream");
    assert!(a.text.ends_with("data: [DONE]\n\n"), "{}", a.text);
    let frames: Vec<&str> = a.text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert!(frames.iter().all(|f| f.starts_with("data: ")));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(&f["data: ".len()..]).unwrap())
        .collect();
    assert!(chunks.len() >= 3, "{chunks:?}");
    assert_correlated(&chunks[0]["tappass"]);
    assert!(chunks[1].get("tappass").is_none());
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Echo: one two three four five six seven");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    assert_eq!(last["usage"]["completion_tokens"], 8);
}

#[tokio::test]
async fn a_decision_before_a_stream_is_a_json_body() {
    let h = Harness::new();
    let a = h
        .post(
            "/v1/chat/completions",
            json!({"stream": true, "messages": [{"role": "user", "content": "my ssn is 123-45-6789"}]}),
        )
        .await;
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/json");
    assert_decision(&a, 403, "policy_block");
}

#[tokio::test]
async fn pii_is_a_policy_block_by_detect_pii() {
    let h = Harness::new();
    for prompt in [
        "my ssn is 123-45-6789",
        "card 4111 1111 1111 1111 please",
        "card 5500-0055-5555-5559",
    ] {
        let v = assert_decision(&h.chat(prompt).await, 403, "policy_block");
        assert_eq!(v["blocked_by"], "detect_pii", "{prompt}");
        assert_eq!(v["classification"], "RESTRICTED");
        assert!(v["details"]["rule"].is_string());
        assert!(!v.to_string().contains("6789"), "the match is not echoed");
    }
    // Not Luhn-valid: not a card.
    assert_eq!(
        h.chat("order 4111 1111 1111 1112").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn approval_required_passes_once_approved() {
    let h = Harness::new();
    let v = assert_decision(
        &h.chat("please wire transfer $5000").await,
        428,
        "approval_required",
    );
    let id = v["request_id"].as_str().unwrap().to_owned();
    assert_eq!(v["approval_url"], format!("http://dev.test/approvals/{id}"));
    assert!(v["resume_token"].as_str().unwrap().starts_with("rt_"));
    let expires: tappass::Timestamp = v["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires > tappass::Timestamp::now());

    // While pending, the identical prompt answers the same approval.
    let again = assert_decision(
        &h.chat("please wire transfer $5000").await,
        428,
        "approval_required",
    );
    assert_eq!(again["request_id"], id.as_str());
    let row = h.get(&format!("/v1/me/approvals/{id}")).await.json();
    assert_eq!(row["state"], "pending");
    assert!(row["tool"].is_null());

    assert!(h.approve(&id));
    let a = h.chat("please wire transfer $5000").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.json()["choices"][0]["message"]["content"],
        "Echo: please wire transfer $5000"
    );
    // A different prompt is a different approval.
    assert_decision(
        &h.chat("please wire transfer $9000").await,
        428,
        "approval_required",
    );
}

#[tokio::test]
async fn a_denied_chat_approval_blocks() {
    let h = Harness::new();
    let v = h.chat("wire transfer to bob").await.json();
    let id = v["request_id"].as_str().unwrap();
    assert!(h.shared.decide(id, ApprovalState::Denied));
    let v = assert_decision(&h.chat("wire transfer to bob").await, 403, "policy_block");
    assert_eq!(v["blocked_by"], "wire_transfer_approval");
}

#[tokio::test]
async fn authorization_required_is_401_with_its_code() {
    let h = Harness::new();
    let a = h.chat("Please connect my GitHub").await;
    let v = assert_decision(&a, 401, "authorization_required");
    assert_eq!(v["code"], "authorization_required");
    assert_eq!(v["provider"], "github");
    assert!(v["authorize_url"]
        .as_str()
        .unwrap()
        .starts_with("https://github.com/"));
    assert_eq!(v["scopes"], json!(["repo", "read:user"]));
    assert!(a.headers[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .contains("provider=\"github\""));
}

#[tokio::test]
async fn trust_tier_denied_is_403() {
    let h = Harness::new();
    let v = assert_decision(
        &h.chat("drop the production database").await,
        403,
        "trust_tier_denied",
    );
    assert_eq!(v["required_tier"], "privileged");
    assert_eq!(v["actual_tier"], "standard");
}

#[tokio::test]
async fn break_glass_is_503_with_retry_after() {
    let h = Harness::new();
    let a = h.chat("we are in incident mode").await;
    let v = assert_decision(&a, 503, "break_glass_active");
    assert_eq!(v["level"], "full_bypass");
    let until: tappass::Timestamp = v["expires_at"].as_str().unwrap().parse().unwrap();
    let left = until.duration_from_now().as_secs();
    assert!((590..=600).contains(&left), "{left}");
    assert_eq!(a.headers[header::RETRY_AFTER], "600");
}

#[tokio::test]
async fn tool_integrity_violation_is_422() {
    let h = Harness::new();
    let v = assert_decision(
        &h.chat("run the legacy_export tool").await,
        422,
        "tool_integrity_violation",
    );
    assert_eq!(v["tool_name"], "legacy_export");
    assert_eq!(v["violation"], "hash_mismatch");
}

#[tokio::test]
async fn redaction_answers_200_with_the_redacted_prompt() {
    let h = Harness::new();
    let a = h.chat("mail jane.doe@example.com the report").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let v = a.json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Echo: mail [REDACTED_EMAIL] the report"
    );
    let t = &v["tappass"];
    assert_eq!(
        t["redactions"],
        json!([{"kind": "email", "start": 5, "end": 25, "replacement": "[REDACTED_EMAIL]"}])
    );
    assert_eq!(t["redacted_content"], "mail [REDACTED_EMAIL] the report");
    assert_eq!(t["blocked"], false);
    let step = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"] == "redact")
        .unwrap();
    assert_eq!(step["step"], "redact_pii");
    assert_eq!(step["detected"], true);
    // Evaluation goes on after a redaction.
    assert_decision(
        &h.chat("a@b.io: wire transfer now").await,
        428,
        "approval_required",
    );
    // No redaction: an empty list and no redacted content.
    let t = &h.chat("plain").await.json()["tappass"];
    assert_eq!(t["redactions"], json!([]));
    assert!(t["redacted_content"].is_null());
}

#[tokio::test]
async fn a_long_streamed_answer_has_a_bounded_number_of_chunks() {
    let h = Harness::new();
    let prompt = "word ".repeat(100_000);
    let a = h
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": prompt}], "stream": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let frames = a.text.matches("data: ").count();
    assert!(frames <= 256 + 2, "{frames} frames");
    // Within a small factor of the text itself.
    assert!(a.text.len() < 2 * prompt.len(), "{} bytes", a.text.len());
    let text: String = a
        .text
        .split("\n\n")
        .filter_map(|f| f.strip_prefix("data: "))
        .filter(|f| *f != "[DONE]")
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, format!("Echo: {prompt}"));
}

#[tokio::test]
async fn a_long_prompt_is_redacted_off_the_worker_with_the_same_result() {
    let h = Harness::new();
    let prompt = "mail a@b.io now. ".repeat(4_000); // 68 KB, past the inline limit
    let a = h.chat(&prompt).await;
    assert_eq!(a.status, StatusCode::OK, "{}", &a.text[..200]);
    let t = &a.json()["tappass"];
    assert_eq!(t["redactions"].as_array().unwrap().len(), 4_000);
    assert_eq!(
        t["redacted_content"],
        "mail [REDACTED_EMAIL] now. ".repeat(4_000)
    );
}

#[tokio::test]
async fn an_approved_prompt_passes_once_then_asks_again() {
    let h = Harness::new();
    let asked = h.chat("please wire transfer $7000").await.json();
    let id = asked["request_id"].as_str().unwrap().to_owned();
    assert!(h.approve(&id));
    assert_eq!(
        h.chat("please wire transfer $7000").await.status,
        StatusCode::OK
    );
    // Used up: the identical prompt asks a human again, with a new approval.
    let again = assert_decision(
        &h.chat("please wire transfer $7000").await,
        428,
        "approval_required",
    );
    assert_ne!(again["request_id"], id.as_str());
    let row = h.get(&format!("/v1/me/approvals/{id}")).await.json();
    assert_eq!(row["state"], "approved");
    assert!(row["used_at"].is_string(), "{row}");
}

// ---- Capability tokens ---------------------------------------------------------

#[tokio::test]
async fn an_allowing_rule_mints_a_capability_token_for_the_holder_key_it_names() {
    let h = Harness::new();
    let agent = tappass::capability::SigningKey::from_bytes(&[5; 32]);
    let chat = |holder: Option<&str>| {
        let mut request = Harness::request(Method::POST, "/v1/chat/completions");
        if let Some(holder) = holder {
            request = request.header("x-tappass-holder-key", holder);
        }
        request
            .body(Body::from(
                json!({"messages": [{"role": "user", "content": "show me the quarterly report"}],
                       "metadata": {"session_id": "ses_cap"}})
                .to_string(),
            ))
            .unwrap()
    };
    let a = h.send(chat(Some(&agent.public_key().to_hex()))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let issued = &a.json()["tappass"]["capability_token"];
    let token =
        tappass::capability::CapabilityToken::decode(issued["token"].as_str().unwrap()).unwrap();
    assert_eq!(token.holder(), Some(agent.public_key()));
    assert_eq!(token.session_id(), Some("ses_cap"));
    assert_eq!(issued["token_id"], token.id());
    assert_eq!(issued["tools"], json!(["read_file", "search"]));
    assert_eq!(issued["ttl"], 300);
    assert_eq!(issued["expires_at"], token.expires_at());
    let root = h.shared.capability_tokens().public_key();
    let authorizer = tappass::capability::Authorizer::builder()
        .trusted_root(root)
        .build()
        .unwrap();
    assert!(authorizer
        .validate(Some(issued["token"].as_str().unwrap()))
        .is_ok());
    let rows = h.shared.capability_tokens().issued();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].holder_from, rows[0].rule.as_str()),
        ("header", "quarterly_report_reader")
    );

    // No holder key: no token, and a step that says why.
    let a = h.send(chat(None)).await;
    let t = &a.json()["tappass"];
    assert!(t["capability_token"].is_null());
    let steps = t["steps"].as_array().unwrap();
    assert_eq!(steps.last().unwrap()["step"], "capability_token");
    assert!(steps.last().unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("X-TapPass-Holder-Key"));
    // A header that is no key is a 400.
    let a = h.send(chat(Some("not-a-key"))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // A prompt no token rule allows gets none.
    let a = h.chat("hello").await;
    assert!(a.json()["tappass"]["capability_token"].is_null());
}

#[tokio::test]
async fn the_capability_key_is_published() {
    let h = Harness::new();
    let a = h.get("/v1/capability/public-key").await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["algorithm"], "Ed25519");
    assert_eq!(
        v["public_key"],
        h.shared.capability_tokens().public_key().to_hex()
    );
}
