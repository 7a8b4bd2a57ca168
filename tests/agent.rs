//! The `Agent` client through its public API, against a scripted TapPass
//! stand-in: decisions, retries, timeouts, the version check, chat and SSE
//! parsing, correlation headers and secrecy of the API key.

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{bounded, chat_answer, event, Refusing, Reply, TapPass, CHAT, KEY};
use tappass::decision::Redaction;
use tappass::{
    Agent, ChatChunk, Error, GovernanceDecision, GovernanceError as _, Session, Timestamp,
};

const MS: Duration = Duration::from_millis(1);

/// An agent for `url` with short retry delays.
fn agent(url: &str) -> Agent {
    Agent::builder(url)
        .api_key(KEY)
        .retry_base_delay(10 * MS)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("agent")
}

/// The decision a chat gets when the server answers `status` with `body`;
/// asserts that the chat was not retried.
async fn decision(status: u16, body: Value) -> GovernanceDecision {
    let server = TapPass::start().await;
    server.push(CHAT, Reply::json(status, body));
    server.always(CHAT, Reply::ok(chat_answer("must not be reached")));
    let err = agent(server.url()).chat("hi").await.unwrap_err();
    assert_eq!(server.hits(CHAT), 1, "a decision is never retried");
    match err {
        Error::Governance(decision) => *decision,
        other => panic!("expected a decision, got {other:?}"),
    }
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

/// Collects a stream under a bound.
async fn collect(stream: tappass::agent::ChatStream) -> Vec<Result<ChatChunk, Error>> {
    tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
        .await
        .expect("the stream ended")
}

// ---- decisions ----------------------------------------------------------------

#[tokio::test]
async fn policy_block_with_its_fields() {
    bounded(async {
        let d = decision(
            403,
            json!({
                "decision": "policy_block", "blocked_by": "detect_pii", "reason": "PII in prompt",
                "classification": "CONFIDENTIAL", "details": {"entity": "email"},
                "session_id": "ses_1", "audit_url": "https://dash/ses_1", "task_id": "tsk_1"
            }),
        )
        .await;
        let GovernanceDecision::PolicyBlock(p) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(p.blocked_by, "detect_pii");
        assert_eq!(p.reason, "PII in prompt");
        assert_eq!(p.classification.as_deref(), Some("CONFIDENTIAL"));
        assert_eq!(p.details, json!({"entity": "email"}));
        assert_eq!(p.session_id.as_deref(), Some("ses_1"));
        assert_eq!(p.audit_url.as_deref(), Some("https://dash/ses_1"));
        assert_eq!(d.code(), "policy_block");
    })
    .await
}

#[tokio::test]
async fn body_with_only_blocked_by_is_a_policy_block() {
    bounded(async {
        let d = decision(403, json!({"blocked_by": "detect_secrets"})).await;
        let GovernanceDecision::PolicyBlock(p) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(p.blocked_by, "detect_secrets");
        assert_eq!(p.reason, "");
        assert_eq!(p.classification, None);
    })
    .await
}

#[tokio::test]
async fn redaction_applied_with_its_fields() {
    bounded(async {
        let d = decision(
            403,
            json!({
                "decision": "redaction_applied", "message": "redacted an email",
                "redactions": [{"kind": "email", "start": 3, "end": 14, "replacement": "[EMAIL]"}],
                "redacted_content": "to [EMAIL]"
            }),
        )
        .await;
        let GovernanceDecision::RedactionApplied(r) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(r.redactions.len(), 1);
        let Redaction {
            kind,
            start,
            end,
            replacement,
            ..
        } = &r.redactions[0];
        assert_eq!(
            (kind.as_str(), *start, *end, replacement.as_str()),
            ("email", 3, 14, "[EMAIL]")
        );
        assert_eq!(r.redacted_content.as_deref(), Some("to [EMAIL]"));
        assert_eq!(
            r.reason, "redacted an email",
            "message stands in for reason"
        );
    })
    .await
}

#[tokio::test]
async fn approval_required_with_its_fields() {
    bounded(async {
        let d = decision(
            428,
            json!({
                "decision": "approval_required", "reason": "wire transfer",
                "approval_url": "https://dash/approve/1", "resume_token": "rt_1",
                "expires_at": "2030-01-02T03:04:05Z", "session_id": "ses_2"
            }),
        )
        .await;
        let GovernanceDecision::ApprovalRequired(a) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(a.approval_url.as_deref(), Some("https://dash/approve/1"));
        assert_eq!(a.resume_token.as_deref(), Some("rt_1"));
        assert_eq!(a.expires_at, Some(ts("2030-01-02T03:04:05Z")));
        assert_eq!(a.reason, "wire transfer");
        assert_eq!(a.session_id.as_deref(), Some("ses_2"));
    })
    .await
}

#[tokio::test]
async fn authorization_required_on_a_401_is_a_decision_not_a_bad_key() {
    bounded(async {
        let d = decision(
            401,
            json!({
                "decision": "authorization_required", "provider": "github",
                "authorize_url": "https://dash/connect/github", "scopes": ["repo", "read:org"]
            }),
        )
        .await;
        let GovernanceDecision::AuthorizationRequired(a) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(a.provider.as_deref(), Some("github"));
        assert_eq!(
            a.authorize_url.as_deref(),
            Some("https://dash/connect/github")
        );
        assert_eq!(a.scopes, ["repo", "read:org"]);
    })
    .await
}

#[tokio::test]
async fn authorization_required_by_code_with_fields_under_details() {
    bounded(async {
        let d = decision(
            403,
            json!({
                "code": "authorization_required", "message": "connect Slack first",
                "details": {"provider": "slack", "authorize_url": "https://dash/connect/slack",
                            "scopes": ["chat:write"]}
            }),
        )
        .await;
        let GovernanceDecision::AuthorizationRequired(a) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(a.provider.as_deref(), Some("slack"));
        assert_eq!(
            a.authorize_url.as_deref(),
            Some("https://dash/connect/slack")
        );
        assert_eq!(a.scopes, ["chat:write"]);
        assert_eq!(a.reason, "connect Slack first");
    })
    .await
}

#[tokio::test]
async fn trust_tier_denied_with_its_fields() {
    bounded(async {
        let d = decision(
            403,
            json!({"decision": "trust_tier_denied", "required_tier": "gold", "actual_tier": "bronze"}),
        )
        .await;
        let GovernanceDecision::TrustTierDenied(t) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(t.required_tier.as_deref(), Some("gold"));
        assert_eq!(t.actual_tier.as_deref(), Some("bronze"));
    })
    .await
}

#[tokio::test]
async fn break_glass_on_a_503_is_a_decision_and_not_retried() {
    bounded(async {
        // `decision` asserts the server saw exactly one chat request, although
        // the agent retries plain 503s and a 200 is waiting behind it.
        let d = decision(
            503,
            json!({"decision": "break_glass_active", "level": "full_bypass",
                   "expires_at": "2030-05-06T07:08:09Z", "reason": "incident 42"}),
        )
        .await;
        let GovernanceDecision::BreakGlassActive(b) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(b.level.as_deref(), Some("full_bypass"));
        assert_eq!(b.expires_at, Some(ts("2030-05-06T07:08:09Z")));
        assert_eq!(b.reason, "incident 42");
    })
    .await
}

#[tokio::test]
async fn tool_integrity_violation_with_its_fields() {
    bounded(async {
        let d = decision(
            422,
            json!({"decision": "tool_integrity_violation", "tool_name": "send_email",
                   "violation": "hash_mismatch"}),
        )
        .await;
        let GovernanceDecision::ToolIntegrityViolation(t) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(t.tool_name, "send_email");
        assert_eq!(t.violation, "hash_mismatch");
    })
    .await
}

#[tokio::test]
async fn unknown_decision_is_a_generic_one() {
    bounded(async {
        let d = decision(
            403,
            json!({"decision": "quota_exceeded", "reason": "monthly budget spent"}),
        )
        .await;
        let GovernanceDecision::Other(o) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(o.decision, "quota_exceeded");
        assert_eq!(o.reason, "monthly budget spent");
        assert_eq!(d.code(), "quota_exceeded");
    })
    .await
}

#[tokio::test]
async fn decision_lacking_its_fields_is_still_its_kind() {
    bounded(async {
        let d = decision(428, json!({"decision": "approval_required"})).await;
        let GovernanceDecision::ApprovalRequired(a) = &d else {
            panic!("{d:?}")
        };
        assert_eq!((a.approval_url.as_ref(), a.expires_at), (None, None));

        let d = decision(403, json!({"decision": "tool_integrity_violation"})).await;
        assert!(
            matches!(d, GovernanceDecision::ToolIntegrityViolation(_)),
            "{d:?}"
        );

        // A malformed field is dropped, not fatal.
        let d = decision(
            503,
            json!({"decision": "break_glass_active", "expires_at": "next tuesday", "level": null}),
        )
        .await;
        let GovernanceDecision::BreakGlassActive(b) = &d else {
            panic!("{d:?}")
        };
        assert_eq!((b.level.as_ref(), b.expires_at), (None, None));
    })
    .await
}

#[tokio::test]
async fn decision_without_correlation_takes_the_current_session() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(CHAT, Reply::json(403, json!({"decision": "policy_block"})));
        let session = Session::builder("ses_here")
            .audit_url("https://dash/ses_here")
            .build()
            .unwrap();
        let agent = agent(server.url());
        let err = tappass::session::scope(session, async { agent.chat("hi").await })
            .await
            .unwrap_err();
        let d = err.decision().expect("a decision");
        assert_eq!(d.session_id(), Some("ses_here"));
        assert_eq!(d.audit_url(), Some("https://dash/ses_here"));
    })
    .await
}

