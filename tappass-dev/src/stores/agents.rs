//! The agents the server has seen, which `/health` counts.

use std::collections::HashSet;

/// How many distinct agents the server counts.
const MAX_AGENTS: usize = 10_000;

/// The distinct agent ids seen in calls and posted events, at most
/// [`MAX_AGENTS`] of them.
#[derive(Default)]
pub(crate) struct Agents {
    seen: HashSet<String>,
}

impl Agents {
    /// Counts `agent`, unless it is longer than `max_len` bytes or the set is full.
    pub(crate) fn saw(&mut self, agent: &str, max_len: usize) {
        if self.seen.len() < MAX_AGENTS && agent.len() <= max_len && !self.seen.contains(agent) {
            self.seen.insert(agent.to_owned());
        }
    }

    /// How many distinct agents were seen.
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}
