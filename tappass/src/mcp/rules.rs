//! What each tool needs: [`Needs`], the table of a server's tools
//! ([`ToolRules`]) and the trait that hands it over ([`GovernedTools`]),
//! with the name rules TapPass applies to a tool and to a capability.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// The longest tool name TapPass accepts, in bytes.
pub const MAX_TOOL_NAME_LEN: usize = 128;
/// The longest capability [`Needs::capability`] accepts, in bytes.
pub const MAX_CAPABILITY_LEN: usize = 256;

/// How TapPass takes part in a tool's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Decision {
    /// Each call is sent to TapPass (`POST /v1/govern`) and its policy
    /// decides: allow, block, ask a human, … The default.
    Policy,
    /// As [`Policy`](Self::Policy), and the call runs only when a human
    /// approval stands behind it: a call TapPass allows without one (its
    /// policy has no approval rule for the tool) is refused with
    /// `approval_not_enforced`, so that a policy that forgot the tool cannot
    /// let it run unattended.
    Approval,
    /// Each call is only recorded (a `tool_call` event with its arguments),
    /// never sent for a decision and never blocked: for tools that read and
    /// change nothing.
    AuditOnly,
}

impl Decision {
    /// Its name, as `#[governance(..)]` spells it (`policy` for the default).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Policy => "policy",
            Decision::Approval => "approval",
            Decision::AuditOnly => "audit_only",
        }
    }
}

/// What one tool needs before it runs: how TapPass decides its calls
/// ([`Decision`]) and, optionally, a grant the caller must present.
///
/// ```
/// use tappass::mcp::{Decision, Needs};
///
/// let needs = Needs::approval().with_capability("tool:call:send_email");
/// assert_eq!(needs.decision(), Decision::Approval);
/// assert_eq!(needs.capability(), Some("tool:call:send_email"));
/// assert_eq!(Needs::default(), Needs::policy());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Needs {
    decision: Decision,
    capability: Option<Cow<'static, str>>,
}

impl Default for Needs {
    fn default() -> Self {
        Needs::policy()
    }
}

impl Needs {
    /// TapPass's policy decides each call ([`Decision::Policy`]).
    pub const fn policy() -> Needs {
        Needs {
            decision: Decision::Policy,
            capability: None,
        }
    }

    /// Each call needs a human approval ([`Decision::Approval`]).
    pub const fn approval() -> Needs {
        Needs {
            decision: Decision::Approval,
            capability: None,
        }
    }

    /// Each call is only recorded ([`Decision::AuditOnly`]).
    pub const fn audit_only() -> Needs {
        Needs {
            decision: Decision::AuditOnly,
            capability: None,
        }
    }

    /// The caller must also present a grant of `capability`: a mandate
    /// (`X-TapPass-Mandate`, feature `mandate`) whose capabilities grant it,
    /// or a capability token (`X-TapPass-Token` with its proof of possession
    /// in `X-TapPass-PoP`, feature `capability`) that grants the tool for the
    /// call's arguments. Without one the call is refused before TapPass is
    /// asked, and `tools/list` does not show the tool to that caller.
    ///
    /// A capability is `:`-separated segments of `[A-Za-z0-9_.-]`, none
    /// empty, at most [`MAX_CAPABILITY_LEN`] bytes, no `*` (a wildcard
    /// belongs in what is granted, not in what is required); the usual one
    /// is `tool:call:<the tool's name>`. Another is refused when the
    /// governance wraps the server ([`Governance::wrap`](super::Governance::wrap)).
    pub fn with_capability(mut self, capability: impl Into<Cow<'static, str>>) -> Needs {
        self.capability = Some(capability.into());
        self
    }

    /// How TapPass decides the tool's calls.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The capability a caller must be granted, if any.
    pub fn capability(&self) -> Option<&str> {
        self.capability.as_deref()
    }
}