// ---- retries --------------------------------------------------------------------

#[tokio::test]
async fn retries_503_and_502_then_succeeds() {
    bounded(async {
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::status(503))
            .push(CHAT, Reply::status(502))
            .push(CHAT, Reply::ok(chat_answer("third time")));
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        assert_eq!(answer.content, "third time");
        assert_eq!(server.hits(CHAT), 3);
    })
    .await
}

#[tokio::test]
async fn retries_exhausted_is_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::status(504));
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .max_retries(3)
            .retry_base_delay(5 * MS)
            .build()
            .unwrap();
        let err = agent.chat("hi").await.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert_eq!(server.hits(CHAT), 4, "max_retries + 1 attempts");
    })
    .await
}

#[tokio::test]
async fn plain_500_is_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::status(500));
        let err = agent(server.url()).chat("hi").await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    })
    .await
}

#[tokio::test]
async fn connection_refused_is_retried_then_unavailable() {
    bounded(async {
        let refusing = Refusing::start();
        let agent = Agent::builder(refusing.url())
            .api_key(KEY)
            .max_retries(2)
            .retry_base_delay(100 * MS)
            .build()
            .unwrap();
        let started = Instant::now();
        let err = agent.chat("hi").await.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        // Two backoffs of at least half their ceilings (100 ms, 200 ms).
        assert!(
            started.elapsed() >= 150 * MS,
            "not retried: {:?}",
            started.elapsed()
        );
    })
    .await
}

