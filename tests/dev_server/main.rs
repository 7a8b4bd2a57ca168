//! The development server (`tappass-dev`) as a user meets it: the decisions
//! its default policy and a policy file take (the README's demo triggers and
//! policy table), its web console over HTTP (every page parsed, escaping,
//! the form token and origin checks, content negotiation), the console
//! in a real browser, and an outage on purpose (`outage.rs`).
//!
//! Which server each test meets: the dev server only, through the `Agent`,
//! plain HTTP, or headless Chromium (`support::browser`, which installs it
//! where the test may).

#[path = "../support/mod.rs"]
mod support;

mod browser;
mod console;
mod outage;
mod policy;
mod rebinding;
mod replays;
