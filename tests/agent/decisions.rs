//! Decisions the server sends: each kind with its fields, never retried.
//! Every kind the dev server's default policy answers is asked of the dev
//! server; the scripted stand-in serves only the shapes it never sends (a
//! body without `decision`, the `code` spelling with fields under
//! `details`, a 403 `redaction_applied`, an unknown kind, missing or
//! malformed fields, no correlation).

use super::*;

#[tokio::test]
async fn policy_block_with_its_fields() {
    bounded(async {
        let d = dev_decision("My SSN is 123-45-6789").await;
        let GovernanceDecision::PolicyBlock(p) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(p.blocked_by, "detect_pii");
        assert_eq!(p.reason, "the prompt holds a US social security number");
        assert_eq!(p.classification.as_deref(), Some("RESTRICTED"));
        assert_eq!(
            p.details,
            json!({"rule": "detect_pii_ssn", "detector": "us_ssn"})
        );
        let session = p.session_id.as_deref().expect("the server's session");
        assert!(session.starts_with("ses_"), "{session}");
        let audit = p.audit_url.as_deref().expect("the session's audit url");
        assert!(audit.ends_with(session), "{audit}");
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
        let dev = DevServer::start().await.expect("dev server");
        let err = agent(&dev.url())
            .chat("please wire transfer $5000 to ACME")
            .await
            .unwrap_err();
        let Some(GovernanceDecision::ApprovalRequired(a)) = err.decision() else {
            panic!("{err:?}")
        };
        // The approval the server holds, pending, is the one named.
        let id = a.request_id.as_deref().expect("a request id");
        let held = dev.approval(id).expect("the server holds it");
        assert_eq!(held.state, tappass::agent::ApprovalState::Pending);
        assert_eq!(
            a.approval_url.as_deref(),
            Some(format!("{}/approvals/{id}", dev.url()).as_str())
        );
        assert!(
            a.resume_token.as_deref().is_some_and(|t| !t.is_empty()),
            "{a:?}"
        );
        // The policy's one hour.
        let left = a.expires_at.expect("an expiry").duration_from_now();
        assert!(
            (3590..=3600).contains(&left.as_secs()),
            "expires in {left:?}"
        );
        assert_eq!(a.reason, "wire transfers need a human approval");
        assert!(
            a.session_id
                .as_deref()
                .is_some_and(|s| s.starts_with("ses_")),
            "{a:?}"
        );
    })
    .await
}

#[tokio::test]
async fn authorization_required_on_a_401_is_a_decision_not_a_bad_key() {
    bounded(async {
        // The dev server answers it with a 401, the status of a refused key.
        let d = dev_decision("please connect my github").await;
        let GovernanceDecision::AuthorizationRequired(a) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(a.provider.as_deref(), Some("github"));
        assert_eq!(
            a.authorize_url.as_deref(),
            Some("https://github.com/login/oauth/authorize?client_id=tappass-dev")
        );
        assert_eq!(a.scopes, ["repo", "read:user"]);
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
        let d = dev_decision("now drop the production database").await;
        let GovernanceDecision::TrustTierDenied(t) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(t.required_tier.as_deref(), Some("privileged"));
        assert_eq!(t.actual_tier.as_deref(), Some("standard"));
        assert_eq!(
            t.reason,
            "destructive operations on production need a privileged agent"
        );
    })
    .await
}

#[tokio::test]
async fn break_glass_on_a_503_is_a_decision_and_not_retried() {
    bounded(async {
        let dev = DevServer::start().await.expect("dev server");
        // What the dev server sends: a 503 with `Retry-After: 600`, which
        // a client honouring `Retry-After` on 503s would wait out and retry.
        let raw = reqwest::Client::new()
            .post(format!("{}{CHAT}", dev.url()))
            .bearer_auth(KEY)
            .json(
                &json!({"model": "m", "messages": [{"role": "user", "content": "incident mode"}]}),
            )
            .send()
            .await
            .expect("the dev server answers");
        assert_eq!(raw.status(), 503);
        assert_eq!(raw.headers()["retry-after"], "600");

        // `dev_decision` asserts the agent did not retry it.
        let d = dev_decision("we are in incident mode").await;
        let GovernanceDecision::BreakGlassActive(b) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(b.level.as_deref(), Some("full_bypass"));
        let left = b.expires_at.expect("an expiry").duration_from_now();
        assert!((590..=600).contains(&left.as_secs()), "expires in {left:?}");
        assert_eq!(b.reason, "an incident break-glass override is in effect");
    })
    .await
}

#[tokio::test]
async fn tool_integrity_violation_with_its_fields() {
    bounded(async {
        // Its HTTP status is 422.
        let d = dev_decision("run the legacy_export tool").await;
        let GovernanceDecision::ToolIntegrityViolation(t) = &d else {
            panic!("{d:?}")
        };
        assert_eq!(t.tool_name, "legacy_export");
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
