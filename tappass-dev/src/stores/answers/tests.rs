use http::{HeaderMap, StatusCode};

use super::*;

fn answer(body_bytes: usize) -> Answer {
    Answer {
        request: 1,
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: Bytes::from(vec![b'x'; body_bytes]),
    }
}

/// Runs `key` to its end with an answer of `body_bytes`.
fn remember(answers: &mut Answers, key: &str, body_bytes: usize) {
    assert!(matches!(answers.begin(key), Begin::Run(_)), "{key} is new");
    answers.finish(key, answer(body_bytes));
}

#[test]
fn the_oldest_answers_are_forgotten_past_the_count_cap() {
    let mut answers = Answers::default();
    for i in 0..MAX_ANSWERS + 5 {
        remember(&mut answers, &format!("k{i}"), 10);
    }
    assert_eq!(answers.usage().0, MAX_ANSWERS);
    for i in 0..5 {
        assert!(matches!(answers.begin(&format!("k{i}")), Begin::Run(_)));
    }
    assert!(matches!(answers.begin("k5"), Begin::Replay(_)));
    assert!(matches!(
        answers.begin(&format!("k{}", MAX_ANSWERS + 4)),
        Begin::Replay(_)
    ));
}

#[test]
fn the_oldest_answers_are_forgotten_past_the_byte_cap() {
    let mut answers = Answers::default();
    let big = MAX_ANSWER_BYTES - 1024;
    let fit = MAX_TOTAL_BYTES / big;
    for i in 0..fit * 3 {
        remember(&mut answers, &format!("k{i}"), big);
        assert!(answers.usage().1 <= MAX_TOTAL_BYTES);
    }
    assert_eq!(answers.usage().0, fit);
    assert!(matches!(answers.begin("k0"), Begin::Run(_)));
    assert!(matches!(
        answers.begin(&format!("k{}", fit * 3 - 1)),
        Begin::Replay(_)
    ));
    // An answer too large to keep is not remembered: a repeat runs again.
    remember(&mut answers, "huge", MAX_ANSWER_BYTES);
    assert!(matches!(answers.begin("huge"), Begin::Run(_)));
}

#[test]
fn a_running_key_is_waited_on_and_forgotten_when_abandoned() {
    let mut answers = Answers::default();
    let Begin::Run(done) = answers.begin("k") else {
        panic!("a new key runs")
    };
    let Begin::Wait(waiting) = answers.begin("k") else {
        panic!("a running key is waited on")
    };
    answers.abandon("k");
    drop(done);
    assert!(waiting.has_changed().is_err(), "the waiter is woken");
    assert!(matches!(answers.begin("k"), Begin::Run(_)));
}
