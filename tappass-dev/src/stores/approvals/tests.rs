use std::time::Duration;

use serde_json::json;

use super::*;

fn new(fp: &str, secs: u64) -> NewApproval<'static> {
    NewApproval {
        fingerprint: fp.to_owned(),
        asked: Asked::tool("send_email", &json!({"to": "a@example.com"})),
        agent: "agt",
        caller: "key_a",
        bound_session: "ses_1",
        tool: Some("send_email"),
        reason: "because",
        session_id: "ses_1",
        expires_in: Duration::from_secs(secs),
    }
}

#[test]
fn lifecycle() {
    let mut a = Approvals::default();
    let found = a.open(new("fp", 60));
    let id = found.row.request_id.clone();
    assert_eq!(a.pending().len(), 1);
    assert_eq!(found_id(a.resume("fp", "ses_1", "key_a", None)), id);
    assert!(a.decide(&id, ApprovalState::Approved));
    assert!(!a.decide(&id, ApprovalState::Denied));
    let row = a.get(&id).unwrap();
    assert_eq!(row.state, ApprovalState::Approved);
    assert!(row.decided_at.is_some());
    assert!(a.pending().is_empty());
    assert!(!a.decide("apr_unknown", ApprovalState::Approved));
}

/// The id of a [`Resume::Found`]; panics on anything else.
fn found_id(resume: Resume) -> String {
    match resume {
        Resume::Found(found) => found.row.request_id.clone(),
        _ => panic!("no approval found"),
    }
}

#[test]
fn a_resume_token_names_its_own_approval_and_no_other() {
    let mut a = Approvals::default();
    let first = a.open(new("fp", 60));
    let other = a.open(new("other", 60));
    let token = first.resume_token.as_str();
    let Resume::Found(resumed) = a.resume("fp", "ses_1", "key_a", Some(token)) else {
        panic!("the token resumes its approval");
    };
    assert_eq!(resumed.row.request_id, first.row.request_id);
    assert!(resumed.by_token);
    // A token for another request does not resume this one.
    let Resume::Found(found) = a.resume("other", "ses_1", "key_a", Some(token)) else {
        panic!("the request's own approval");
    };
    assert_eq!(found.row.request_id, other.row.request_id);
    assert_eq!(found.resume_token, other.resume_token);
    assert!(!found.by_token);
    // An unknown token falls back to the request's own approval.
    assert_eq!(
        found_id(a.resume("fp", "ses_1", "key_a", Some("rt_unknown"))),
        first.row.request_id
    );
    assert!(matches!(
        a.resume("nothing", "ses_1", "key_a", Some(token)),
        Resume::Ask
    ));
}

#[test]
fn an_approval_lets_one_request_through_once() {
    let mut a = Approvals::default();
    let asked = a.open(new("fp", 60));
    let id = asked.row.request_id.clone();
    assert!(a.decide(&id, ApprovalState::Approved));
    // The identical re-submission from the same session and key goes through...
    let Resume::Found(found) = a.resume("fp", "ses_1", "key_a", None) else {
        panic!("approved");
    };
    assert_eq!(found.row.state, ApprovalState::Approved);
    assert!(found.row.used_at.is_some());
    // ...once: the next identical request asks again, and the token is spent.
    assert!(matches!(
        a.resume("fp", "ses_1", "key_a", None),
        Resume::Ask
    ));
    let token = asked.resume_token.as_str();
    assert!(
        matches!(a.resume("fp", "ses_1", "key_a", Some(token)), Resume::Used { request_id } if request_id == id)
    );
    assert!(a.get(&id).unwrap().used_at.is_some());
}

#[test]
fn an_approval_belongs_to_its_session_and_api_key() {
    let mut a = Approvals::default();
    let asked = a.open(new("fp", 60));
    let id = asked.row.request_id.clone();
    assert!(a.decide(&id, ApprovalState::Approved));
    let token = asked.resume_token.as_str();
    // Identical requests from elsewhere ask again; the token says where it belongs.
    assert!(matches!(
        a.resume("fp", "ses_2", "key_a", None),
        Resume::Ask
    ));
    assert!(matches!(
        a.resume("fp", "ses_1", "key_b", None),
        Resume::Ask
    ));
    for (session, key) in [("ses_2", "key_a"), ("ses_1", "key_b")] {
        assert!(matches!(
            a.resume("fp", session, key, Some(token)),
            Resume::Elsewhere { request_id } if request_id == id
        ));
    }
    // None of that used it up: its own session and key still resume it, once.
    assert_eq!(found_id(a.resume("fp", "ses_1", "key_a", Some(token))), id);
    assert!(matches!(
        a.resume("fp", "ses_1", "key_a", Some(token)),
        Resume::Used { .. }
    ));
}