#[tokio::test]
async fn connection_refused_is_retried_until_the_server_comes_up() {
    bounded(async {
        let refusing = Refusing::start();
        let url = refusing.url().to_owned();
        // The server comes up on that port after the first attempts failed.
        let late = tokio::spawn(async move {
            tokio::time::sleep(150 * MS).await;
            let listener = refusing.listen();
            let app = axum::Router::new()
                .route(
                    "/health",
                    axum::routing::get(|| async { axum::Json(json!({"version": "0.6.0"})) }),
                )
                .route(
                    CHAT,
                    axum::routing::post(|| async { axum::Json(chat_answer("late")) }),
                );
            axum::serve(listener, app).await.unwrap();
        });
        let agent = Agent::builder(&url)
            .api_key(KEY)
            .max_retries(8)
            .retry_base_delay(50 * MS)
            .retry_max_delay(100 * MS)
            .build()
            .unwrap();
        let answer = agent.chat("hi").await.expect("chat after retries");
        assert_eq!(answer.content, "late");
        late.abort();
    })
    .await
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    bounded(async {
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::status(429).header("retry-after", "1"))
            .push(CHAT, Reply::ok(chat_answer("after the wait")));
        let started = Instant::now();
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        let elapsed = started.elapsed();
        assert_eq!(answer.content, "after the wait");
        assert!(elapsed >= 990 * MS, "Retry-After ignored: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    })
    .await
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    bounded(async {
        let server = TapPass::start().await;
        // HTTP dates have whole seconds: this is 1 to 2 s from now.
        let when = std::time::SystemTime::now() + Duration::from_secs(2);
        let date = Timestamp::from(when).to_http_date();
        server
            .push(CHAT, Reply::status(503).header("retry-after", date))
            .push(CHAT, Reply::ok(chat_answer("after the date")));
        let started = Instant::now();
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        let elapsed = started.elapsed();
        assert_eq!(answer.content, "after the date");
        assert!(elapsed >= 800 * MS, "Retry-After date ignored: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    })
    .await
}

#[tokio::test]
async fn a_long_retry_after_is_capped_by_retry_max_delay() {
    bounded(async {
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::status(503).header("retry-after", "3600"))
            .push(CHAT, Reply::ok(chat_answer("soon")));
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .retry_max_delay(100 * MS)
            .build()
            .unwrap();
        let started = Instant::now();
        assert_eq!(agent.chat("hi").await.unwrap().content, "soon");
        assert!(started.elapsed() < Duration::from_secs(2));
    })
    .await
}

#[tokio::test]
async fn plain_400_and_404_are_protocol_errors_never_retried() {
    bounded(async {
        for status in [400, 404, 409] {
            let server = TapPass::start().await;
            server.always(CHAT, Reply::status(status));
            let err = agent(server.url()).chat("hi").await.unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{status}: {err:?}");
            assert_eq!(server.hits(CHAT), 1, "{status} was retried");
        }
    })
    .await
}

#[tokio::test]
async fn status_401_and_403_are_authentication_errors() {
    bounded(async {
        for status in [401, 403] {
            let server = TapPass::start().await;
            server.always(CHAT, Reply::json(status, json!({"error": "invalid key"})));
            let err = agent(server.url()).chat("hi").await.unwrap_err();
            assert!(
                matches!(err, Error::Authentication { status: s, .. } if s == status),
                "{status}: {err:?}"
            );
            assert_eq!(server.hits(CHAT), 1);
        }
    })
    .await
}

#[tokio::test]
async fn a_hanging_server_times_out_as_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::hang());
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .timeout(200 * MS)
            .max_retries(0)
            .build()
            .unwrap();
        let started = Instant::now();
        let err = agent.chat("hi").await.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(err.to_string().contains("timed out"), "{err}");
    })
    .await
}

