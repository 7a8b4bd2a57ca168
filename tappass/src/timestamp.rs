//! [`Timestamp`]: a point in time that speaks RFC 3339 on the wire.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::{datetime, offset};
use time::{OffsetDateTime, UtcOffset};

/// A point in time, written as RFC 3339 in JSON and as an HTTP date in headers.
///
/// Decision bodies carry their expiry times as `Timestamp`s (`expires_at`), and
/// `#[governance(retry_after = field)]` accepts a field of this type.
///
/// ```
/// use tappass::Timestamp;
///
/// let t: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-11-23T10:00:00Z");
/// assert_eq!(t.to_http_date(), "Mon, 23 Nov 2026 10:00:00 GMT");
/// ```
///
/// # Range
///
/// A `Timestamp` is any instant that RFC 3339 can write: from
/// [`Timestamp::MIN`] (`0000-01-01T00:00:00+23:59`) to [`Timestamp::MAX`]
/// (`9999-12-31T23:59:59.999999999-23:59`, already the year 10000 in UTC),
/// to the nanosecond. Every string the parser accepts is in range, and every
/// method is total: arithmetic and conversions from a wider type saturate at
/// the ends instead of panicking. It is written in UTC (`…Z`) when UTC can
/// write it, otherwise at the offset that can (`+23:59` for the first hours,
/// `-23:59` for the last), so that what it writes always parses back to the
/// same instant.
///
/// ```
/// use std::time::Duration;
/// use tappass::Timestamp;
///
/// let never: Timestamp = "9999-12-31T23:59:59-23:59".parse().unwrap();
/// assert_eq!(never.to_string(), "9999-12-31T23:59:59-23:59");
/// assert_eq!(never.to_http_date(), "Fri, 31 Dec 9999 23:59:59 GMT");
/// assert_eq!(Timestamp::now().after(Duration::MAX), Timestamp::MAX);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "utoipa",
    derive(utoipa::ToSchema),
    schema(
        value_type = String,
        format = DateTime,
        description = "A point in time, RFC 3339.",
        example = "2026-11-23T10:00:00Z"
    )
)]
// Invariant: the instant lies in `MIN..=MAX`, and the offset is the one
// `Display` writes (see `Timestamp::new`). Equality, order and hash are those
// of the instant, whatever the offset.
pub struct Timestamp(OffsetDateTime);

/// The offsets at which RFC 3339 reaches furthest: east of UTC for the
/// earliest instants, west for the latest.
const EAST: UtcOffset = offset!(+23:59);
const WEST: UtcOffset = offset!(-23:59);

/// The range of an HTTP date (as `httpdate` writes one): 1970 to the end of 9999, UTC.
const HTTP_DATE_MIN: Timestamp = Timestamp(OffsetDateTime::UNIX_EPOCH);
const HTTP_DATE_MAX: Timestamp = Timestamp(datetime!(9999-12-31 23:59:59.999_999_999 UTC));

impl Timestamp {
    /// The earliest instant RFC 3339 can write: `0000-01-01T00:00:00+23:59`.
    pub const MIN: Timestamp = Timestamp(datetime!(0000-01-01 00:00:00 +23:59));

    /// The latest instant RFC 3339 can write:
    /// `9999-12-31T23:59:59.999999999-23:59`.
    pub const MAX: Timestamp = Timestamp(datetime!(9999-12-31 23:59:59.999_999_999 -23:59));

    /// The one place that keeps the invariant: clamps `t` into `MIN..=MAX`
    /// and puts it at the offset it is written in.
    fn new(t: OffsetDateTime) -> Self {
        let t = t.max(Self::MIN.0).min(Self::MAX.0);
        let utc = t
            .checked_to_offset(UtcOffset::UTC)
            .filter(|utc| (0..=9999).contains(&utc.year()));
        let edge = if t < OffsetDateTime::UNIX_EPOCH {
            EAST
        } else {
            WEST
        };
        // In range, one of the two always exists; `t` itself is only a
        // formality.
        Self(utc.or_else(|| t.checked_to_offset(edge)).unwrap_or(t))
    }

