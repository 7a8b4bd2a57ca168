//! Waiting on an approval: `wait_for_approval` polls at most once a second
//! and as `Retry-After` says, any maximum wait gives an answer, and an
//! approval decided while the agent waits lets the identical call through.

use proptest::prelude::*;
use std::time::Instant;

use super::*;
use crate::support::services::{sample_agent, sample_on_dev as setup};

const WAIT: &str = "/v1/me/approvals/apr_1/wait";

/// A server that answers `/wait` at once (no long-poll) is polled about once
/// a second, not in a tight loop.
#[tokio::test]
async fn a_wait_answered_at_once_is_polled_at_most_once_a_second() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.always(WAIT, Reply::json(408, json!({"state": "pending"})));
        let max_wait = 2500 * MS;
        let started = Instant::now();
        let approval = agent(tappass.url())
            .wait_for_approval("apr_1", max_wait)
            .await
            .expect("pending is an answer");
        let took = started.elapsed();
        assert_eq!(approval.state, tappass::agent::ApprovalState::Pending);
        let polls = tappass.hits(WAIT);
        // Polls start at 0, 1 and 2 s (fewer on a loaded machine); a tight
        // loop would make thousands.
        assert!((1..=4).contains(&polls), "{polls} polls in {took:?}");
        assert!(took >= max_wait - 100 * MS, "gave up early: {took:?}");
    })
    .await
}

/// `Retry-After` on a pending answer spaces the polls as the server asks.
#[tokio::test]
async fn a_wait_honours_retry_after() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.always(
            WAIT,
            Reply::json(200, json!({"state": "pending"})).header("retry-after", "2"),
        );
        let approval = agent(tappass.url())
            .wait_for_approval("apr_1", 3 * Duration::from_secs(1))
            .await
            .expect("pending is an answer");
        assert_eq!(approval.state, tappass::agent::ApprovalState::Pending);
        let polls = tappass.hits(WAIT);
        assert!(
            (1..=2).contains(&polls),
            "{polls} polls: Retry-After: 2 ignored"
        );
    })
    .await
}

/// The time `wait_for_approval` may take, with `Duration::MAX` among it:
/// an answer, never a panic (no `Instant + Duration` overflow).
#[test]
fn any_max_wait_gives_an_answer_not_a_panic() {
    let runtime = runtime();
    let tappass = runtime.block_on(TapPass::start());
    tappass.always(
        WAIT,
        Reply::ok(json!({"request_id": "apr_1", "state": "approved"})),
    );
    let agent = agent(tappass.url());
    let check = |max_wait: Duration| {
        let approval = runtime
            .block_on(bounded(agent.wait_for_approval("apr_1", max_wait)))
            .expect("an answer");
        assert_eq!(approval.state, tappass::agent::ApprovalState::Approved);
    };
    for max_wait in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
        check(max_wait);
    }
    proptest!(ProptestConfig::with_cases(64), |(secs in any::<u64>(), nanos in 0u32..1_000_000_000)| {
        check(Duration::new(secs, nanos));
    });
}

#[tokio::test]
async fn tool_calls_are_allowed_blocked_or_paused_for_approval() {
    let (dev, app) = setup().await;
    let (status, _, body) = app
        .post(
            "/tool",
            json!({"tool": "search_docs", "args": {"q": "x"}}),
            None,
        )
        .await;
    assert_eq!((status, &body["allowed"]), (200, &json!(true)), "{body}");

    let (status, _, body) = app
        .post(
            "/tool",
            json!({"tool": "delete_database", "args": {}}),
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "policy_block");

    // Approve: the identical call then passes.
    let send = json!({"tool": "send_email", "args": {"to": "cfo@example.com"}});
    let (status, _, body) = app.post("/tool", send.clone(), None).await;
    assert_eq!(status, 428, "{body}");
    let id = body["request_id"].as_str().unwrap().to_owned();
    let agent = sample_agent(&dev);
    let waiting = {
        let agent = agent.clone();
        let id = id.clone();
        tokio::spawn(async move { agent.wait_for_approval(&id, Duration::from_secs(10)).await })
    };
    // Approve once the agent's long-poll is waiting, so the test shows an
    // approval decided while the waiter waits (not before it asked).
    tokio::time::timeout(Duration::from_secs(10), async {
        while dev.waiters(&id) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the agent's wait reached the server");
    assert!(dev.approve(&id));
    let settled = waiting.await.unwrap().unwrap();
    assert_eq!(settled.state, tappass::agent::ApprovalState::Approved);
    let (status, _, body) = app.post("/tool", send, None).await;
    assert_eq!(status, 200, "{body}");

    // Deny: the identical call is then blocked.
    let wire = json!({"tool": "wire_funds", "args": {"amount": 5000}});
    let (status, _, body) = app.post("/tool", wire.clone(), None).await;
    assert_eq!(status, 428, "{body}");
    let id = body["request_id"].as_str().unwrap().to_owned();
    let pending = agent
        .wait_for_approval(&id, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(pending.state, tappass::agent::ApprovalState::Pending);
    assert!(dev.deny(&id));
    let denied = agent
        .wait_for_approval(&id, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(denied.state, tappass::agent::ApprovalState::Denied);
    let (status, _, body) = app.post("/tool", wire, None).await;
    assert_eq!(status, 403, "{body}");
}
