//! The built-in detectors of sensitive data (`detector = "…"` in a rule).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// A built-in detector of sensitive data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detector {
    UsSsn,
    CreditCard,
    Email,
}

impl Detector {
    pub(super) const NAMES: &'static str = "us_ssn, credit_card, email";

    pub(super) fn parse(name: &str) -> Option<Detector> {
        match name {
            "us_ssn" => Some(Detector::UsSsn),
            "credit_card" => Some(Detector::CreditCard),
            "email" => Some(Detector::Email),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Detector::UsSsn => "us_ssn",
            Detector::CreditCard => "credit_card",
            Detector::Email => "email",
        }
    }

    /// The byte ranges of `text` this detector finds.
    pub(crate) fn find(self, text: &str) -> Vec<Range<usize>> {
        static SSN: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b").expect("valid"));
        static CARD: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"\b[0-9](?:[ -]?[0-9]){12,18}\b").expect("valid"));
        static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
                .expect("valid")
        });
        match self {
            Detector::UsSsn => SSN.find_iter(text).map(|m| m.range()).collect(),
            Detector::Email => EMAIL.find_iter(text).map(|m| m.range()).collect(),
            Detector::CreditCard => CARD
                .find_iter(text)
                .filter(|m| {
                    let digits: Vec<u8> = m
                        .as_str()
                        .bytes()
                        .filter(u8::is_ascii_digit)
                        .map(|b| b - b'0')
                        .collect();
                    luhn_valid(&digits)
                })
                .map(|m| m.range())
                .collect(),
        }
    }
}

/// The Luhn checksum over decimal digits (values 0..=9), as payment cards use it.
pub(super) fn luhn_valid(digits: &[u8]) -> bool {
    if !(13..=19).contains(&digits.len()) || digits.iter().any(|&d| d > 9) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}
