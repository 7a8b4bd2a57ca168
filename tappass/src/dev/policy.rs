//! The policy file: rules that turn matching prompts and tool calls into decisions.
//!
//! A policy is a TOML file of `[[rule]]` tables (the format is documented in
//! the guide of [`tappass::dev`](crate::dev)). Parsing is strict and reports
//! every problem at once, each naming its rule; matching is what the chat and
//! govern handlers ask of a parsed [`Policy`].

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use toml::{Table, Value as Toml};

use crate::decision::Redaction;

/// The text of the default policy, as shipped (`src/dev/default-policy.toml`).
///
/// [`Policy::default()`] parses it; copy it as the start of your own policy file
/// (`tappass-dev --print-default-policy` prints it).
pub const DEFAULT_POLICY: &str = include_str!("default-policy.toml");

/// How long a mandate lasts unless its rule says `mandate_ttl_seconds`: 5 minutes.
pub(crate) const DEFAULT_MANDATE_TTL: Duration = Duration::from_secs(300);

/// The longest `expires_in_seconds` a rule may ask for: 30 days.
const MAX_EXPIRY_SECONDS: u64 = 30 * 24 * 3600;

/// An ordered list of rules that decide prompts and tool calls.
///
/// Rules are evaluated in order and the first matching rule decides, except a
/// `redaction_applied` rule, which rewrites the prompt and lets evaluation go on.
/// What no rule decides is allowed. Cheap to clone.
///
/// ```
/// use tappass::dev::Policy;
///
/// let policy = Policy::from_toml(r#"
///     [[rule]]
///     name = "no_secrets"
///     match.prompt_contains = "secret"
///     decision = "policy_block"
/// "#).unwrap();
/// assert_eq!(policy.rule_names().collect::<Vec<_>>(), ["no_secrets"]);
///
/// let err = Policy::from_toml(r#"
///     [[rule]]
///     name = "typo"
///     match.prompt_contain = "secret"
///     decision = "policy_block"
/// "#).unwrap_err();
/// assert!(err.to_string().contains("rule `typo`: unknown key `match.prompt_contain`"));
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Arc<[Rule]>,
}

impl Policy {
    /// Parses a policy from the text of a TOML policy file.
    ///
    /// Every problem is reported at once, each naming its rule and what is wrong.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        parse(text).map_err(|problems| PolicyError {
            file: None,
            problems,
        })
    }

    /// Reads and parses a TOML policy file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let file = Some(path.display().to_string());
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            file: file.clone(),
            problems: vec![format!("cannot read the file: {e}")],
        })?;
        parse(&text).map_err(|problems| PolicyError { file, problems })
    }

    /// A policy without rules: it allows everything.
    pub fn allow_all() -> Policy {
        Policy {
            rules: Arc::from(Vec::new()),
        }
    }

    /// The names of the rules, in evaluation order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// How many rules the policy has.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the policy has no rules (and so allows everything).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub(crate) fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

impl Default for Policy {
    /// The shipped default policy ([`DEFAULT_POLICY`]): a demo trigger for every
    /// kind of decision.
    fn default() -> Self {
        // The shipped file is covered by a unit test, so this cannot fail at run time.
        Policy::from_toml(DEFAULT_POLICY).expect("the built-in default policy parses")
    }
}

/// A policy file that could not be read or parsed.
///
/// Its message lists every problem, each naming the rule and what is wrong.
#[derive(Debug, Clone)]
pub struct PolicyError {
    file: Option<String>,
    problems: Vec<String>,
}

impl PolicyError {
    /// Every problem found, one sentence each (e.g. ``rule `x`: unknown key `foo` …``).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid policy")?;
        if let Some(file) = &self.file {
            write!(f, " file `{file}`")?;
        }
        match self.problems.as_slice() {
            [one] => write!(f, ": {one}"),
            many => {
                write!(f, " ({} problems):", many.len())?;
                for problem in many {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PolicyError {}

impl From<PolicyError> for crate::Error {
    fn from(value: PolicyError) -> Self {
        crate::Error::config(value.to_string())
    }
}

// ---- The parsed model -------------------------------------------------------

/// One rule of a policy.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) reason: String,
    pub(crate) matcher: Matcher,
    pub(crate) action: Action,
    /// What the mandate of an `allow` grants (tool rules only).
    pub(crate) grant: Grant,
}

/// The mandate an `allow` of a tool call carries: its capabilities (empty:
/// `tool:call:<tool>`) and how long it lasts.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) capabilities: Vec<String>,
    pub(crate) ttl: Duration,
}

impl Default for Grant {
    fn default() -> Self {
        Grant {
            capabilities: Vec::new(),
            ttl: DEFAULT_MANDATE_TTL,
        }
    }
}

/// What a rule looks at: a chat prompt or a tool call.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Prompt(PromptMatch),
    Tool(ToolMatch),
}

/// Conditions on a prompt; all that are given must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct PromptMatch {
    /// Lowercased; compared ASCII-case-insensitively.
    contains: Option<String>,
    regex: Option<Regex>,
    detector: Option<Detector>,
}

