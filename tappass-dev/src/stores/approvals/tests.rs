use std::time::Duration;

use serde_json::json;

use super::*;

fn new(fp: &str, secs: u64) -> NewApproval<'static> {
    NewApproval {
        fingerprint: fp.to_owned(),
        asked: Asked::tool("send_email", &json!({"to": "a@example.com"})),
        agent: "agt",
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
    assert_eq!(a.resume("fp", None).unwrap().row.request_id, id);
    assert!(a.decide(&id, ApprovalState::Approved));
    assert!(!a.decide(&id, ApprovalState::Denied));
    let row = a.get(&id).unwrap();
    assert_eq!(row.state, ApprovalState::Approved);
    assert!(row.decided_at.is_some());
    assert!(a.pending().is_empty());
    assert!(!a.decide("apr_unknown", ApprovalState::Approved));
}

#[test]
fn a_resume_token_names_its_own_approval_and_no_other() {
    let mut a = Approvals::default();
    let first = a.open(new("fp", 60));
    let other = a.open(new("other", 60));
    let token = first.resume_token.as_str();
    let resumed = a.resume("fp", Some(token)).unwrap();
    assert_eq!(resumed.row.request_id, first.row.request_id);
    assert!(resumed.by_token);
    // A token for another request does not resume this one.
    let found = a.resume("other", Some(token)).unwrap();
    assert_eq!(found.row.request_id, other.row.request_id);
    assert_eq!(found.resume_token, other.resume_token);
    assert!(!found.by_token);
    // An unknown token falls back to the request's own approval.
    assert_eq!(
        a.resume("fp", Some("rt_unknown")).unwrap().row.request_id,
        first.row.request_id
    );
    assert!(a.resume("nothing", Some(token)).is_none());
}

#[test]
fn a_lapsed_approval_times_out_and_is_asked_anew() {
    let mut a = Approvals::default();
    let id = a.open(new("fp", 60)).row.request_id;
    a.rows.get_mut(&id).unwrap().row.expires_at = Timestamp::now();
    assert_eq!(a.get(&id).unwrap().state, ApprovalState::TimedOut);
    assert!(a.resume("fp", None).is_none());
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
    assert!(a.resume("fp9000", None).is_none());
    assert_eq!(a.pending().len(), MAX_APPROVALS);
    assert!(a.get(&ids[0]).is_some());
    // When every row is pending, the oldest pending row goes.
    a.open(new("last", 3600));
    assert!(a.get(&ids[0]).is_none());
    assert!(a.get(&ids[1]).is_some());
    assert!(a.resume("last", None).is_some());
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