#[tokio::test]
async fn a_slow_but_timely_answer_is_fine() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(CHAT, Reply::ok(chat_answer("slow")).delay(50 * MS));
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .timeout(2000 * MS)
            .build()
            .unwrap();
        assert_eq!(agent.chat("hi").await.unwrap().content, "slow");
    })
    .await
}

// ---- the version check ------------------------------------------------------------

#[tokio::test]
async fn old_missing_or_garbage_versions_are_refused() {
    bounded(async {
        for (version, named) in [
            (Some("0.5.9"), "0.5.9"),
            (None, "no version"),
            (Some("garbage"), "garbage"),
        ] {
            let server = TapPass::with_version(version).await;
            server.always(CHAT, Reply::ok(chat_answer("must not be reached")));
            let agent = agent(server.url());
            let err = agent.chat("hi").await.unwrap_err();
            let Error::Config(message) = &err else {
                panic!("{version:?}: {err:?}")
            };
            assert!(message.contains(named), "{version:?}: {message}");
            assert!(message.contains("0.6.0"), "says what is needed: {message}");
            assert_eq!(server.hits(CHAT), 0, "no chat sent to a refused server");
            // Streams are refused the same way.
            let err = agent.stream("hi").await.unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{err:?}");
            assert_eq!(agent.server_version(), None);
        }
    })
    .await
}

#[tokio::test]
async fn newer_and_prerelease_versions_are_accepted() {
    bounded(async {
        for version in ["0.6.0", "0.6.0-rc.1", "0.7.2+build.5", "1.0.0"] {
            let server = TapPass::with_version(Some(version)).await;
            server.always(CHAT, Reply::ok(chat_answer("ok")));
            let agent = agent(server.url());
            agent
                .chat("hi")
                .await
                .unwrap_or_else(|e| panic!("{version}: {e}"));
            assert_eq!(agent.server_version(), Some(version));
        }
    })
    .await
}

#[tokio::test]
async fn version_is_checked_once_per_agent() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        let agent = agent(server.url());
        agent.chat("one").await.unwrap();
        agent.chat("two").await.unwrap();
        agent.clone().chat("three, from a clone").await.unwrap();
        assert_eq!(server.hits("/health"), 1);
        assert_eq!(server.hits(CHAT), 3);
    })
    .await
}

#[tokio::test]
async fn concurrent_first_calls_check_the_version_once() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            "/health",
            Reply::ok(json!({"version": "0.6.3"})).delay(50 * MS),
        );
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        let agent = agent(server.url());
        let calls = (0..4).map(|i| {
            let agent = agent.clone();
            async move { agent.chat(format!("call {i}")).await }
        });
        for result in futures_util::future::join_all(calls).await {
            result.unwrap();
        }
        assert_eq!(server.hits("/health"), 1);
    })
    .await
}

#[tokio::test]
async fn a_failed_version_check_is_tried_again_later() {
    bounded(async {
        let server = TapPass::start().await;
        server.push("/health", Reply::status(500));
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        let agent = agent(server.url());
        assert!(agent.chat("hi").await.unwrap_err().is_unavailable());
        agent
            .chat("hi again")
            .await
            .expect("the second check passes");
        assert_eq!(server.hits("/health"), 2);
    })
    .await
}

// ---- chat ---------------------------------------------------------------------