/// Conditions on a tool call; all that are given must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct ToolMatch {
    tool: Option<String>,
    tool_regex: Option<Regex>,
    /// Lowercased; compared ASCII-case-insensitively with the JSON arguments.
    args_contains: Option<String>,
    args_regex: Option<Regex>,
}

/// What a matching rule decides.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Allow,
    PolicyBlock {
        blocked_by: String,
        classification: String,
    },
    Redact {
        replacement: Option<String>,
    },
    ApprovalRequired {
        expires_in: Duration,
    },
    AuthorizationRequired {
        provider: String,
        authorize_url: String,
        scopes: Vec<String>,
    },
    TrustTierDenied {
        required_tier: String,
        actual_tier: String,
    },
    BreakGlass {
        level: String,
        expires_in: Duration,
    },
    ToolIntegrity {
        /// `None` on a tool rule: the tool called.
        tool_name: Option<String>,
        violation: String,
    },
    Block {
        blocked_by: String,
    },
    ToolApproval {
        escalate: bool,
        expires_in: Duration,
    },
}

/// A setting of a rule as the policy file writes it: key and value.
pub(crate) type Setting = (&'static str, String);

impl Matcher {
    /// What the rule looks at (`prompt` or `tool`) and its conditions, as
    /// the policy file writes them.
    pub(crate) fn conditions(&self) -> (&'static str, Vec<Setting>) {
        let mut out = Vec::new();
        let mut add = |key, value: Option<String>| {
            if let Some(value) = value {
                out.push((key, value));
            }
        };
        match self {
            Matcher::Prompt(m) => {
                add("prompt_contains", m.contains.clone());
                add(
                    "prompt_regex",
                    m.regex.as_ref().map(|r| r.as_str().to_owned()),
                );
                add("detector", m.detector.map(|d| d.name().to_owned()));
                ("prompt", out)
            }
            Matcher::Tool(m) => {
                add("tool", m.tool.clone());
                add(
                    "tool_regex",
                    m.tool_regex.as_ref().map(|r| r.as_str().to_owned()),
                );
                add("args_contains", m.args_contains.clone());
                add(
                    "args_regex",
                    m.args_regex.as_ref().map(|r| r.as_str().to_owned()),
                );
                ("tool", out)
            }
        }
    }
}

impl Action {
    /// The decision's wire name and its settings, as the policy file writes them.
    pub(crate) fn decision(&self) -> (&'static str, Vec<Setting>) {
        let secs = |d: &Duration| d.as_secs().to_string();
        match self {
            Action::Allow => ("allow", vec![]),
            Action::PolicyBlock {
                blocked_by,
                classification,
            } => (
                "policy_block",
                vec![
                    ("blocked_by", blocked_by.clone()),
                    ("classification", classification.clone()),
                ],
            ),
            Action::Redact { replacement } => (
                "redaction_applied",
                replacement
                    .iter()
                    .map(|r| ("replacement", r.clone()))
                    .collect(),
            ),
            Action::ApprovalRequired { expires_in } => (
                "approval_required",
                vec![("expires_in_seconds", secs(expires_in))],
            ),
            Action::AuthorizationRequired {
                provider,
                authorize_url,
                scopes,
            } => (
                "authorization_required",
                vec![
                    ("provider", provider.clone()),
                    ("authorize_url", authorize_url.clone()),
                    ("scopes", scopes.join(", ")),
                ],
            ),
            Action::TrustTierDenied {
                required_tier,
                actual_tier,
            } => (
                "trust_tier_denied",
                vec![
                    ("required_tier", required_tier.clone()),
                    ("actual_tier", actual_tier.clone()),
                ],
            ),
            Action::BreakGlass { level, expires_in } => (
                "break_glass_active",
                vec![
                    ("level", level.clone()),
                    ("expires_in_seconds", secs(expires_in)),
                ],
            ),
            Action::ToolIntegrity {
                tool_name,
                violation,
            } => {
                let mut settings: Vec<Setting> =
                    tool_name.iter().map(|t| ("tool_name", t.clone())).collect();
                settings.push(("violation", violation.clone()));
                ("tool_integrity_violation", settings)
            }
            Action::Block { blocked_by } => ("block", vec![("blocked_by", blocked_by.clone())]),
            Action::ToolApproval {
                escalate,
                expires_in,
            } => (
                if *escalate {
                    "escalate"
                } else {
                    "needs_approval"
                },
                vec![("expires_in_seconds", secs(expires_in))],
            ),
        }
    }
}

/// A built-in detector of sensitive data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detector {
    UsSsn,
    CreditCard,
    Email,
}

impl Detector {
    const NAMES: &'static str = "us_ssn, credit_card, email";

