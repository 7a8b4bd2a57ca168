//! Matching a prompt or a tool call against a rule's conditions, and redacting
//! what a prompt rule finds.

use std::ops::Range;

use serde_json::Value;

use super::detect::Detector;
use super::model::{PromptMatch, ToolMatch};
use tappass::decision::Redaction;

/// ASCII-case-insensitive search of a lowercased `needle`; byte ranges in `haystack`.
pub(super) fn find_ignore_case(haystack: &str, needle: &str) -> Vec<Range<usize>> {
    if needle.is_empty() {
        return Vec::new();
    }
    let lower = haystack.to_ascii_lowercase();
    lower
        .match_indices(needle)
        .map(|(start, m)| start..start + m.len())
        .collect()
}

impl PromptMatch {
    /// Whether every condition holds for `prompt`.
    pub(crate) fn matches(&self, prompt: &str) -> bool {
        self.contains
            .as_ref()
            .is_none_or(|n| !find_ignore_case(prompt, n).is_empty())
            && self.regex.as_ref().is_none_or(|r| r.is_match(prompt))
            && self.detector.is_none_or(|d| !d.find(prompt).is_empty())
    }

    /// The detector of this match, when it has one.
    pub(crate) fn detector(&self) -> Option<Detector> {
        self.detector
    }

    /// Redacts what this match finds in `prompt`: the redacted text and one
    /// [`Redaction`] per replaced span (offsets in characters of `prompt`).
    pub(crate) fn redact(
        &self,
        rule: &str,
        replacement: Option<&str>,
        prompt: &str,
    ) -> (String, Vec<Redaction>) {
        let (kind, mut spans) = if let Some(d) = self.detector {
            (d.name().to_owned(), d.find(prompt))
        } else if let Some(r) = &self.regex {
            (
                rule.to_owned(),
                r.find_iter(prompt).map(|m| m.range()).collect(),
            )
        } else if let Some(n) = &self.contains {
            (rule.to_owned(), find_ignore_case(prompt, n))
        } else {
            return (prompt.to_owned(), Vec::new());
        };
        spans.retain(|s| !s.is_empty());
        spans.sort_by_key(|s| s.start);
        let default_replacement;
        let replacement = match replacement {
            Some(r) => r,
            None => {
                default_replacement = format!("[REDACTED_{}]", kind.to_ascii_uppercase());
                &default_replacement
            }
        };
        // One pass: the character offset is carried from span to span, so
        // every byte of the prompt is counted once however many spans there are.
        let mut out = String::with_capacity(prompt.len());
        let mut redactions = Vec::new();
        let mut cursor = 0; // bytes of `prompt` consumed
        let mut chars = 0u64; // characters in `prompt[..cursor]`
        for span in spans {
            if span.start < cursor {
                continue; // overlaps the previous span
            }
            let before = &prompt[cursor..span.start];
            out.push_str(before);
            out.push_str(replacement);
            let start = chars + before.chars().count() as u64;
            let end = start + prompt[span.clone()].chars().count() as u64;
            redactions.push(redaction(&kind, start, end, replacement));
            cursor = span.end;
            chars = end;
        }
        out.push_str(&prompt[cursor..]);
        (out, redactions)
    }
}

/// One redaction, as the toolkit's type (which only its own crate can write
/// as a struct literal).
pub(super) fn redaction(kind: &str, start: u64, end: u64, replacement: &str) -> Redaction {
    let mut redaction = Redaction::default();
    redaction.kind = kind.to_owned();
    redaction.start = start;
    redaction.end = end;
    redaction.replacement = replacement.to_owned();
    redaction
}

impl ToolMatch {
    /// Whether every condition holds for a call of `tool` with `args`.
    pub(crate) fn matches(&self, tool: &str, args: &Value) -> bool {
        if self.tool.as_ref().is_some_and(|t| t != tool)
            || !self.tool_regex.as_ref().is_none_or(|r| r.is_match(tool))
        {
            return false;
        }
        if self.args_contains.is_none() && self.args_regex.is_none() {
            return true;
        }
        let text = args.to_string();
        self.args_contains
            .as_ref()
            .is_none_or(|n| !find_ignore_case(&text, n).is_empty())
            && self.args_regex.as_ref().is_none_or(|r| r.is_match(&text))
    }
}
