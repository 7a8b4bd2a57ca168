//! What an [`Agent`](crate::Agent) does while TapPass is down: the three
//! modes ([`Resilience`]), the circuit breaker, the last-known-good cache of
//! `fail_open_cached`, the reason a degraded call carries
//! ([`DegradedReason`]) and the durable audit spool ([`AuditSpool`]).
//!
//! The [agent guide](crate::agent#when-tappass-is-down) tells the whole story:
//! which calls are degraded, what exactly the cache reuses, how the spool is
//! bounded, flushed and made crash safe.
//!
//! This floor stands below the agent and above the decisions: it names no
//! agent type. The breaker counts outcomes it is told of, the cache keeps
//! values of any type, and the spool keeps records of bytes.

pub(crate) mod breaker;
pub(crate) mod cache;
pub(crate) mod spool;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use breaker::BreakerState;

/// What an agent does when the control plane cannot be reached; set with
/// [`AgentBuilder::resilience`](crate::agent::AgentBuilder::resilience).
///
/// Every mode has a circuit breaker: after
/// [`failure_threshold`](Resilience::failure_threshold) calls in a row found
/// TapPass unavailable, the breaker opens, and for
/// [`open_for`](Resilience::open_for) no call makes a connection attempt or
/// waits for a timeout; then one call probes (half-open), and its success
/// closes the breaker. What a call does while TapPass is unavailable (the
/// breaker open, or the call's own attempts failed) is the mode's:
///
/// | mode | a call while TapPass is unavailable |
/// |---|---|
/// | [`fail_closed`](Resilience::fail_closed) | fails with [`Error::Unavailable`](crate::Error::Unavailable) (a `503` through the layer) |
/// | [`fail_open_cached`](Resilience::fail_open_cached) | reuses the last allow of the identical call if it is younger than the TTL and nothing but an allow was seen since; otherwise fails closed |
/// | [`fail_open_logged`](Resilience::fail_open_logged) | goes through ungoverned, and is recorded as a `degraded_call` audit event |
///
/// A decision is never bypassed in any mode: only an unreachable control
/// plane (a connection error, a timeout, a `5xx` without a decision after
/// the retries, or the open breaker) degrades a call; a `429`, a refused key,
/// a protocol violation and every decision fail as they always do. Streams
/// always fail closed.
///
/// ```
/// use std::time::Duration;
/// use tappass::resilience::Resilience;
///
/// let resilience = Resilience::fail_open_cached(Duration::from_secs(300))
///     .failure_threshold(3)
///     .open_for(Duration::from_secs(30));
/// assert_eq!(resilience.mode(), tappass::resilience::Mode::FailOpenCached);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct Resilience {
    pub(crate) mode: Mode,
    pub(crate) cache_ttl: Duration,
    pub(crate) cache_entries: usize,
    pub(crate) failure_threshold: u32,
    pub(crate) open_for: Duration,
    pub(crate) max_degraded_calls: Option<u64>,
}

/// The three modes of [`Resilience`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Calls fail while TapPass is unavailable.
    FailClosed,
    /// Calls reuse the last allow of the identical call, within a TTL.
    FailOpenCached,
    /// Calls go through ungoverned and are recorded locally.
    FailOpenLogged,
}

impl Mode {
    /// `fail_closed`, `fail_open_cached` or `fail_open_logged`: the names of
    /// the Python SDK's `FailMode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::FailClosed => "fail_closed",
            Mode::FailOpenCached => "fail_open_cached",
            Mode::FailOpenLogged => "fail_open_logged",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The breaker's defaults, the Python SDK's: three failed calls open it for
/// thirty seconds.
const DEFAULT_THRESHOLD: u32 = 3;
const DEFAULT_OPEN_FOR: Duration = Duration::from_secs(30);
/// How many calls the last-known-good cache remembers by default.
const DEFAULT_CACHE_ENTRIES: usize = 1024;

impl Resilience {
    fn with_mode(mode: Mode, cache_ttl: Duration) -> Resilience {
        Resilience {
            mode,
            cache_ttl,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            failure_threshold: DEFAULT_THRESHOLD,
            open_for: DEFAULT_OPEN_FOR,
            max_degraded_calls: None,
        }
    }