    fn parse(name: &str) -> Option<Detector> {
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
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
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

/// ASCII-case-insensitive search of a lowercased `needle`; byte ranges in `haystack`.
fn find_ignore_case(haystack: &str, needle: &str) -> Vec<Range<usize>> {
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
            redactions.push(Redaction {
                kind: kind.clone(),
                start,
                end,
                replacement: replacement.to_owned(),
            });
            cursor = span.end;
            chars = end;
        }
        out.push_str(&prompt[cursor..]);
        (out, redactions)
    }
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

// ---- Parsing ------------------------------------------------------------------

const PROMPT_KEYS: &[&str] = &["prompt_contains", "prompt_regex", "detector"];
const TOOL_KEYS: &[&str] = &["tool", "tool_regex", "args_contains", "args_regex"];
const RULE_KEYS: &[&str] = &["name", "decision", "reason", "match"];

/// Which rules a decision can be given on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Applies {
    Prompt,
    Tool,
    Both,
}

const DECISIONS: &[(&str, Applies)] = &[
    ("allow", Applies::Both),
    ("policy_block", Applies::Prompt),
    ("redaction_applied", Applies::Prompt),
    ("approval_required", Applies::Prompt),
    ("authorization_required", Applies::Both),
    ("trust_tier_denied", Applies::Both),
    ("break_glass_active", Applies::Both),
    ("tool_integrity_violation", Applies::Both),
    ("block", Applies::Tool),
    ("needs_approval", Applies::Tool),
    ("escalate", Applies::Tool),
];

/// The decision fields of a rule and the decisions that take them.
const KIND_FIELDS: &[(&str, &[&str])] = &[
    ("blocked_by", &["policy_block", "block"]),
    ("classification", &["policy_block"]),
    ("replacement", &["redaction_applied"]),
    ("provider", &["authorization_required"]),
    ("authorize_url", &["authorization_required"]),
    ("scopes", &["authorization_required"]),
    ("required_tier", &["trust_tier_denied"]),
    ("actual_tier", &["trust_tier_denied"]),
    ("level", &["break_glass_active"]),
    (
        "expires_in_seconds",
        &[
            "approval_required",
            "needs_approval",
            "escalate",
            "break_glass_active",
        ],
    ),
    ("tool_name", &["tool_integrity_violation"]),
    ("violation", &["tool_integrity_violation"]),
    ("capabilities", &["allow"]),
    ("mandate_ttl_seconds", &["allow"]),
];

fn parse(text: &str) -> Result<Policy, Vec<String>> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| vec![format!("not valid TOML: {}", e.to_string().trim())])?;
    let mut problems = Vec::new();
    let mut rules = Vec::new();
    for (key, value) in &table {
        if key != "rule" {
            let hint = if key == "rules" {
                " (did you mean `[[rule]]`?)"
            } else {
                ""
            };
            problems.push(format!(
                "unknown top-level key `{key}`{hint}: a policy file holds only `[[rule]]` tables"
            ));
            continue;
        }
        let Some(items) = value.as_array() else {
            problems
                .push("`rule` must be an array of tables: write each rule as `[[rule]]`".into());
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(rule) = parse_rule(i + 1, item, &mut problems) {
                rules.push(rule);
            }
        }
    }
    let mut seen = HashSet::new();
    for rule in &rules {
        if !seen.insert(rule.name.as_str()) {
            problems.push(format!(
                "rule `{}`: the name is used by an earlier rule too; rule names must be unique",
                rule.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(Policy {
            rules: rules.into(),
        })
    } else {
        Err(problems)
    }
}

/// Reads typed fields of one table, recording problems under the rule's label.
struct Reader<'a> {
    label: String,
    table: &'a Table,
    /// Prefix of the keys in messages: `` or `match.`.
    prefix: &'static str,
    problems: &'a mut Vec<String>,
}

impl Reader<'_> {
    fn problem(&mut self, message: impl fmt::Display) {
        self.problems.push(format!("{}: {message}", self.label));
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.table.get(key)? {
            Toml::String(s) if s.trim().is_empty() => {
                let prefix = self.prefix;
                self.problem(format_args!("`{prefix}{key}` must not be empty"));
                None
            }
            Toml::String(s) => Some(s.clone()),
            other => {
                let found = other.type_str();
                let prefix = self.prefix;
                self.problem(format_args!(
                    "`{prefix}{key}` must be a string, not a {found}"
                ));
                None
            }
        }
    }

    fn required(&mut self, key: &str, decision: &str) -> String {
        if !self.table.contains_key(key) {
            self.problem(format_args!("decision `{decision}` needs `{key}`"));
        }
        self.string(key).unwrap_or_default()
    }

    fn strings(&mut self, key: &str) -> Vec<String> {
        match self.table.get(key) {
            None => Vec::new(),
            Some(Toml::Array(items)) if items.iter().all(Toml::is_str) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(_) => {
                self.problem(format_args!("`{key}` must be an array of strings"));
                Vec::new()
            }
        }
    }

    fn seconds(&mut self, key: &str, default: u64) -> Duration {
        match self.table.get(key) {
            None => Duration::from_secs(default),
            Some(Toml::Integer(n)) if (1..=MAX_EXPIRY_SECONDS as i64).contains(n) => {
                Duration::from_secs(n.unsigned_abs())
            }
            Some(_) => {
                self.problem(format_args!(
                    "`{key}` must be a whole number of seconds from 1 to {MAX_EXPIRY_SECONDS}"
                ));
                Duration::from_secs(default)
            }
        }
    }

    fn regex(&mut self, key: &str) -> Option<Regex> {
        let pattern = self.string(key)?;
        match Regex::new(&pattern) {
            Ok(r) => Some(r),
            Err(e) => {
                let e = e.to_string().replace('\n', " ");
                let prefix = self.prefix;
                self.problem(format_args!(
                    "`{prefix}{key}` is not a valid regular expression: {e}"
                ));
                None
            }
        }
    }

    fn one_of(&mut self, key: &str, allowed: &[&str]) -> String {
        let value = self.string(key).unwrap_or_default();
        if !value.is_empty() && !allowed.contains(&value.as_str()) {
            self.problem(format_args!(
                "`{key}` is `{value}`; expected one of: {}",
                allowed.join(", ")
            ));
        }
        value
    }
}

