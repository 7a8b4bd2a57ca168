use regex::Regex;

use super::detect::{luhn_valid, Detector};
use super::evaluate::{find_ignore_case, redaction};
use super::model::PromptMatch;
use super::*;
use serde_json::json;
use tappass::decision::Redaction;

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
        redactions.push(redaction(&kind, start, end, &replacement));
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
    assert!(matches!(config, crate::Error::Policy(_)));
    let missing = Policy::from_file("/nonexistent/policy.toml").unwrap_err();
    assert!(missing
        .to_string()
        .contains("`/nonexistent/policy.toml`: cannot read the file"));
}

#[test]
fn a_prompt_rule_grants_a_capability_token_and_every_mistake_is_named() {
    let policy = Policy::from_toml(
        r#"
[[rule]]
name = "reader"
match.prompt_contains = "report"
decision = "allow"
capability_token.tools.read_file = { path = { type = "subpath", root = "/data" } }
capability_token.tools."*" = {}
capability_token.clearance = "privileged"
capability_token.trust_score = 80
capability_token.ttl_seconds = 60
"#,
    )
    .unwrap();
    let token = policy.rules()[0].token.as_ref().unwrap();
    assert_eq!(token.tools.len(), 2);
    assert_eq!(token.clearance, tappass::capability::Clearance::Privileged);
    assert_eq!((token.trust_score, token.ttl.as_secs()), (80, 60));

    let found = problems(
        r#"
[[rule]]
name = "bad"
match.prompt_contains = "x"
decision = "allow"
capability_token.tools.read_file = { path = { type = "teleport" } }
capability_token.tools."a:b" = {}
capability_token.clearance = "SECRET"
capability_token.trust_score = 1001
capability_token.ttl_seconds = 0
capability_token.audience = "x"

[[rule]]
name = "on_a_tool"
match.tool = "search"
decision = "allow"
capability_token.tools.search = {}

[[rule]]
name = "no_tools"
match.prompt_contains = "y"
decision = "allow"
capability_token.clearance = "INTERNAL"

[[rule]]
name = "blocks"
match.prompt_contains = "z"
decision = "policy_block"
capability_token.tools.search = {}
"#,
    );
    let all = found.join("\n");
    for expected in [
        "rule `bad`: `capability_token.tools.read_file`",
        "rule `bad`: `capability_token.tools.a:b`",
        "rule `bad`: `capability_token.clearance` is `SECRET`",
        "rule `bad`: `capability_token.trust_score` must be a whole number from 0 to 1000",
        "rule `bad`: `capability_token.ttl_seconds` must be",
        "rule `bad`: unknown key `capability_token.audience`",
        "rule `on_a_tool`: `capability_token` comes with a chat answer",
        "rule `no_tools`: `capability_token` needs `tools`",
        "rule `blocks`: `capability_token` does not apply to decision `policy_block`",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}