#[tokio::test]
async fn chat_parses_content_usage_tool_calls_and_envelope() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::ok(json!({
                "id": "chatcmpl-9", "model": "gpt-4o",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "calling a tool",
                    "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "send_email", "arguments": "{\"to\":\"a@b.c\"}"}}]
                }}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
                "tappass": {"session_id": "ses_9", "task_id": "tsk_9", "agent_uuid": "agt_9",
                            "pipeline_uuid": "pip_9", "audit_url": "https://dash/sessions/ses_9",
                            "blocked": false, "blocked_by": "", "classification": "PUBLIC",
                            "steps": [], "capability_token": null}
            })),
        );
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        assert_eq!(answer.content, "calling a tool");
        assert_eq!(answer.model, "gpt-4o");
        assert_eq!(answer.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            (
                answer.usage.prompt_tokens,
                answer.usage.completion_tokens,
                answer.usage.total_tokens
            ),
            (12, 30, 42)
        );
        assert_eq!(answer.tool_calls.len(), 1);
        let call = &answer.tool_calls[0];
        assert_eq!(
            (
                call.id.as_str(),
                call.name.as_str(),
                call.arguments.as_str()
            ),
            ("call_1", "send_email", "{\"to\":\"a@b.c\"}")
        );
        assert_eq!(answer.session_id.as_deref(), Some("ses_9"));
        assert_eq!(answer.task_id.as_deref(), Some("tsk_9"));
        assert_eq!(answer.agent_uuid.as_deref(), Some("agt_9"));
        assert_eq!(answer.pipeline_uuid.as_deref(), Some("pip_9"));
        assert_eq!(
            answer.audit_url.as_deref(),
            Some("https://dash/sessions/ses_9")
        );
        assert!(!answer.degraded);
        assert_eq!(answer.raw["tappass"]["classification"], "PUBLIC");
    })
    .await
}

#[tokio::test]
async fn null_content_and_missing_fields_take_defaults() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::ok(json!({"choices": [{"message": {"role": "assistant", "content": null}}]})),
        );
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        assert_eq!(answer.content, "");
        assert_eq!(answer.usage.total_tokens, 0);
        assert!(answer.tool_calls.is_empty());
        assert_eq!(answer.session_id, None);
        assert_eq!(answer.finish_reason, None);
    })
    .await
}

#[tokio::test]
async fn request_body_carries_model_messages_and_metadata() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        let agent = agent(server.url());
        agent.chat("plain").await.unwrap();
        agent
            .chat("tuned")
            .model("gpt-4o")
            .metadata(json!({"team": "finance", "n": 1}))
            .await
            .unwrap();
        let sent = server.requests_to(CHAT);
        let plain = sent[0].json();
        assert_eq!(plain["model"], "gpt-4o-mini");
        assert_eq!(
            plain["messages"],
            json!([{"role": "user", "content": "plain"}])
        );
        assert_eq!(plain["stream"], false);
        assert!(plain.get("metadata").is_none_or(Value::is_null));
        let tuned = sent[1].json();
        assert_eq!(tuned["model"], "gpt-4o");
        assert_eq!(tuned["metadata"], json!({"team": "finance", "n": 1}));
        assert_eq!(
            tuned["messages"],
            json!([{"role": "user", "content": "tuned"}])
        );
        assert_eq!(sent[1].header("content-type"), Some("application/json"));
    })
    .await
}

#[tokio::test]
async fn redactions_are_an_error_only_when_asked() {
    bounded(async {
        let server = TapPass::start().await;
        let mut answer = chat_answer("ok");
        answer["tappass"]["redactions"] =
            json!([{"kind": "email", "start": 0, "end": 5, "replacement": "[EMAIL]"}]);
        answer["tappass"]["redacted_content"] = json!("[EMAIL] hi");
        server.always(CHAT, Reply::ok(answer));
        let lenient = agent(server.url()).chat("a@b.c hi").await.expect("chat");
        assert_eq!(lenient.redactions.len(), 1);
        assert_eq!(lenient.redacted_content.as_deref(), Some("[EMAIL] hi"));
        let strict = Agent::builder(server.url())
            .api_key(KEY)
            .redaction_as_error(true)
            .build()
            .unwrap();
        let err = strict.chat("a@b.c hi").await.unwrap_err();
        assert!(
            matches!(
                err.decision(),
                Some(GovernanceDecision::RedactionApplied(_))
            ),
            "{err:?}"
        );
    })
    .await
}