fn parse_rule(index: usize, item: &Toml, problems: &mut Vec<String>) -> Option<Rule> {
    let Some(table) = item.as_table() else {
        problems.push(format!(
            "rule #{index} must be a table: write it as `[[rule]]`"
        ));
        return None;
    };
    let before = problems.len();
    let name = match table.get("name") {
        Some(Toml::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => {
            problems.push(format!("rule #{index}: `name` must be a non-empty string"));
            None
        }
        None => {
            problems.push(format!(
                "rule #{index}: `name` is missing; every rule needs a unique name"
            ));
            None
        }
    };
    let label = match &name {
        Some(n) => format!("rule `{n}`"),
        None => format!("rule #{index}"),
    };
    let mut r = Reader {
        label,
        table,
        prefix: "",
        problems,
    };

    // The decision.
    let decision = match table.get("decision") {
        None => {
            r.problem("`decision` is missing");
            None
        }
        Some(_) => r.string("decision").and_then(|d| {
            let known = DECISIONS.iter().find(|(n, _)| *n == d);
            if known.is_none() {
                let names: Vec<&str> = DECISIONS.iter().map(|(n, _)| *n).collect();
                r.problem(format_args!(
                    "unknown decision `{d}`; expected one of: {}",
                    names.join(", ")
                ));
            }
            known.copied()
        }),
    };

    // Unknown keys, and decision fields given to a decision that does not take them.
    for key in table.keys() {
        if RULE_KEYS.contains(&key.as_str()) {
            continue;
        }
        match KIND_FIELDS.iter().find(|(k, _)| k == key) {
            None => {
                let hint =
                    if PROMPT_KEYS.contains(&key.as_str()) || TOOL_KEYS.contains(&key.as_str()) {
                        format!(" (write it as `match.{key}`)")
                    } else {
                        String::new()
                    };
                r.problem(format_args!(
                    "unknown key `{key}`{hint}; a rule takes name, decision, reason, match and its decision's fields ({})",
                    KIND_FIELDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                ));
            }
            Some((_, owners)) => {
                if let Some((d, _)) = decision {
                    if !owners.contains(&d) {
                        r.problem(format_args!(
                            "`{key}` does not apply to decision `{d}` (it belongs to {})",
                            owners.join(", ")
                        ));
                    }
                }
            }
        }
    }

    // The match.
    let matcher = match table.get("match") {
        None => {
            r.problem(format_args!(
                "`match` is missing; give at least one of match.{} or match.{}",
                PROMPT_KEYS.join(", match."),
                TOOL_KEYS.join(", match.")
            ));
            None
        }
        Some(Toml::Table(m)) => parse_match(m, &mut r),
        Some(other) => {
            let found = other.type_str();
            r.problem(format_args!("`match` must be a table, not a {found}"));
            None
        }
    };

    // The decision against what the rule looks at.
    if let (Some((d, applies)), Some(matcher)) = (decision, &matcher) {
        match (applies, matcher) {
            (Applies::Tool, Matcher::Prompt(_)) => r.problem(format_args!(
                "decision `{d}` applies to tool calls but the rule matches prompts; for a prompt use {}",
                match d {
                    "block" => "policy_block",
                    _ => "approval_required",
                }
            )),
            (Applies::Prompt, Matcher::Tool(_)) => r.problem(format_args!(
                "decision `{d}` applies to prompts but the rule matches tool calls; for a tool use {}",
                match d {
                    "policy_block" => "block",
                    "approval_required" => "needs_approval or escalate",
                    _ => "another decision (a tool call is not redacted)",
                }
            )),
            _ => {}
        }
        if d == "redaction_applied" {
            if let Matcher::Prompt(p) = matcher {
                let given = [
                    p.contains.is_some(),
                    p.regex.is_some(),
                    p.detector.is_some(),
                ];
                if given.iter().filter(|g| **g).count() != 1 {
                    r.problem(
                        "a `redaction_applied` rule needs exactly one of match.prompt_contains, match.prompt_regex, match.detector: it says what to redact",
                    );
                }
            }
        }
    }

    let action =
        decision.map(|(d, _)| parse_action(d, name.as_deref().unwrap_or(""), &matcher, &mut r));
    let reason = r.string("reason");
    let grant = parse_grant(&matcher, &mut r);

    if r.problems.len() != before {
        return None;
    }
    let (name, matcher, action) = (name?, matcher?, action?);
    let reason = reason.unwrap_or_else(|| format!("rule `{name}` matched"));
    Some(Rule {
        name,
        reason,
        matcher,
        action,
        grant,
    })
}

/// `capabilities` and `mandate_ttl_seconds`: what the mandate of a tool
/// call's `allow` grants.
fn parse_grant(matcher: &Option<Matcher>, r: &mut Reader<'_>) -> Grant {
    let given = ["capabilities", "mandate_ttl_seconds"]
        .into_iter()
        .find(|k| r.table.contains_key(*k));
    if let (Some(key), Some(Matcher::Prompt(_))) = (given, matcher) {
        r.problem(format_args!(
            "`{key}` applies to tool calls (the mandate of an `allow`), but the rule matches prompts"
        ));
    }
    let capabilities = r.strings("capabilities");
    for capability in &capabilities {
        if capability.is_empty() || capability.split(':').any(str::is_empty) {
            r.problem(format_args!(
                "capability `{capability}` is not of the form `action:resource:qualifier` (segments separated by `:`, `*` for any)"
            ));
        }
    }
    Grant {
        capabilities,
        ttl: r.seconds("mandate_ttl_seconds", DEFAULT_MANDATE_TTL.as_secs()),
    }
}

fn parse_match(m: &Table, rule: &mut Reader<'_>) -> Option<Matcher> {
    let mut r = Reader {
        label: rule.label.clone(),
        table: m,
        prefix: "match.",
        problems: rule.problems,
    };
    for key in m.keys() {
        if !PROMPT_KEYS.contains(&key.as_str()) && !TOOL_KEYS.contains(&key.as_str()) {
            r.problem(format_args!(
                "unknown key `match.{key}`; expected match.{} (prompts) or match.{} (tool calls)",
                PROMPT_KEYS.join(", match."),
                TOOL_KEYS.join(", match.")
            ));
        }
    }
    let has_prompt = PROMPT_KEYS.iter().any(|k| m.contains_key(*k));
    let has_tool = TOOL_KEYS.iter().any(|k| m.contains_key(*k));
    match (has_prompt, has_tool) {
        (true, true) => {
            r.problem("a rule matches either prompts (match.prompt_contains, match.prompt_regex, match.detector) or tool calls (match.tool, match.tool_regex, match.args_contains, match.args_regex), not both");
            None
        }
        (false, false) => {
            if m.keys()
                .all(|k| PROMPT_KEYS.contains(&k.as_str()) || TOOL_KEYS.contains(&k.as_str()))
            {
                r.problem("`match` is empty; give at least one condition");
            }
            None
        }
        (true, false) => {
            let contains = r.string("prompt_contains").map(|s| s.to_ascii_lowercase());
            let regex = r.regex("prompt_regex");
            let detector = r.string("detector").and_then(|d| {
                let found = Detector::parse(&d);
                if found.is_none() {
                    r.problem(format_args!(
                        "unknown detector `{d}`; expected one of: {}",
                        Detector::NAMES
                    ));
                }
                found
            });
            Some(Matcher::Prompt(PromptMatch {
                contains,
                regex,
                detector,
            }))
        }
        (false, true) => Some(Matcher::Tool(ToolMatch {
            tool: r.string("tool"),
            tool_regex: r.regex("tool_regex"),
            args_contains: r.string("args_contains").map(|s| s.to_ascii_lowercase()),
            args_regex: r.regex("args_regex"),
        })),
    }
}

fn parse_action(
    decision: &str,
    name: &str,
    matcher: &Option<Matcher>,
    r: &mut Reader<'_>,
) -> Action {
    match decision {
        "allow" => Action::Allow,
        "policy_block" => Action::PolicyBlock {
            blocked_by: r.string("blocked_by").unwrap_or_else(|| name.to_owned()),
            classification: r
                .string("classification")
                .unwrap_or_else(|| "CONFIDENTIAL".to_owned()),
        },
        "block" => Action::Block {
            blocked_by: r.string("blocked_by").unwrap_or_else(|| name.to_owned()),
        },
        "redaction_applied" => Action::Redact {
            replacement: r.string("replacement"),
        },
        "approval_required" => Action::ApprovalRequired {
            expires_in: r.seconds("expires_in_seconds", 3600),
        },
        "needs_approval" | "escalate" => Action::ToolApproval {
            escalate: decision == "escalate",
            expires_in: r.seconds("expires_in_seconds", 3600),
        },
        "authorization_required" => Action::AuthorizationRequired {
            provider: r.required("provider", decision),
            authorize_url: {
                let url = r.required("authorize_url", decision);
                if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
                    r.problem("`authorize_url` must be an absolute http or https URL");
                }
                url
            },
            scopes: r.strings("scopes"),
        },
        "trust_tier_denied" => Action::TrustTierDenied {
            required_tier: r.required("required_tier", decision),
            actual_tier: r.required("actual_tier", decision),
        },
        "break_glass_active" => {
            if !r.table.contains_key("level") {
                r.problem(format_args!("decision `{decision}` needs `level`"));
            }
            Action::BreakGlass {
                level: r.one_of("level", &["relax", "bypass_step", "full_bypass"]),
                expires_in: r.seconds("expires_in_seconds", 600),
            }
        }
        "tool_integrity_violation" => {
            let tool_name = match matcher {
                Some(Matcher::Prompt(_)) => Some(r.required("tool_name", decision)),
                _ => r.string("tool_name"),
            };
            if !r.table.contains_key("violation") {
                r.problem(format_args!("decision `{decision}` needs `violation`"));
            }
            Action::ToolIntegrity {
                tool_name,
                violation: r.one_of("violation", &["not_approved", "hash_mismatch", "revoked"]),
            }
        }
        _ => Action::Allow, // unknown decisions were reported already
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(text: &str) -> Vec<String> {
        Policy::from_toml(text).unwrap_err().problems().to_vec()
    }

    #[test]
    fn the_default_policy_parses_and_has_every_kind() {
        let policy = Policy::default();
        let rules = policy.rules();
        let has = |f: fn(&Action) -> bool| rules.iter().any(|r| f(&r.action));
        assert!(has(|a| matches!(a, Action::PolicyBlock { .. })));
        assert!(has(|a| matches!(a, Action::Redact { .. })));
        assert!(has(|a| matches!(a, Action::ApprovalRequired { .. })));
        assert!(has(|a| matches!(a, Action::AuthorizationRequired { .. })));
        assert!(has(|a| matches!(a, Action::TrustTierDenied { .. })));
        assert!(has(|a| matches!(a, Action::BreakGlass { .. })));
        assert!(has(|a| matches!(a, Action::ToolIntegrity { .. })));
        assert!(has(|a| matches!(a, Action::Block { .. })));
        assert!(has(|a| matches!(
            a,
            Action::ToolApproval { escalate: true, .. }
        )));
        assert!(has(|a| matches!(
            a,
            Action::ToolApproval {
                escalate: false,
                ..
            }
        )));
    }

    #[test]
    fn luhn() {
        let digits = |s: &str| -> Vec<u8> { s.bytes().map(|b| b - b'0').collect() };
        assert!(luhn_valid(&digits("4111111111111111")));
        assert!(luhn_valid(&digits("5500005555555559")));
        assert!(luhn_valid(&digits("378282246310005")));
        assert!(!luhn_valid(&digits("4111111111111112")));
        assert!(!luhn_valid(&digits("411111111111"))); // too short
        assert!(!luhn_valid(&digits("41111111111111111111"))); // too long
    }

    #[test]
    fn card_detector_allows_spaces_and_dashes_and_checks_luhn() {
        let d = Detector::CreditCard;
        assert_eq!(d.find("pay with 4111 1111 1111 1111 today").len(), 1);
        assert_eq!(d.find("pay with 4111-1111-1111-1111").len(), 1);
        assert_eq!(d.find("pay with 4111111111111111").len(), 1);
        assert!(d.find("order 4111 1111 1111 1112").is_empty());
        assert!(d.find("call 555 1234").is_empty());
    }

    #[test]
    fn ssn_and_email_detectors() {
        assert_eq!(Detector::UsSsn.find("my ssn is 123-45-6789."), vec![10..21]);
        assert!(Detector::UsSsn.find("call 123-456-7890").is_empty());
        assert_eq!(
            Detector::Email
                .find("mail jane.doe+x@example.co.uk now")
                .len(),
            1
        );
        assert!(Detector::Email.find("not an @ address").is_empty());
    }

    #[test]
    fn redaction_reports_character_offsets() {
        let m = PromptMatch {
            detector: Some(Detector::Email),
            ..PromptMatch::default()
        };
        let (text, redactions) = m.redact("redact_pii", None, "é mail a@b.io and c@d.io");
        assert_eq!(text, "é mail [REDACTED_EMAIL] and [REDACTED_EMAIL]");
        assert_eq!(redactions.len(), 2);
        assert_eq!((redactions[0].start, redactions[0].end), (7, 13));
        assert_eq!(redactions[0].kind, "email");
    }

    /// The redaction as it was first written: correct, but it counted the
    /// characters before each span from the start of the prompt again.
    fn redact_reference(
        m: &PromptMatch,
        rule: &str,
        replacement: Option<&str>,
        prompt: &str,
    ) -> (String, Vec<Redaction>) {
        let (kind, mut spans) = if let Some(d) = m.detector {
            (d.name().to_owned(), d.find(prompt))
        } else if let Some(r) = &m.regex {
            (
                rule.to_owned(),
                r.find_iter(prompt).map(|m| m.range()).collect(),
            )
        } else if let Some(n) = &m.contains {
            (rule.to_owned(), find_ignore_case(prompt, n))
        } else {
            return (prompt.to_owned(), Vec::new());
        };
        spans.retain(|s| !s.is_empty());
        spans.sort_by_key(|s| s.start);
        let replacement = replacement
            .map(str::to_owned)
            .unwrap_or_else(|| format!("[REDACTED_{}]", kind.to_ascii_uppercase()));
        let mut out = String::new();
        let mut redactions = Vec::new();
        let mut cursor = 0;
        for span in spans {
            if span.start < cursor {
                continue;
            }
            out.push_str(&prompt[cursor..span.start]);
            out.push_str(&replacement);
            let start = prompt[..span.start].chars().count() as u64;
            let end = start + prompt[span.clone()].chars().count() as u64;
            redactions.push(Redaction {
                kind: kind.clone(),
                start,
                end,
                replacement: replacement.clone(),
            });
            cursor = span.end;
        }
        out.push_str(&prompt[cursor..]);
        (out, redactions)
    }

    /// One prompt matcher of each kind a redaction rule can have.
    fn redaction_matchers() -> Vec<PromptMatch> {
        let mut all: Vec<PromptMatch> = [Detector::UsSsn, Detector::CreditCard, Detector::Email]
            .into_iter()
            .map(|d| PromptMatch {
                detector: Some(d),
                ..PromptMatch::default()
            })
            .collect();
        all.push(PromptMatch {
            contains: Some("ab".into()),
            ..PromptMatch::default()
        });
        all.push(PromptMatch {
            contains: Some("é".into()), // lowercase non-ASCII: matched as is
            ..PromptMatch::default()
        });
        all.push(PromptMatch {
            regex: Some(Regex::new("[0-9]+|x?").unwrap()), // empty matches are dropped
            ..PromptMatch::default()
        });
        all
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Over any text (any Unicode, plus the pieces detectors look for), the
        /// one-pass redaction says exactly what the reference says.
        #[test]
        fn redaction_equals_the_reference(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<String>(),
                    proptest::string::string_regex("[aAbB@.x0-9 é-]{0,12}").unwrap(),
                    proptest::prelude::Just("123-45-6789".to_owned()),
                    proptest::prelude::Just("4111 1111 1111 1111".to_owned()),
                    proptest::prelude::Just("jane.doe@example.com".to_owned()),
                ],
                0..12,
            ),
            replacement in proptest::option::of(proptest::prelude::any::<String>()),
        ) {
            let prompt = pieces.concat();
            for m in redaction_matchers() {
                let got = m.redact("rule", replacement.as_deref(), &prompt);
                let want = redact_reference(&m, "rule", replacement.as_deref(), &prompt);
                proptest::prop_assert_eq!(&got.0, &want.0);
                proptest::prop_assert_eq!(got.1.len(), want.1.len());
                for (g, w) in got.1.iter().zip(&want.1) {
                    proptest::prop_assert_eq!(
                        (&g.kind, g.start, g.end, &g.replacement),
                        (&w.kind, w.start, w.end, &w.replacement)
                    );
                }
            }
        }
    }

    /// CPU time of the current thread: unlike wall-clock time, it does not
    /// count the time other threads of a shared machine held the core.
    #[cfg(unix)]
    fn thread_cpu_time() -> std::time::Duration {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid, writable timespec for the call's duration.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    /// Elsewhere, wall-clock time since the first call.
    #[cfg(not(unix))]
    fn thread_cpu_time() -> std::time::Duration {
        static START: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);
        START.elapsed()
    }

    /// Redacting a prompt eight times as long, with eight times as many
    /// matches, costs about eight times as much (measured: 8 to 13 times, the
    /// larger prompt leaving the CPU caches), and stays under 24 times; a
    /// rescan from the start per match cost 26 to 50 times.
    #[test]
    fn redaction_is_linear_in_the_prompt() {
        let m = PromptMatch {
            detector: Some(Detector::Email),
            ..PromptMatch::default()
        };
        // Multi-byte text between matches, so that offsets need counting.
        let unit = "é mail a@b.io, ";
        let (small, large) = (unit.repeat(2_000), unit.repeat(16_000));
        let time = |prompt: &str| {
            let started = thread_cpu_time();
            let (_, found) = m.redact("r", None, prompt);
            assert_eq!(found.len(), prompt.len() / unit.len());
            thread_cpu_time().saturating_sub(started)
        };
        time(&small); // warm-up
                      // The best of several interleaved runs.
        let (mut best_small, mut best_large) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..5 {
            best_small = best_small.min(time(&small));
            best_large = best_large.min(time(&large));
        }
        let ratio = best_large.as_secs_f64() / best_small.as_secs_f64().max(1e-9);
        assert!(
            ratio < 24.0,
            "8x the prompt took {ratio:.1}x the time ({best_small:?} vs {best_large:?})"
        );
    }

    #[test]
    fn prompt_contains_ignores_ascii_case_and_conditions_combine() {
        let policy = Policy::from_toml(
            r#"
            [[rule]]
            name = "both"
            match.prompt_contains = "Wire"
            match.prompt_regex = "[0-9]+"
            decision = "approval_required"
            "#,
        )
        .unwrap();
        let Matcher::Prompt(m) = &policy.rules()[0].matcher else {
            panic!("a prompt rule")
        };
        assert!(m.matches("WIRE 5000"));
        assert!(!m.matches("wire money"));
    }

    #[test]
    fn tool_matching_over_name_and_json_args() {
        let policy = Policy::from_toml(
            r#"
            [[rule]]
            name = "external_mail"
            match.tool_regex = "^send_"
            match.args_contains = "@EXTERNAL.com"
            decision = "needs_approval"
            "#,
        )
        .unwrap();
        let Matcher::Tool(m) = &policy.rules()[0].matcher else {
            panic!("a tool rule")
        };
        assert!(m.matches("send_email", &json!({"to": "x@external.com"})));
        assert!(!m.matches("send_email", &json!({"to": "x@internal.com"})));
        assert!(!m.matches("read_email", &json!({"to": "x@external.com"})));
    }

    #[test]
    fn unknown_keys_name_the_rule() {
        let p = problems(
            r#"
            [[rule]]
            name = "r1"
            match.prompt_contains = "x"
            decision = "policy_block"
            colour = "red"
            "#,
        );
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("rule `r1`: unknown key `colour`"), "{p:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let p = problems(
            r#"
            [[rule]]
            match.prompt_contains = "x"
            decision = "policy_block"

            [[rule]]
            name = "r2"
            match.tool = "x"
            decision = "approval_required"

            [[rule]]
            name = "r3"
            match.prompt_regex = "("
            decision = "nope"

            [[rule]]
            name = "r4"
            match.prompt_contains = "x"
            decision = "break_glass_active"
            level = "total"
            provider = "github"

            [[rule]]
            name = "r5"
            match.prompt_contains = "a"
            match.tool = "b"
            decision = "allow"

            [[rule]]
            name = "r6"
            match.prompt_contains = "y"
            decision = "authorization_required"
            "#,
        );
        let all = p.join("\n");
        assert!(all.contains("rule #1: `name` is missing"), "{all}");
        assert!(
            all.contains("rule `r2`: decision `approval_required` applies to prompts"),
            "{all}"
        );
        assert!(all.contains("use needs_approval or escalate"), "{all}");
        assert!(all.contains("rule `r3`: unknown decision `nope`"), "{all}");
        assert!(
            all.contains("rule `r3`: `match.prompt_regex` is not a valid regular expression"),
            "{all}"
        );
        assert!(
            all.contains("rule `r4`: `provider` does not apply to decision `break_glass_active`"),
            "{all}"
        );
        assert!(
            all.contains(
                "rule `r4`: `level` is `total`; expected one of: relax, bypass_step, full_bypass"
            ),
            "{all}"
        );
        assert!(
            all.contains("rule `r5`: a rule matches either prompts"),
            "{all}"
        );
        assert!(
            all.contains("rule `r6`: decision `authorization_required` needs `provider`"),
            "{all}"
        );
        assert!(
            all.contains("rule `r6`: decision `authorization_required` needs `authorize_url`"),
            "{all}"
        );
    }

    #[test]
    fn structural_mistakes_have_clear_messages() {
        assert!(problems("[rule]\nname = \"x\"")[0].contains("write each rule as `[[rule]]`"));
        assert!(problems("[[rules]]\nname = \"x\"")[0].contains("did you mean `[[rule]]`?"));
        assert!(problems("[[rule]\n")[0].starts_with("not valid TOML"));
        let dup = problems(
            "[[rule]]\nname = \"a\"\nmatch.tool = \"t\"\ndecision = \"allow\"\n\
             [[rule]]\nname = \"a\"\nmatch.tool = \"u\"\ndecision = \"allow\"\n",
        );
        assert!(
            dup[0].contains("rule `a`: the name is used by an earlier rule"),
            "{dup:?}"
        );
        let misplaced =
            problems("[[rule]]\nname = \"a\"\nprompt_contains = \"t\"\ndecision = \"allow\"\n");
        assert!(
            misplaced
                .join("\n")
                .contains("(write it as `match.prompt_contains`)"),
            "{misplaced:?}"
        );
        let redact = problems(
            "[[rule]]\nname = \"r\"\nmatch.detector = \"email\"\nmatch.prompt_contains = \"x\"\ndecision = \"redaction_applied\"\n",
        );
        assert!(redact[0].contains("needs exactly one of"), "{redact:?}");
        let expiry = problems(
            "[[rule]]\nname = \"r\"\nmatch.tool = \"t\"\ndecision = \"escalate\"\nexpires_in_seconds = 0\n",
        );
        assert!(expiry[0].contains("whole number of seconds"), "{expiry:?}");
    }

    #[test]
    fn display_lists_problems_and_converts_into_a_config_error() {
        let err = Policy::from_toml("[[rule]]\nname = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("invalid policy ("), "{text}");
        let config: crate::Error = err.into();
        assert!(matches!(config, crate::Error::Config(_)));
        let missing = Policy::from_file("/nonexistent/policy.toml").unwrap_err();
        assert!(missing
            .to_string()
            .contains("`/nonexistent/policy.toml`: cannot read the file"));
    }
}