#[test]
fn an_approved_request_lapses_at_its_expiry() {
    let mut a = Approvals::default();
    let asked = a.open(new("fp", 60));
    let id = asked.row.request_id.clone();
    assert!(a.decide(&id, ApprovalState::Approved));
    a.rows.get_mut(&id).unwrap().row.expires_at = Timestamp::now();
    assert!(matches!(
        a.resume("fp", "ses_1", "key_a", None),
        Resume::Ask
    ));
    assert!(matches!(
        a.resume("fp", "ses_1", "key_a", Some(&asked.resume_token)),
        Resume::Ask
    ));
}

#[test]
fn a_lapsed_approval_times_out_and_is_asked_anew() {
    let mut a = Approvals::default();
    let id = a.open(new("fp", 60)).row.request_id;
    a.rows.get_mut(&id).unwrap().row.expires_at = Timestamp::now();
    assert_eq!(a.get(&id).unwrap().state, ApprovalState::TimedOut);
    assert!(matches!(
        a.resume("fp", "ses_1", "key_a", None),
        Resume::Ask
    ));
    assert!(!a.decide(&id, ApprovalState::Approved));
}

#[test]
fn eviction_takes_settled_rows_before_anyones_pending_one() {
    let mut a = Approvals::default();
    let ids: Vec<String> = (0..MAX_APPROVALS)
        .map(|i| a.open(new(&format!("fp{i}"), 3600)).row.request_id)
        .collect();
    // Settled rows in the middle, newest first: approved, denied, timed out.
    assert!(a.decide(&ids[9_000], ApprovalState::Approved));
    assert!(a.decide(&ids[5_000], ApprovalState::Denied));
    a.rows.get_mut(&ids[7_000]).unwrap().row.expires_at = Timestamp::now();
    for i in 0..3 {
        a.open(new(&format!("more{i}"), 3600));
        assert_eq!(a.len(), MAX_APPROVALS);
    }
    // The three settled rows went, oldest first; every pending row stayed.
    for gone in [5_000, 7_000, 9_000] {
        assert!(a.get(&ids[gone]).is_none(), "{gone}");
    }
    assert!(matches!(
        a.resume("fp9000", "ses_1", "key_a", None),
        Resume::Ask
    ));
    assert_eq!(a.pending().len(), MAX_APPROVALS);
    assert!(a.get(&ids[0]).is_some());
    // When every row is pending, the oldest pending row goes.
    a.open(new("last", 3600));
    assert!(a.get(&ids[0]).is_none());
    assert!(a.get(&ids[1]).is_some());
    assert!(matches!(
        a.resume("last", "ses_1", "key_a", None),
        Resume::Found(_)
    ));
}

#[test]
fn evicting_a_settled_approval_keeps_the_same_requests_newer_one() {
    let mut a = Approvals::default();
    // The request was approved and used, then asked again: a second row
    // for the same request and session, pending.
    let first = a.open(new("fp", 3600)).row.request_id;
    assert!(a.decide(&first, ApprovalState::Approved));
    assert!(matches!(
        a.resume("fp", "ses_1", "key_a", None),
        Resume::Found(_)
    ));
    assert!(matches!(
        a.resume("fp", "ses_1", "key_a", None),
        Resume::Ask
    ));
    let second = a.open(new("fp", 3600)).row.request_id;
    for i in 0..MAX_APPROVALS - 2 {
        a.open(new(&format!("fp{i}"), 3600));
    }
    // Full: the next one evicts the oldest settled row, the first approval.
    a.open(new("one-more", 3600));
    assert!(a.get(&first).is_none());
    // The newer approval of the same request is still found and resumes
    // once approved.
    assert!(a.decide(&second, ApprovalState::Approved));
    assert_eq!(found_id(a.resume("fp", "ses_1", "key_a", None)), second);
}

#[test]
fn rows_serialize_as_the_protocol_says() {
    let mut a = Approvals::default();
    let row = a.open(new("fp", 60)).row;
    let v = serde_json::to_value(&row).unwrap();
    for key in [
        "request_id",
        "state",
        "fingerprint",
        "tool",
        "created_at",
        "expires_at",
        "decided_at",
    ] {
        assert!(v.get(key).is_some(), "{key} in {v}");
    }
    assert_eq!(v["state"], "pending");
    assert!(v["decided_at"].is_null());
}