/// What each tool of a server needs, by the tool's name.
///
/// `#[tappass::mcp::governed]` writes it for the `#[tool]` fns of an impl
/// block; by hand:
///
/// ```
/// use tappass::mcp::{Needs, ToolRules};
///
/// let rules = ToolRules::new()
///     .tool("lookup_invoice", Needs::audit_only())
///     .tool("send_email", Needs::approval())
///     .tool("refund", Needs::policy().with_capability("tool:call:refund"));
/// assert_eq!(rules.get("send_email"), Some(&Needs::approval()));
/// assert_eq!(rules.get("unknown"), None);
/// ```
///
/// A tool it does not name is decided by the policy ([`Needs::policy`]).
/// Names and capabilities are checked when the governance wraps the server
/// ([`Governance::wrap`](super::Governance::wrap)): a name TapPass would
/// refuse, a capability of the wrong form or a tool named twice fails there,
/// with every problem in one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolRules {
    tools: HashMap<Cow<'static, str>, Needs>,
    problems: Vec<String>,
}

impl ToolRules {
    /// No tool named yet.
    pub fn new() -> ToolRules {
        ToolRules::default()
    }

    /// Declares what the tool `name` needs.
    #[must_use]
    pub fn tool(mut self, name: impl Into<Cow<'static, str>>, needs: Needs) -> ToolRules {
        let name = name.into();
        if let Err(problem) = check_tool_name(&name) {
            self.problems.push(problem.to_string());
        }
        if let Some(capability) = needs.capability() {
            if let Err(problem) = check_capability(capability) {
                self.problems
                    .push(format!("tool `{}`: {problem}", shown(&name)));
            }
        }
        if self.tools.contains_key(&name) {
            self.problems.push(format!(
                "the tool `{}` is declared twice: declare each tool once",
                shown(&name)
            ));
        }
        self.tools.insert(name, needs);
        self
    }

    /// What the tool `name` was declared to need, if it was.
    pub fn get(&self, name: &str) -> Option<&Needs> {
        self.tools.get(name)
    }

    /// The declared tools' names and needs, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Needs)> {
        self.tools.iter().map(|(name, needs)| (&**name, needs))
    }

    /// Whether a declared tool needs a grant.
    pub(crate) fn any_capability(&self) -> bool {
        self.tools.values().any(|needs| needs.capability.is_some())
    }

    /// Every problem found in the declarations, one per line; `Ok` when
    /// there is none.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems.join("; "))
        }
    }
}

/// A server that says what its tools need: what [`Governance::wrap`] and
/// [`Governance::streamable_http_service`] ask of the servers they govern.
///
/// `#[tappass::mcp::governed]` on the impl block of the server's `#[tool]`
/// fns implements it; a server whose every tool the TapPass policy decides
/// can implement it with nothing in it:
///
/// ```
/// # #[derive(Clone)] struct Search;
/// # impl rmcp::ServerHandler for Search {}
/// impl tappass::mcp::GovernedTools for Search {}
/// ```
///
/// Such a server must know its tools by name ([`rmcp::ServerHandler::get_tool`],
/// which `#[tool_handler]` implements): a call of a tool that neither it nor
/// the declarations know is refused as unknown, without being governed.
///
/// [`Governance::wrap`]: super::Governance::wrap
/// [`Governance::streamable_http_service`]: super::Governance::streamable_http_service
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say what its MCP tools need",
    label = "a server governed by `tappass::mcp` declares its tools",
    note = "put `#[tappass::mcp::governed]` on the impl block of its `#[tool]` fns (with `#[governance(..)]` on the tools that need more than the policy), or write `impl tappass::mcp::GovernedTools for {Self} {{}}` to leave every tool to the TapPass policy"
)]
pub trait GovernedTools {
    /// What each tool needs; nothing by default (every tool is decided by
    /// the policy).
    fn tool_rules() -> ToolRules {
        ToolRules::new()
    }
}

/// Why a tool name is refused by TapPass: it is a segment of a mandate's
/// capability (`tool:call:<name>`), where `*` would be a wildcard and `:` a
/// separator, and a URL path segment, where `.` and `..` are steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameProblem {
    Empty,
    TooLong,
    Wildcard,
    Separator,
    DotSegment,
    Character,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            NameProblem::Empty => "is empty",
            NameProblem::TooLong => "is too long",
            NameProblem::Wildcard => {
                "holds `*`, which a mandate's capability would read as a wildcard"
            }
            NameProblem::Separator => {
                "holds `:`, which a mandate's capability would read as a separator"
            }
            NameProblem::DotSegment => {
                "is `.` or `..`, which a URL would read as a step of its path"
            }
            NameProblem::Character => "holds a character outside [A-Za-z0-9_.-]",
        };
        write!(
            f,
            "the tool name {what}; TapPass accepts 1 to {MAX_TOOL_NAME_LEN} characters of [A-Za-z0-9_.-], not `.` or `..`"
        )
    }
}

