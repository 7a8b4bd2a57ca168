//! The strict reader of the policy file: every problem is reported at once,
//! each naming its rule.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use regex::Regex;
use toml::{Table, Value as Toml};

use super::detect::Detector;
use super::model::{
    Action, Grant, Matcher, PromptMatch, Rule, TokenGrant, ToolMatch, DEFAULT_MANDATE_TTL,
    DEFAULT_TOKEN_TTL,
};
use tappass::capability::{Clearance, ConstraintSet, MAX_TOKEN_TTL_SECS};

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
    ("capability_token", &["allow"]),
];

/// The keys of a rule's `capability_token` table.
const TOKEN_KEYS: &[&str] = &["tools", "clearance", "trust_score", "ttl_seconds"];

/// The longest `expires_in_seconds` a rule may ask for: 30 days.
const MAX_EXPIRY_SECONDS: u64 = 30 * 24 * 3600;

/// The rules of a policy file, in order, or every problem found.
pub(super) fn parse(text: &str) -> Result<Vec<Rule>, Vec<String>> {
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
        Ok(rules)
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
    let token = parse_token(&matcher, &mut r);

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
        token,
    })
}

/// `capability_token`: what the capability token of a chat answer that the
/// rule allows grants. Its tools' constraints are the Python SDK's
/// dictionaries (`{ type = "subpath", root = "/data" }`), read by
/// `ConstraintSet::from_dict`.
fn parse_token(matcher: &Option<Matcher>, r: &mut Reader<'_>) -> Option<TokenGrant> {
    let value = r.table.get("capability_token")?;
    if let Some(Matcher::Tool(_)) = matcher {
        r.problem(
            "`capability_token` comes with a chat answer, so it applies to prompt rules; a tool call's `allow` carries a mandate (`capabilities`, `mandate_ttl_seconds`)",
        );
        return None;
    }
    let Some(table) = value.as_table() else {
        let found = value.type_str();
        r.problem(format_args!(
            "`capability_token` must be a table (`capability_token.tools.read_file.path = {{ type = \"subpath\", root = \"/data\" }}`), not a {found}"
        ));
        return None;
    };
    let mut t = Reader {
        label: r.label.clone(),
        table,
        prefix: "capability_token.",
        problems: r.problems,
    };
    for key in table.keys() {
        if !TOKEN_KEYS.contains(&key.as_str()) {
            t.problem(format_args!(
                "unknown key `capability_token.{key}`; expected capability_token.{}",
                TOKEN_KEYS.join(", capability_token.")
            ));
        }
    }
    let mut tools = std::collections::BTreeMap::new();
    match table.get("tools") {
        Some(Toml::Table(entries)) if !entries.is_empty() => {
            for (tool, spec) in entries {
                if tool != "*" {
                    if let Err(e) = crate::ids::check_tool_name(tool) {
                        let e = e.replacen("`payload.tool`", "the name", 1);
                        t.problem(format_args!("`capability_token.tools.{tool}`: {e}"));
                        continue;
                    }
                }
                let json = match serde_json::to_value(spec) {
                    Ok(json) if json.is_object() => json,
                    _ => {
                        t.problem(format_args!(
                            "`capability_token.tools.{tool}` must be a table of the tool's arguments and their constraints (`{{}}` for none)"
                        ));
                        continue;
                    }
                };
                match ConstraintSet::from_dict(&json) {
                    Ok(set) => {
                        tools.insert(tool.clone(), set);
                    }
                    Err(e) => t.problem(format_args!("`capability_token.tools.{tool}`: {e}")),
                }
            }
        }
        Some(_) => t.problem(
            "`capability_token.tools` must be a table that names at least one tool: `capability_token.tools.search = {}`",
        ),
        None => t.problem(
            "`capability_token` needs `tools`: the tools the token grants, each with its argument constraints",
        ),
    }
    let clearance = match t.string("clearance") {
        None => Clearance::Internal,
        Some(name) => name.parse().unwrap_or_else(|e| {
            t.problem(format_args!(
                "`capability_token.clearance` is `{name}`: {e}"
            ));
            Clearance::Internal
        }),
    };
    let trust_score = match table.get("trust_score") {
        None => 0,
        Some(Toml::Integer(n)) if (0..=1000).contains(n) => *n as u32,
        Some(_) => {
            t.problem("`capability_token.trust_score` must be a whole number from 0 to 1000");
            0
        }
    };
    let ttl = match table.get("ttl_seconds") {
        None => DEFAULT_TOKEN_TTL,
        Some(Toml::Integer(n)) if (1..=MAX_TOKEN_TTL_SECS).contains(n) => {
            Duration::from_secs(n.unsigned_abs())
        }
        Some(_) => {
            t.problem(format_args!(
                "`capability_token.ttl_seconds` must be a whole number of seconds from 1 to {MAX_TOKEN_TTL_SECS} (90 days)"
            ));
            DEFAULT_TOKEN_TTL
        }
    };
    Some(TokenGrant {
        tools,
        clearance,
        trust_score,
        ttl,
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
