//! The policy file: rules that turn matching prompts and tool calls into decisions.
//!
//! A policy is a TOML file of `[[rule]]` tables (the format is documented in
//! the crate's guide, [`crate`]). Parsing is strict and reports
//! every problem at once, each naming its rule; matching is what the chat and
//! govern handlers ask of a parsed [`Policy`].
//!
//! The files follow the stages: `read.rs` turns the TOML into the model of
//! `model.rs` (rules, matchers, actions), `detect.rs` holds the built-in
//! detectors of sensitive data, and `evaluate.rs` matches prompts and tool
//! calls against a rule and redacts what it finds.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The text of the default policy, as shipped (`src/policy/default-policy.toml`).
///
/// [`Policy::default()`] parses it; copy it as the start of your own policy file
/// (`tappass-dev --print-default-policy` prints it).
pub const DEFAULT_POLICY: &str = include_str!("default-policy.toml");

/// An ordered list of rules that decide prompts and tool calls.
///
/// Rules are evaluated in order and the first matching rule decides, except a
/// `redaction_applied` rule, which rewrites the prompt and lets evaluation go on.
/// What no rule decides is allowed. Cheap to clone.
///
/// ```
/// use tappass_dev::Policy;
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
        parse(text).map(Policy::of).map_err(|problems| PolicyError {
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
        parse(&text)
            .map(Policy::of)
            .map_err(|problems| PolicyError { file, problems })
    }

    fn of(rules: Vec<Rule>) -> Policy {
        Policy {
            rules: rules.into(),
        }
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

mod detect;
mod evaluate;
mod model;
mod read;
#[cfg(test)]
mod tests;

pub(crate) use model::{Action, Grant, Matcher, Rule, TokenGrant};
use read::parse;