/// Checks a tool name against the rules of `/v1/govern` (`docs/protocol.md`).
pub(crate) fn check_tool_name(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        Err(NameProblem::Empty)
    } else if name.len() > MAX_TOOL_NAME_LEN {
        Err(NameProblem::TooLong)
    } else if name.contains('*') {
        Err(NameProblem::Wildcard)
    } else if name.contains(':') {
        Err(NameProblem::Separator)
    } else if matches!(name, "." | "..") {
        Err(NameProblem::DotSegment)
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        Err(NameProblem::Character)
    } else {
        Ok(())
    }
}

/// Checks a required capability: see [`Needs::with_capability`].
pub(crate) fn check_capability(capability: &str) -> Result<(), String> {
    let valid = !capability.is_empty()
        && capability.len() <= MAX_CAPABILITY_LEN
        && capability.split(':').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a capability a tool can require: `:`-separated segments of [A-Za-z0-9_.-], none empty, no `*`, at most {MAX_CAPABILITY_LEN} bytes (e.g. `tool:call:send_email`)",
            shown(capability)
        ))
    }
}

/// A client- or author-given name for a message: its first 64 characters,
/// with control characters and markup escaped, so that a message never
/// carries a name as syntax.
pub(crate) fn shown(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(64));
    for c in name.chars().take(64) {
        match c {
            c if c.is_ascii_alphanumeric() || "_.-:* /".contains(c) => out.push(c),
            c => out.extend(c.escape_unicode()),
        }
    }
    if name.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_follow_the_rules_of_v1_govern() {
        for good in ["send_email", "a", "v1.search-docs", &"x".repeat(128)] {
            assert_eq!(check_tool_name(good), Ok(()), "{good}");
        }
        let bad = [
            ("", NameProblem::Empty),
            (&*"x".repeat(129), NameProblem::TooLong),
            ("*", NameProblem::Wildcard),
            ("tool:*", NameProblem::Wildcard),
            ("a:b", NameProblem::Separator),
            (".", NameProblem::DotSegment),
            ("..", NameProblem::DotSegment),
            ("a b", NameProblem::Character),
            ("<script>", NameProblem::Character),
            ("é", NameProblem::Character),
            ("a/b", NameProblem::Character),
        ];
        for (name, problem) in bad {
            assert_eq!(check_tool_name(name), Err(problem), "{name}");
        }
    }

    #[test]
    fn capabilities_are_segments_without_wildcards() {
        for good in ["tool:call:send_email", "billing", "a.b:c-d"] {
            assert_eq!(check_capability(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "tool:call:*",
            "tool::x",
            ":x",
            "x:",
            "tool call",
            "<b>x</b>",
            &"a".repeat(257),
        ] {
            assert!(check_capability(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_problem_of_the_declarations_is_reported_at_once() {
        let rules = ToolRules::new()
            .tool("ok", Needs::policy())
            .tool("a:b", Needs::policy())
            .tool("x", Needs::audit_only().with_capability("tool:*"))
            .tool("ok", Needs::approval());
        let problems = rules.check().unwrap_err();
        assert!(problems.contains("`:`"), "{problems}");
        assert!(
            problems.contains("`tool:*` is not a capability"),
            "{problems}"
        );
        assert!(problems.contains("`ok` is declared twice"), "{problems}");
        assert!(ToolRules::new().tool("a", Needs::policy()).check().is_ok());
    }

    #[test]
    fn shown_names_carry_no_syntax() {
        assert_eq!(shown("send_email"), "send_email");
        assert_eq!(shown("<b>\n"), "\\u{3c}b\\u{3e}\\u{a}");
        assert_eq!(shown(&"a".repeat(70)).chars().count(), 65);
    }
}
