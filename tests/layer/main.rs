//! The layer and its sessions: joining the caller's session or opening one,
//! the correlation headers (checked, echoed, normalised; property tests over
//! their whole range), the session's scope (extractors, spawned work,
//! streamed bodies) and isolation under load.
//!
//! Which server each test meets: the layer's control plane is a port that
//! refuses connections (`support::sockets::refused_url`), as these rules are
//! decided before any call to TapPass, except in `served.rs`, where the
//! sample service (`support::services`) calls the dev server over real
//! sockets. None needs the scripted stand-in.

#[path = "../support/mod.rs"]
mod support;

mod isolation;
mod opened;
mod properties;
mod rules;
mod served;
