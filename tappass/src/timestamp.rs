//! [`Timestamp`]: a point in time that speaks RFC 3339 on the wire.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

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
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc())
    }

    /// The same instant as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        self.0.into()
    }

    /// The instant as an HTTP date (RFC 9110 IMF-fixdate), as sent in `Retry-After`.
    pub fn to_http_date(self) -> String {
        httpdate::fmt_http_date(self.to_system_time())
    }

    /// How long from now until this instant; zero when it has passed.
    pub fn duration_from_now(self) -> Duration {
        self.to_system_time()
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    }

    /// This instant moved forward by `duration`.
    pub fn after(self, duration: Duration) -> Self {
        Self(self.0 + duration)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(value: SystemTime) -> Self {
        Self(value.into())
    }
}

impl From<Timestamp> for SystemTime {
    fn from(value: Timestamp) -> Self {
        value.to_system_time()
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(value: OffsetDateTime) -> Self {
        Self(value)
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
            .map(|t| Self(t.to_offset(time::UtcOffset::UTC)))
            .map_err(|_| ParseTimestampError(()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => f.write_str(&self.to_http_date()),
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