    /// Calls fail while TapPass is unavailable, as without resilience, but
    /// the breaker makes them fail at once (no connection attempt, no
    /// timeout) while it is open.
    pub fn fail_closed() -> Resilience {
        Resilience::with_mode(Mode::FailClosed, Duration::ZERO)
    }

    /// While TapPass is unavailable, a call reuses the last **allow** the
    /// server gave the identical call, when that allow is younger than `ttl`
    /// and was the last decision seen for that call; every other call fails
    /// closed. What "identical" means, for a chat and for a tool call, is in
    /// the [agent guide](crate::agent#the-last-known-good-cache). A reused
    /// allow is marked [`DegradedReason::Cached`].
    pub fn fail_open_cached(ttl: Duration) -> Resilience {
        Resilience::with_mode(Mode::FailOpenCached, ttl)
    }

    /// **Risky.** While TapPass is unavailable, every call goes through
    /// ungoverned: a chat returns an empty answer, a tool call a verdict,
    /// both marked [`DegradedReason::Ungoverned`], and each is recorded as a
    /// `degraded_call` audit event (written to the
    /// [audit spool](crate::agent::AgentBuilder::audit_spool) before the call
    /// returns when there is one). Cap it with
    /// [`max_degraded_calls`](Resilience::max_degraded_calls).
    pub fn fail_open_logged() -> Resilience {
        Resilience::with_mode(Mode::FailOpenLogged, Duration::ZERO)
    }

    /// How many calls in a row must find TapPass unavailable before the
    /// breaker opens (default 3; 0 is taken as 1).
    pub fn failure_threshold(mut self, calls: u32) -> Self {
        self.failure_threshold = calls.max(1);
        self
    }

    /// How long the breaker stays open before one call probes TapPass
    /// again (default 30 s).
    pub fn open_for(mut self, duration: Duration) -> Self {
        self.open_for = duration;
        self
    }

    /// How many calls the last-known-good cache of `fail_open_cached`
    /// remembers (default 1,024; the oldest go first).
    pub fn cache_entries(mut self, entries: usize) -> Self {
        self.cache_entries = entries.max(1);
        self
    }

    /// At most this many degraded calls (cached or ungoverned) while the
    /// control plane is unavailable; the calls past it fail closed until a
    /// call reaches TapPass again, which resets the count (default: no cap;
    /// the Python SDK's `max_offline_requests`).
    pub fn max_degraded_calls(mut self, calls: u64) -> Self {
        self.max_degraded_calls = Some(calls);
        self
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The TTL of the last-known-good cache (zero outside `fail_open_cached`).
    pub fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }

    /// Whether a call that found TapPass unavailable may be let through in
    /// some form.
    pub(crate) fn fails_open(&self) -> bool {
        self.mode != Mode::FailClosed
    }
}

impl fmt::Debug for Resilience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Resilience");
        s.field("mode", &self.mode);
        if self.mode == Mode::FailOpenCached {
            s.field("cache_ttl", &self.cache_ttl)
                .field("cache_entries", &self.cache_entries);
        }
        s.field("failure_threshold", &self.failure_threshold)
            .field("open_for", &self.open_for)
            .field("max_degraded_calls", &self.max_degraded_calls)
            .finish()
    }
}

/// Why a call that returned `Ok` was not governed by the server:
/// [`ChatResponse::degraded`](crate::agent::ChatResponse::degraded),
/// [`ToolVerdict::degraded`](crate::agent::ToolVerdict::degraded), the
/// `X-TapPass-Degraded` response header (its [`as_str`](Self::as_str)) and
/// the `reason` of the call's `degraded_call` audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DegradedReason {
    /// `cached`: TapPass was unavailable and the agent reused the last allow
    /// of the identical call (`fail_open_cached`), given `age` ago.
    Cached {
        /// How long ago the server gave the allow that was reused.
        age: Duration,
    },
    /// `ungoverned`: TapPass was unavailable and the call went through with
    /// no policy applied (`fail_open_logged`).
    Ungoverned,
}

