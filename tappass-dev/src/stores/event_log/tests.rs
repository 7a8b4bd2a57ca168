use serde_json::json;

use super::*;
use crate::testing::event_of_size;

#[test]
fn a_flood_of_maximal_events_stays_under_the_default_byte_cap() {
    let mut log = EventLog::new(DEFAULT_MAX_LOG_BYTES);
    let per_cap = DEFAULT_MAX_LOG_BYTES / MAX_EVENT_BYTES;
    let total = per_cap * 5 / 2;
    for i in 0..total {
        log.push(event_of_size("ses_flood", i, MAX_EVENT_BYTES));
        assert!(
            log.bytes() <= DEFAULT_MAX_LOG_BYTES,
            "after {i}: {}",
            log.bytes()
        );
    }
    // Full, and what is left is the newest events, in order.
    assert!(log.bytes() > DEFAULT_MAX_LOG_BYTES - 2 * MAX_EVENT_BYTES);
    let kept: Vec<u64> = log
        .all()
        .iter()
        .map(|e| e["details"]["i"].as_u64().unwrap())
        .collect();
    assert!(
        kept.len() < per_cap && kept.len() > per_cap - 5,
        "{}",
        kept.len()
    );
    let first = (total - kept.len()) as u64;
    assert_eq!(kept, (first..total as u64).collect::<Vec<_>>());
}

#[test]
fn many_small_events_are_capped_by_count_as_well() {
    let mut log = EventLog::new(DEFAULT_MAX_LOG_BYTES);
    for i in 0..MAX_EVENTS + 10 {
        log.push(json!({ "i": i }));
    }
    assert_eq!(log.len(), MAX_EVENTS);
    assert_eq!(log.all()[0]["i"], 10);
}