    /// The current time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// The same instant as a [`SystemTime`].
    ///
    /// Where the platform's `SystemTime` cannot go that far (before 1601 on
    /// Windows, for one; never on Linux or macOS), the nearest whole second
    /// it can.
    pub fn to_system_time(self) -> SystemTime {
        let since_epoch = self.0 - OffsetDateTime::UNIX_EPOCH;
        let distance = since_epoch.unsigned_abs();
        if since_epoch.is_negative() {
            reach(distance, |d| SystemTime::UNIX_EPOCH.checked_sub(d))
        } else {
            reach(distance, |d| SystemTime::UNIX_EPOCH.checked_add(d))
        }
    }

    /// The instant as an HTTP date (RFC 9110 IMF-fixdate), in whole seconds.
    ///
    /// An HTTP date says 1970 to 9999: an earlier instant gives
    /// `Thu, 01 Jan 1970 00:00:00 GMT`, a later one
    /// `Fri, 31 Dec 9999 23:59:59 GMT`. For `Retry-After`, use
    /// [`set_retry_after`](crate::response::set_retry_after), which also
    /// says `0` for an instant that has passed.
    pub fn to_http_date(self) -> String {
        let clamped = self.max(HTTP_DATE_MIN).min(HTTP_DATE_MAX);
        httpdate::fmt_http_date(clamped.to_system_time())
    }

    /// How long from now until this instant; zero when it has passed.
    pub fn duration_from_now(self) -> Duration {
        let left = self.0 - Self::now().0;
        if left.is_positive() {
            left.unsigned_abs()
        } else {
            Duration::ZERO
        }
    }

    /// This instant moved forward by `duration`, or [`Timestamp::MAX`] when
    /// that is later.
    pub fn after(self, duration: Duration) -> Self {
        let delta = time::Duration::try_from(duration).ok();
        self.shifted(delta).unwrap_or(Self::MAX)
    }

    /// This instant moved back by `duration`, or [`Timestamp::MIN`] when that
    /// is earlier.
    fn before(self, duration: Duration) -> Self {
        let delta = time::Duration::try_from(duration).ok().map(|d| -d);
        self.shifted(delta).unwrap_or(Self::MIN)
    }

    /// This instant moved by `delta`; `None` when the move goes past what
    /// `time` can hold (far beyond `MIN..=MAX`) or `delta` is `None`.
    fn shifted(self, delta: Option<time::Duration>) -> Option<Self> {
        // At -23:59 every instant in range has a local date `time` can hold
        // (years -1 to 9999), so only a move out of range can fail.
        let west = self.0.checked_to_offset(WEST)?;
        west.checked_add(delta?).map(Self::new)
    }
}

/// The `SystemTime` `distance` from the epoch that `step` reaches, or when
/// it cannot, the furthest whole second short of it that it can.
fn reach(distance: Duration, step: impl Fn(Duration) -> Option<SystemTime>) -> SystemTime {
    if let Some(time) = step(distance) {
        return time;
    }
    // Binary search over whole seconds: `reachable` can be reached (the
    // epoch itself at worst), `unreachable` cannot.
    let (mut reachable, mut unreachable) = (0, distance.as_secs().saturating_add(1));
    while unreachable - reachable > 1 {
        let middle = reachable + (unreachable - reachable) / 2;
        if step(Duration::from_secs(middle)).is_some() {
            reachable = middle;
        } else {
            unreachable = middle;
        }
    }
    step(Duration::from_secs(reachable)).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The same instant, or [`Timestamp::MIN`] or [`Timestamp::MAX`] for one
/// beyond what RFC 3339 can write.
impl From<SystemTime> for Timestamp {
    fn from(value: SystemTime) -> Self {
        let epoch = Timestamp(OffsetDateTime::UNIX_EPOCH);
        match value.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => epoch.after(since),
            Err(before) => epoch.before(before.duration()),
        }
    }
}

/// See [`Timestamp::to_system_time`].
impl From<Timestamp> for SystemTime {
    fn from(value: Timestamp) -> Self {
        value.to_system_time()
    }
}

/// The same instant, or [`Timestamp::MIN`] or [`Timestamp::MAX`] for one
/// beyond what RFC 3339 can write.
impl From<OffsetDateTime> for Timestamp {
    fn from(value: OffsetDateTime) -> Self {
        Self::new(value)
    }
}

