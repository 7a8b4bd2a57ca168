//! Clearance levels: how trusted the holder of a token is, lowest first.

use std::fmt;
use std::str::FromStr;

/// Clearance levels, lowest first; a delegated token can only keep or lower
/// its parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Clearance {
    /// `UNTRUSTED` (0)
    Untrusted,
    /// `EXTERNAL` (10)
    External,
    /// `PARTNER` (20)
    Partner,
    /// `INTERNAL` (30), the default
    Internal,
    /// `PRIVILEGED` (40)
    Privileged,
    /// `SYSTEM` (50)
    System,
}

impl Clearance {
    /// Every level, lowest first.
    pub const ALL: [Clearance; 6] = [
        Clearance::Untrusted,
        Clearance::External,
        Clearance::Partner,
        Clearance::Internal,
        Clearance::Privileged,
        Clearance::System,
    ];

    /// The number on the wire (`clr`): 0, 10, 20, 30, 40 or 50.
    pub fn value(self) -> u8 {
        match self {
            Clearance::Untrusted => 0,
            Clearance::External => 10,
            Clearance::Partner => 20,
            Clearance::Internal => 30,
            Clearance::Privileged => 40,
            Clearance::System => 50,
        }
    }

    /// The level for a wire number.
    pub fn from_value(value: i64) -> Option<Clearance> {
        Clearance::ALL
            .into_iter()
            .find(|c| i64::from(c.value()) == value)
    }

    /// Python's name: `INTERNAL`.
    pub fn name(self) -> &'static str {
        match self {
            Clearance::Untrusted => "UNTRUSTED",
            Clearance::External => "EXTERNAL",
            Clearance::Partner => "PARTNER",
            Clearance::Internal => "INTERNAL",
            Clearance::Privileged => "PRIVILEGED",
            Clearance::System => "SYSTEM",
        }
    }
}

impl fmt::Display for Clearance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a clearance level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown clearance level (expected UNTRUSTED, EXTERNAL, PARTNER, INTERNAL, PRIVILEGED or SYSTEM)")]
pub struct UnknownClearance;

impl FromStr for Clearance {
    type Err = UnknownClearance;
    /// The name in any case, as `Clearance.from_string`.
    fn from_str(s: &str) -> Result<Self, UnknownClearance> {
        Clearance::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or(UnknownClearance)
    }
}