#[tokio::test]
async fn fail_open_lets_chats_through_only_when_unavailable() {
    bounded(async {
        let refusing = Refusing::start();
        let open = Agent::builder(refusing.url())
            .api_key(KEY)
            .max_retries(0)
            .fail_open(true)
            .build()
            .unwrap();
        let degraded = open.chat("hi").await.expect("fail open");
        assert!(degraded.degraded);
        assert_eq!(degraded.content, "");

        // A decision is never bypassed.
        let server = TapPass::start().await;
        server.always(CHAT, Reply::json(403, json!({"decision": "policy_block"})));
        let open = Agent::builder(server.url())
            .api_key(KEY)
            .fail_open(true)
            .build()
            .unwrap();
        assert!(open.chat("hi").await.unwrap_err().is_decision());
    })
    .await
}

// ---- streaming ----------------------------------------------------------------

#[tokio::test]
async fn stream_yields_openai_deltas_in_order_until_done() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"choices": [{"delta": {"content": "Hel"}}],
                             "tappass": {"session_id": "ses_s", "audit_url": "https://dash/ses_s"}})),
                // One event split over two network chunks.
                "data: {\"choices\": [{\"delta\": {\"con".to_owned(),
                "tent\": \"lo\"}}]}\n\n".to_owned(),
                ": a comment line\n\n".to_owned(),
                event(json!({"choices": [{"delta": {}, "finish_reason": "stop"}]})),
                "data: [DONE]\n\n".to_owned(),
            ]),
        );
        let agent = agent(server.url());
        let stream = agent.stream("hi").await.expect("stream");
        let chunks: Vec<ChatChunk> = collect(stream)
            .await
            .into_iter()
            .map(|c| c.expect("chunk"))
            .collect();
        let text: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
        assert_eq!(text, ["Hel", "lo", ""]);
        assert_eq!(chunks[0].session_id.as_deref(), Some("ses_s"));
        assert_eq!(chunks[0].audit_url.as_deref(), Some("https://dash/ses_s"));
        assert_eq!(chunks[2].finish_reason.as_deref(), Some("stop"));
        let sent = server.requests_to(CHAT)[0].json();
        assert_eq!(sent["stream"], true);
    })
    .await
}

#[tokio::test]
async fn stream_reads_native_delta_and_content_and_ends_on_finished() {
    bounded(async {
        let server = TapPass::start().await;
        // No `[DONE]`: `finished: true` marks the end, then the body ends.
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"delta": "a"})),
                event(json!({"content": "b"})),
                event(json!({"delta": {"content": "c"}})),
                event(json!({"finished": true})),
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        let chunks: Vec<ChatChunk> = items.into_iter().map(|c| c.expect("chunk")).collect();
        let text: String = chunks.iter().map(|c| c.content.as_str()).collect();
        assert_eq!(text, "abc");
        assert_eq!(chunks.len(), 4);
        assert!(chunks[3].finish_reason.is_some());
    })
    .await
}

#[tokio::test]
async fn done_ends_the_stream() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "only"})),
                "data: [DONE]\n\n".to_owned(),
                event(json!({"content": "after the end"})),
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().content, "only");
    })
    .await
}

#[tokio::test]
async fn done_without_a_final_newline_ends_the_stream_cleanly() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([event(json!({"content": "x"})), "data: [DONE]".to_owned()]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 1, "{items:?}");
        assert!(items[0].is_ok(), "{items:?}");
    })
    .await
}

#[tokio::test]
async fn a_stream_cut_mid_way_yields_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "one"})),
                event(json!({"content": "two"})),
            ])
            .cut(),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 3, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().content, "one");
        assert_eq!(items[1].as_ref().unwrap().content, "two");
        assert!(
            matches!(items[2], Err(Error::Unavailable { .. })),
            "{items:?}"
        );
    })
    .await
}

#[tokio::test]
async fn a_stream_closed_before_its_end_yields_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        // A clean close of the body, but no finish_reason and no [DONE].
        server.push(CHAT, Reply::sse([event(json!({"content": "one"}))]));
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(
            matches!(items[1], Err(Error::Unavailable { .. })),
            "{items:?}"
        );
    })
    .await
}

#[tokio::test]
async fn a_decision_before_the_stream_is_the_error_of_starting_it() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::json(
                403,
                json!({"decision": "policy_block", "blocked_by": "detect_pii"}),
            ),
        );
        let err = agent(server.url()).stream("hi").await.unwrap_err();
        let Some(GovernanceDecision::PolicyBlock(p)) = err.decision() else {
            panic!("{err:?}")
        };
        assert_eq!(p.blocked_by, "detect_pii");
        assert_eq!(server.hits(CHAT), 1);
    })
    .await
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_is_one_chunk() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(CHAT, Reply::ok(chat_answer("whole")));
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 1);
        let chunk = items[0].as_ref().unwrap();
        assert_eq!(chunk.content, "whole");
        assert_eq!(chunk.finish_reason.as_deref(), Some("stop"));
    })
    .await
}