/// The error for a string that is not an RFC 3339 timestamp.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not an RFC 3339 timestamp (expected e.g. `2026-11-23T10:00:00Z`)")]
pub struct ParseTimestampError(());

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OffsetDateTime::parse(s.trim(), &Rfc3339)
            .map(Self::new)
            .map_err(|_| ParseTimestampError(()))
    }
}

impl Timestamp {
    /// Reads a timestamp in a server's answer as the Python SDK does: RFC
    /// 3339, or an ISO 8601 date and time without an offset
    /// (`2026-11-23T10:00:00`, with or without a fraction), read as UTC.
    /// [`FromStr`] stays strict RFC 3339; this leniency is for decisions only.
    pub(crate) fn parse_answered(s: &str) -> Option<Timestamp> {
        if let Ok(strict) = s.parse() {
            return Some(strict);
        }
        let naive = time::macros::format_description!(
            version = 2,
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        time::PrimitiveDateTime::parse(s.trim(), naive)
            .ok()
            .map(|t| Self::new(t.assume_utc()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            // `Timestamp::new` keeps every value writable as RFC 3339; this
            // is only the total answer to an error that cannot happen.
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_stops_at_the_furthest_second_a_short_system_time_can_hold() {
        // A platform whose `SystemTime` goes 1000 s before the epoch, no further.
        let floor = SystemTime::UNIX_EPOCH - Duration::from_secs(1000);
        let step = |d: Duration| {
            SystemTime::UNIX_EPOCH
                .checked_sub(d)
                .filter(|t| *t >= floor)
        };
        assert_eq!(reach(Duration::from_secs(1_000_000), step), floor);
        assert_eq!(reach(Duration::new(1000, 1), step), floor);
        let near = SystemTime::UNIX_EPOCH - Duration::new(999, 5);
        assert_eq!(reach(Duration::new(999, 5), step), near);
        // One that cannot leave the epoch at all.
        assert_eq!(reach(Duration::MAX, |_| None), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn any_offset_date_time_converts_and_writes_parseable_rfc_3339() {
        use time::PrimitiveDateTime;
        let early = PrimitiveDateTime::MIN.assume_offset(offset!(+25:59:59));
        let late = PrimitiveDateTime::MAX.assume_offset(offset!(-25:59:59));
        assert_eq!(Timestamp::from(early), Timestamp::MIN);
        assert_eq!(Timestamp::from(late), Timestamp::MAX);
        assert_eq!(
            Timestamp::from(PrimitiveDateTime::MIN.assume_utc()),
            Timestamp::MIN
        );
        // The last instant `time` holds in UTC is still short of the end.
        let last_utc = Timestamp::from(PrimitiveDateTime::MAX.assume_utc());
        assert_eq!(last_utc.to_string(), "9999-12-31T23:59:59.999999999Z");
        // RFC 3339 has no seconds in an offset: written in UTC instead.
        let odd = datetime!(2030-01-02 03:04:05.5 +01:00:30);
        let t = Timestamp::from(odd);
        assert_eq!(t.to_string(), "2030-01-02T02:03:35.5Z");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        let odd_edge = datetime!(9999-12-31 23:59:59 -25:59:59);
        assert_eq!(Timestamp::from(odd_edge), Timestamp::MAX);
    }

    #[test]
    fn the_ends_are_kept_at_the_offset_that_writes_them() {
        assert_eq!(Timestamp::MIN, Timestamp::new(Timestamp::MIN.0));
        assert_eq!(Timestamp::MIN.0.offset(), EAST);
        assert_eq!(Timestamp::MAX.0.offset(), WEST);
        assert_eq!(Timestamp::MIN.to_string(), "0000-01-01T00:00:00+23:59");
        assert_eq!(
            Timestamp::MAX.to_string(),
            "9999-12-31T23:59:59.999999999-23:59"
        );
        let utc = Timestamp::new(datetime!(9999-12-31 23:59:59 UTC));
        assert_eq!(utc.to_string(), "9999-12-31T23:59:59Z");
        let next = utc.after(Duration::from_secs(1));
        assert_eq!(next.to_string(), "9999-12-31T00:01:00-23:59");
    }
}
