//! The circuit breaker an agent's clones share: closed, open after a
//! number of calls in a row found the control plane unavailable, half-open
//! when one call may probe it again.
//!
//! It is told each call's outcome ([`Breaker::record`]) and asked before
//! each call whether to make it ([`Breaker::admit`]). A transition is logged
//! once, at `warn`; the calls in between are not.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go to the control plane.
    Closed,
    /// Calls do not: the control plane failed too many calls in a row.
    Open,
    /// One call probes the control plane; the others are treated as open.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What [`Breaker::admit`] says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Make the call (the breaker is closed).
    Call,
    /// Make the call: it is the one probe of a half-open breaker. Its
    /// outcome must be recorded (or the guard dropped, which reopens).
    Probe,
    /// Do not: the breaker is open (or another call is probing).
    Refuse,
}

/// How a call went, as far as the breaker counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The control plane answered (anything, a decision or a 429 included).
    Answered,
    /// It could not be reached, timed out or answered 5xx without a decision.
    Unavailable,
}

struct State {
    state: BreakerState,
    /// Calls in a row that found the control plane unavailable.
    failures: u32,
    /// When an open breaker lets one call probe.
    until: Instant,
}

/// The breaker; see the module's documentation.
pub(crate) struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
    /// `state.state` as a number, read without the lock on the hot path of
    /// a closed breaker.
    fast: AtomicU8,
    /// `state.failures`, read without the lock.
    recent_failures: AtomicU32,
}

const CLOSED: u8 = 0;
const NOT_CLOSED: u8 = 1;

impl Breaker {
    pub(crate) fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(State {
                state: BreakerState::Closed,
                failures: 0,
                until: Instant::now(),
            }),
            fast: AtomicU8::new(CLOSED),
            recent_failures: AtomicU32::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a call may go to the control plane now.
    pub(crate) fn admit(&self) -> Admit {
        if self.fast.load(Ordering::Acquire) == CLOSED {
            return Admit::Call;
        }
        let mut state = self.lock();
        match state.state {
            BreakerState::Closed => Admit::Call,
            BreakerState::HalfOpen => Admit::Refuse,
            BreakerState::Open if Instant::now() >= state.until => {
                self.move_to(&mut state, BreakerState::HalfOpen);
                Admit::Probe
            }
            BreakerState::Open => Admit::Refuse,
        }
    }

    /// Records the outcome of a call that was admitted (`probe` when it was
    /// the half-open probe).
    pub(crate) fn record(&self, outcome: Outcome, probe: bool) {
        // The hot path: an answer while closed, with no failure counted,
        // changes nothing and takes no lock.
        if outcome == Outcome::Answered
            && !probe
            && self.fast.load(Ordering::Acquire) == CLOSED
            && self.recent_failures.load(Ordering::Relaxed) == 0
        {
            return;
        }
        let mut state = self.lock();
        match (outcome, state.state) {
            (Outcome::Answered, BreakerState::Closed) => self.set_failures(&mut state, 0),
            (Outcome::Answered, _) => {
                self.set_failures(&mut state, 0);
                self.move_to(&mut state, BreakerState::Closed);
            }
            (Outcome::Unavailable, BreakerState::Closed) => {
                let failures = state.failures.saturating_add(1);
                self.set_failures(&mut state, failures);
                if failures >= self.threshold {
                    self.open(&mut state);
                }
            }
            (Outcome::Unavailable, BreakerState::HalfOpen) if probe => {
                let failures = state.failures.saturating_add(1);
                self.set_failures(&mut state, failures);
                self.open(&mut state);
            }
            // A call admitted before the breaker opened and finished after:
            // already counted by the opening.
            (Outcome::Unavailable, _) => {}
        }
    }

    fn set_failures(&self, state: &mut State, failures: u32) {
        state.failures = failures;
        self.recent_failures.store(failures, Ordering::Relaxed);
    }

    /// A probe that ended without an outcome (its future was dropped): the
    /// breaker is open again, and the next call probes at once.
    pub(crate) fn abandon_probe(&self) {
        let mut state = self.lock();
        if state.state == BreakerState::HalfOpen {
            state.until = Instant::now();
            self.move_to(&mut state, BreakerState::Open);
        }
    }

    fn open(&self, state: &mut State) {
        state.until = Instant::now() + self.open_for;
        self.move_to(state, BreakerState::Open);
    }

    fn move_to(&self, state: &mut State, to: BreakerState) {
        let from = state.state;
        if from == to {
            return;
        }
        state.state = to;
        self.fast.store(
            if to == BreakerState::Closed {
                CLOSED
            } else {
                NOT_CLOSED
            },
            Ordering::Release,
        );
        match to {
            BreakerState::Open => tracing::warn!(
                from = from.as_str(),
                failures = state.failures,
                open_for = ?self.open_for,
                "TapPass circuit breaker OPEN: the control plane failed {} call(s) in a row; no call reaches it for {:?}",
                state.failures,
                self.open_for
            ),
            BreakerState::HalfOpen => tracing::warn!(
                from = from.as_str(),
                "TapPass circuit breaker HALF-OPEN: one call probes the control plane"
            ),
            BreakerState::Closed => tracing::warn!(
                from = from.as_str(),
                "TapPass circuit breaker CLOSED: the control plane answers again"
            ),
        }
    }

    /// Whether the breaker is closed, read without the lock.
    pub(crate) fn state_is_closed(&self) -> bool {
        self.fast.load(Ordering::Acquire) == CLOSED
    }

    /// Where the breaker stands now.
    pub(crate) fn state(&self) -> BreakerState {
        self.lock().state
    }

    /// The failures in a row counted now.
    pub(crate) fn failures(&self) -> u32 {
        self.lock().failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_once_and_closes_on_success() {
        let breaker = Breaker::new(3, Duration::from_millis(20));
        for _ in 0..2 {
            assert_eq!(breaker.admit(), Admit::Call);
            breaker.record(Outcome::Unavailable, false);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record(Outcome::Unavailable, false);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.admit(), Admit::Refuse);
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(breaker.admit(), Admit::Probe);
        assert_eq!(breaker.admit(), Admit::Refuse, "one probe at a time");
        breaker.record(Outcome::Unavailable, true);
        assert_eq!(
            breaker.state(),
            BreakerState::Open,
            "a failed probe reopens"
        );
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(breaker.admit(), Admit::Probe);
        breaker.record(Outcome::Answered, true);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.failures(), 0);
        assert_eq!(breaker.admit(), Admit::Call);
    }

    #[test]
    fn an_answer_resets_the_count_and_an_abandoned_probe_reopens_at_once() {
        let breaker = Breaker::new(2, Duration::from_secs(60));
        breaker.record(Outcome::Unavailable, false);
        breaker.record(Outcome::Answered, false);
        breaker.record(Outcome::Unavailable, false);
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record(Outcome::Unavailable, false);
        assert_eq!(breaker.state(), BreakerState::Open);
        // Forced to half-open, as the clock would after `open_for`.
        {
            let mut state = breaker.lock();
            state.until = Instant::now();
        }
        assert_eq!(breaker.admit(), Admit::Probe);
        breaker.abandon_probe();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(
            breaker.admit(),
            Admit::Probe,
            "the next call probes at once"
        );
    }
}