#[tokio::test]
async fn a_stalled_stream_yields_unavailable_after_the_timeout() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(CHAT, Reply::sse([event(json!({"content": "one"}))]).stall());
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .timeout(300 * MS)
            .build()
            .unwrap();
        let started = Instant::now();
        let stream = agent.stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().content, "one");
        assert!(
            matches!(items[1], Err(Error::Unavailable { .. })),
            "{items:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    })
    .await
}

#[tokio::test]
async fn a_stream_that_never_starts_times_out() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::hang());
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .timeout(300 * MS)
            .max_retries(0)
            .build()
            .unwrap();
        let started = Instant::now();
        let err = agent.stream("hi").await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    })
    .await
}

#[tokio::test]
async fn stream_accepts_crlf_line_endings() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                "data: {\"content\": \"a\"}\r\n\r\n",
                "event: message\r\nid: 2\r\ndata: {\"content\": \"b\"}\r\n\r\n",
                "data: [DONE]\r\n\r\n",
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let text: Vec<String> = collect(stream)
            .await
            .into_iter()
            .map(|c| c.expect("chunk").content)
            .collect();
        assert_eq!(text, ["a", "b"]);
    })
    .await
}

#[tokio::test]
async fn a_decision_inside_a_stream_is_an_error_item() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "fine so far"})),
                event(json!({"decision": "policy_block", "blocked_by": "output_filter"})),
                event(json!({"content": "must not be seen"})),
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(
            matches!(
                items[1].as_ref().unwrap_err().decision(),
                Some(GovernanceDecision::PolicyBlock(_))
            ),
            "{items:?}"
        );
    })
    .await
}

/// A server that echoes the key into a decision it sends in the middle of a
/// stream: the decision's reason, its Display and Debug keep the key out, as
/// for a decision that answers the request itself.
#[tokio::test]
async fn a_decision_inside_a_stream_does_not_show_the_key() {
    bounded(async {
        let server = TapPass::start().await;
        let echo = format!("you sent Authorization: Bearer {KEY}");
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "fine so far"})),
                event(
                    json!({"decision": "policy_block", "blocked_by": "output_filter",
                             "reason": echo}),
                ),
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().expect("a chunk").content, "fine so far");
        let err = items[1].as_ref().expect_err("the decision");
        let Some(GovernanceDecision::PolicyBlock(block)) = err.decision() else {
            panic!("expected a policy block, got {err:?}");
        };
        assert_eq!(block.reason, "you sent Authorization: Bearer <redacted>");
        assert_error_keeps_the_key(err);
    })
    .await
}

#[tokio::test]
async fn an_oversized_stream_event_is_a_protocol_error() {
    bounded(async {
        let server = TapPass::start().await;
        let huge = format!("data: {{\"content\": \"{}", "x".repeat(2 * 1024 * 1024));
        server.push(CHAT, Reply::sse([huge]));
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 1, "one error, then the end");
        assert!(matches!(items[0], Err(Error::Protocol(_))), "{items:?}");
    })
    .await
}

// ---- headers --------------------------------------------------------------------

#[tokio::test]
async fn session_correlation_headers_go_upstream_on_chat_and_stream() {
    bounded(async {
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::ok(chat_answer("ok")))
            .push(
                CHAT,
                Reply::sse([
                    event(json!({"content": "s"})),
                    "data: [DONE]\n\n".to_owned(),
                ]),
            )
            .push(CHAT, Reply::ok(chat_answer("outside")));
        let agent = agent(server.url());
        let session = Session::builder("ses_x")
            .agent_uuid("agt")
            .pipeline_uuid("pip")
            .audit_url("https://dash/sessions/ses_x")
            .build()
            .unwrap();
        tappass::session::scope(session, async {
            agent.chat("hi").await.unwrap();
            let stream = agent.stream("hi").await.unwrap();
            let contents: Vec<String> = collect(stream)
                .await
                .into_iter()
                .map(|item| item.expect("a chunk").content)
                .collect();
            assert_eq!(contents, ["s"]);
        })
        .await;
        agent.chat("no session").await.unwrap();

        let sent = server.requests_to(CHAT);
        assert_eq!(sent.len(), 3);
        for inside in &sent[..2] {
            assert_eq!(inside.header("x-tappass-session-id"), Some("ses_x"));
            assert_eq!(inside.header("x-tappass-agent-uuid"), Some("agt"));
            assert_eq!(inside.header("x-tappass-pipeline-uuid"), Some("pip"));
            assert_eq!(
                inside.header("x-tappass-audit-url"),
                Some("https://dash/sessions/ses_x")
            );
        }
        assert_eq!(sent[2].header("x-tappass-session-id"), None);
    })
    .await
}