impl DegradedReason {
    /// `cached` or `ungoverned`: the value of `X-TapPass-Degraded` and of the
    /// audit event's `reason`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DegradedReason::Cached { .. } => "cached",
            DegradedReason::Ungoverned => "ungoverned",
        }
    }

    /// How bad it is, for the one header a request carries when its calls
    /// met several: an ungoverned call outweighs a cached one.
    pub(crate) fn severity(&self) -> u8 {
        match self {
            DegradedReason::Cached { .. } => 1,
            DegradedReason::Ungoverned => 2,
        }
    }

    /// The header value of a [`severity`](Self::severity), `None` for 0.
    pub(crate) fn header_of(severity: u8) -> Option<&'static str> {
        match severity {
            0 => None,
            1 => Some("cached"),
            _ => Some("ungoverned"),
        }
    }
}

impl fmt::Display for DegradedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The response header that marks a request that met a degraded call; its
/// value is a [`DegradedReason::as_str`] (`ungoverned` when it met both).
pub const DEGRADED_HEADER: http::HeaderName = http::HeaderName::from_static("x-tappass-degraded");

/// A durable local spool of audit events: set with
/// [`AgentBuilder::audit_spool`](crate::agent::AgentBuilder::audit_spool).
///
/// Events that cannot be delivered now (TapPass unavailable, or the
/// in-memory queue full while TapPass is slow) and every degraded call's
/// event are appended to JSON Lines files under `dir`, then sent in order,
/// each record with its own `Idempotency-Key`, once TapPass answers again; an
/// agent built on the same directory after a restart resumes the flush.
/// The format, the bound and the crash safety are in the
/// [agent guide](crate::agent#the-audit-spool).
///
/// ```
/// use tappass::resilience::{AuditSpool, Fsync, WhenFull};
///
/// let spool = AuditSpool::new("/var/lib/my-service/tappass-spool")
///     .max_bytes(64 << 20)
///     .when_full(WhenFull::DropOldest)
///     .fsync(Fsync::Never);
/// assert_eq!(spool.dir(), std::path::Path::new("/var/lib/my-service/tappass-spool"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct AuditSpool {
    pub(crate) dir: PathBuf,
    pub(crate) max_bytes: u64,
    pub(crate) when_full: WhenFull,
    pub(crate) fsync: Fsync,
}

/// What the spool does when an event would pass its
/// [`max_bytes`](AuditSpool::max_bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhenFull {
    /// The oldest events not yet delivered go (a whole file of the spool at
    /// a time, about an eighth of it), counted in
    /// [`Agent::dropped_events`](crate::Agent::dropped_events) and logged.
    /// The default.
    DropOldest,
    /// Nothing is dropped: a degraded call whose event does not fit fails
    /// closed instead ([`Error::Unavailable`](crate::Error::Unavailable)),
    /// and an event of no call (one the in-memory queue could not hold) is
    /// dropped and counted.
    FailClosed,
}

/// When the spool asks the OS to put what it wrote on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fsync {
    /// Each record is written to the file (in the OS's page cache) before
    /// the call returns, and synced when a file of the spool is closed: a
    /// crash or kill of the process loses nothing; a power loss or a kernel
    /// crash may lose the last records. The default.
    Never,
    /// Each record is synced to the disk before the call returns
    /// (`fdatasync`): nothing is lost to a power loss either, at the price
    /// of a disk flush per degraded call.
    Always,
}

/// The smallest bound a spool takes: 64 KiB.
const MIN_SPOOL_BYTES: u64 = 64 << 10;

impl AuditSpool {
    /// A spool in `dir` (created when missing), bounded to 256 MiB, that
    /// drops its oldest events when full and leaves syncing to the OS.
    pub fn new(dir: impl Into<PathBuf>) -> AuditSpool {
        AuditSpool {
            dir: dir.into(),
            max_bytes: 256 << 20,
            when_full: WhenFull::DropOldest,
            fsync: Fsync::Never,
        }
    }

    /// The most bytes the spool's files may hold (default 256 MiB; less than
    /// 64 KiB is taken as 64 KiB).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes.max(MIN_SPOOL_BYTES);
        self
    }

    /// What happens when it is full (default [`WhenFull::DropOldest`]).
    pub fn when_full(mut self, policy: WhenFull) -> Self {
        self.when_full = policy;
        self
    }

    /// When records are synced to the disk (default [`Fsync::Never`]).
    pub fn fsync(mut self, policy: Fsync) -> Self {
        self.fsync = policy;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}
