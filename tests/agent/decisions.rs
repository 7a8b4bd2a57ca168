//! Decisions the server sends: each kind with its fields, never retried.

use super::*;

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
        assert_eq!(d.kind(), "policy_block");
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
        assert_eq!(d.kind(), "quota_exceeded");
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