#[tokio::test]
async fn every_request_carries_the_bearer_key() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        // Surrounding whitespace of a pasted key is not sent.
        let agent = Agent::builder(format!("{}/", server.url()))
            .api_key(format!("  {KEY}\n"))
            .build()
            .unwrap();
        agent.chat("hi").await.unwrap();
        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        for request in &requests {
            let expected = format!("Bearer {KEY}");
            assert_eq!(
                request.header("authorization"),
                Some(expected.as_str()),
                "{}",
                request.path
            );
        }
        assert_eq!(requests[0].path, "/health", "trailing slash dropped");
    })
    .await
}

// ---- secrecy --------------------------------------------------------------------

fn assert_no_key(what: &str, text: &str) {
    assert!(!text.contains(KEY), "{what} leaks the API key: {text}");
    assert!(
        !text.contains("SECRET"),
        "{what} leaks part of the API key: {text}"
    );
}

/// Display, Debug and every source of an error.
fn assert_error_keeps_the_key(err: &Error) {
    assert_no_key("Display", &err.to_string());
    assert_no_key("Debug", &format!("{err:?}"));
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        assert_no_key("a source", &format!("{s} / {s:?}"));
        source = s.source();
    }
}

#[tokio::test]
async fn debug_output_never_shows_the_key() {
    bounded(async {
        let builder = Agent::builder("http://127.0.0.1:9").api_key(KEY);
        assert_no_key("AgentBuilder Debug", &format!("{builder:?}"));
        let agent = builder.build().unwrap();
        assert_no_key("Agent Debug", &format!("{agent:?}"));
        assert_no_key("Agent Debug (pretty)", &format!("{agent:#?}"));
        assert_no_key("ChatCall Debug", &format!("{:?}", agent.chat("x")));
        assert_no_key("StreamCall Debug", &format!("{:?}", agent.stream("x")));
        let key = tappass::agent::ApiKey::new(KEY);
        assert_no_key("ApiKey", &format!("{key} {key:?}"));
        assert_eq!(key.expose(), KEY);
        let layer = tappass::TapPassLayer::builder()
            .tappass_url("http://127.0.0.1:9")
            .api_key(KEY);
        assert_no_key("TapPassLayerBuilder Debug", &format!("{layer:?}"));
        assert_no_key(
            "TapPassLayer Debug",
            &format!("{:?}", layer.build().unwrap()),
        );
    })
    .await
}

#[tokio::test]
async fn no_error_shows_the_key() {
    bounded(async {
        let mut errors = Vec::new();
        let quick = |url: &str| {
            Agent::builder(url)
                .api_key(KEY)
                .max_retries(0)
                .timeout(200 * MS)
                .build()
                .unwrap()
        };
        // Nothing listening.
        let refusing = Refusing::start();
        errors.push(quick(refusing.url()).chat("hi").await.unwrap_err());

        let server = TapPass::start().await;
        let echo = format!("you sent Authorization: Bearer {KEY}");
        server
            .push(CHAT, Reply::hang())
            .push(CHAT, Reply::json(401, json!({"message": echo})))
            .push(CHAT, Reply::json(403, json!({"message": echo})))
            // Servers echoing the key in an error message must not leak it.
            .push(CHAT, Reply::json(400, json!({"message": echo})))
            .push(CHAT, Reply::json(500, json!({"error": echo})))
            .push(CHAT, Reply::json(503, json!({"message": echo})))
            .push(CHAT, Reply::raw(200, "not json"))
            .push(
                CHAT,
                Reply::json(
                    403,
                    json!({"decision": "policy_block", "blocked_by": "x", "reason": echo}),
                ),
            )
            .push(CHAT, Reply::sse([event(json!({"content": "x"}))]).cut());
        let agent = quick(server.url());
        for _ in 0..8 {
            errors.push(agent.chat("hi").await.unwrap_err());
        }
        let stream = agent.stream("hi").await.unwrap();
        errors.extend(collect(stream).await.into_iter().filter_map(Result::err));

        let old = TapPass::with_version(Some("0.1.0")).await;
        errors.push(quick(old.url()).chat("hi").await.unwrap_err());

        assert_eq!(errors.len(), 11, "{errors:?}");
        for err in &errors {
            assert_error_keeps_the_key(err);
        }
    })
    .await
}
