//! Every constraint type, Rust's verdict beside the Python SDK's.
//!
//! Generated families whose values avoid the inputs this crate judges more
//! strictly must agree exactly; everything generated must satisfy "Rust
//! accepts only what Python accepts"; the attack tables pin each stricter
//! verdict to a case Python accepts.

use serde_json::{json, Value};
use tappass::capability::{Constraint, ConstraintSet, Regex};

use super::gen::Rng;
use super::sdk;

/// Python's verdicts: `Some(bool)`, or `None` where it raises (a refusal).
fn python_verdicts(cases: &[(Value, Vec<Value>)]) -> Vec<Result<Vec<Option<bool>>, String>> {
    let batch: Vec<Value> = cases
        .iter()
        .map(|(c, values)| json!({"constraint": c, "values": values}))
        .collect();
    sdk::run("satisfies", &batch)
        .into_iter()
        .map(|r| match r.get("invalid") {
            Some(why) => Err(why.to_string()),
            None => Ok(r["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(Value::as_bool)
                .collect()),
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// The same verdict on every value.
    Same,
    /// Never accepted in Rust when refused in Python.
    NoWider,
}

/// Compares Rust and Python on every (constraint, value); returns how many
/// verdicts were compared.
fn compare(family: &str, cases: &[(Value, Vec<Value>)], expect: Expect) -> usize {
    let mut compared = 0;
    for ((dict, values), python) in cases.iter().zip(python_verdicts(cases)) {
        let rust = Constraint::from_dict(dict);
        let python = match python {
            Err(why) => {
                assert!(
                    rust.is_err(),
                    "{family}: Python refuses {dict} ({why}), Rust builds it"
                );
                continue;
            }
            Ok(p) => p,
        };
        let rust = rust.unwrap_or_else(|e| panic!("{family}: Rust refuses {dict}: {e}"));
        for (value, py) in values.iter().zip(python) {
            let r = rust.satisfies(value);
            let p = py.unwrap_or(false);
            compared += 1;
            match expect {
                Expect::Same => {
                    assert_eq!(r, p, "{family}: {dict} on {value}: Rust {r}, Python {p}")
                }
                Expect::NoWider => assert!(
                    !r || p,
                    "{family}: {dict} on {value}: Rust accepts what Python refuses"
                ),
            }
        }
    }
    compared
}

/// A table row: the constraint, the value, Python's verdict, Rust's.
type Row = (Value, Value, bool, bool);

fn table(family: &str, rows: &[Row]) {
    let cases: Vec<(Value, Vec<Value>)> = rows
        .iter()
        .map(|(c, v, _, _)| (c.clone(), vec![v.clone()]))
        .collect();
    for ((c, v, py, rs), got) in rows.iter().zip(python_verdicts(&cases)) {
        let got_py =
            got.unwrap_or_else(|e| panic!("{family}: Python refuses {c}: {e}"))[0].unwrap_or(false);
        assert_eq!(got_py, *py, "{family}: Python on {c} / {v}");
        let got_rs = Constraint::from_dict(c).unwrap().satisfies(v);
        assert_eq!(got_rs, *rs, "{family}: Rust on {c} / {v}");
    }
}

fn scalars() -> Vec<Value> {
    let mut v = super::gen::awkward_values();
    v.extend([
        json!("1.0"),
        json!("True"),
        json!("None"),
        json!("1e+16"),
        json!("5"),
    ]);
    v
}

#[test]
fn exact_one_of_and_not_one_of_agree_with_python_on_scalars() {
    let targets = [
        "1.0",
        "True",
        "None",
        "1e+16",
        "é",
        "5",
        "plain",
        "0.1",
        "18446744073709551615",
        "-0.0",
        "1.5e-07",
    ];
    let mut cases = Vec::new();
    for t in targets {
        cases.push((json!({"type": "exact", "value": t}), scalars()));
    }
    cases.push((json!({"type": "one_of", "values": targets}), scalars()));
    cases.push((json!({"type": "not_one_of", "values": targets}), scalars()));
    cases.push((json!({"type": "one_of", "values": []}), scalars()));
    assert!(compare("exact", &cases, Expect::Same) > 300);
}

#[test]
fn pattern_agrees_with_fnmatch() {
    let mut rng = Rng::new(10);
    let glob_alphabet = ["a", "b", "*", "?", "[", "]", "!", "-", "^", "\\", ".", "z"];
    let text_alphabet = [
        "a", "b", "-", "[", "]", "!", "*", "?", "\\", ".", "\n", "z", "é",
    ];
    let cases: Vec<(Value, Vec<Value>)> = (0..400)
        .map(|_| {
            let glob = rng.string(&glob_alphabet, 8);
            let mut values: Vec<Value> = (0..25)
                .map(|_| json!(rng.string(&text_alphabet, 8)))
                .collect();
            values.push(json!(glob.clone()));
            (json!({"type": "pattern", "glob": glob}), values)
        })
        .collect();
    assert!(compare("pattern", &cases, Expect::Same) > 10_000);
}

#[test]
fn range_agrees_with_python_float_except_nan() {
    let texts = [
        "5",
        " 5 ",
        "\t-2.5\n",
        "1_000",
        "1_0.5_0",
        "1e1_0",
        "5.",
        ".5",
        "+1E+2",
        "1e400",
        "-Infinity",
        "iNf",
        "infinity",
        "",
        " ",
        "_1",
        "1_",
        "1__0",
        "1_.5",
        "0x10",
        "1e",
        "e5",
        ".",
        "1.2.3",
        "--1",
        "in f",
        "5 5",
        "12abc",
        "0",
        "-0",
        "10",
        "10.0000001",
        "1e-400",
        "\u{1c}7\u{1f}",
        "\u{b}7\u{c}",
    ];
    let mut values: Vec<Value> = texts.iter().map(|t| json!(t)).collect();
    values.extend([
        json!(0),
        json!(10),
        json!(-3),
        json!(2.5),
        json!(1e300),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(true),
        json!(false),
        json!(null),
        json!(9007199254740993_i64),
    ]);
    let bounds = [
        json!(0),
        json!(10),
        json!(-3),
        json!(0.5),
        json!(9.999),
        json!(9007199254740992_i64),
        json!(1e300),
        json!(-1e-9),
    ];
    let mut cases = Vec::new();
    for min in &bounds {
        for max in &bounds {
            cases.push((
                json!({"type": "range", "min": min, "max": max}),
                values.clone(),
            ));
        }
        cases.push((json!({"type": "range", "min": min}), values.clone()));
        cases.push((json!({"type": "range", "max": min}), values.clone()));
    }
    assert!(compare("range", &cases, Expect::Same) > 3000);
    // NaN passes every range in Python; here it passes none.
    table(
        "range",
        &[
            (
                json!({"type": "range", "min": 0, "max": 10}),
                json!("nan"),
                true,
                false,
            ),
            (
                json!({"type": "range", "max": 10}),
                json!("-NaN"),
                true,
                false,
            ),
        ],
    );
}

#[test]
fn subpath_agrees_with_python_without_dot_dot() {
    let mut rng = Rng::new(11);
    let segments = [
        "a", "b", ".", "", "A", "x.y", "...", "a b", "data", "DATA", "d",
    ];
    let roots = [
        "/data",
        "/data/a",
        "//data",
        "/",
        "/data/./a/",
        "/DATA",
        "data",
        "///data",
    ];
    let mut cases = Vec::new();
    for root in roots {
        for case_sensitive in [true, false] {
            let values: Vec<Value> = (0..60)
                .map(|_| {
                    let lead = *rng.pick(&["/", "//", "///", "", "/data/", "/DATA/"]);
                    let n = rng.below(5);
                    let body: Vec<&str> = (0..n).map(|_| *rng.pick(&segments)).collect();
                    json!(format!("{lead}{}", body.join("/")))
                })
                .collect();
            let mut dict = json!({"type": "subpath", "root": root});
            if !case_sensitive {
                dict["case_sensitive"] = json!(false);
            }
            cases.push((dict, values));
        }
    }
    assert!(compare("subpath", &cases, Expect::Same) > 800);
}

#[test]
fn subpath_traversal_table() {
    let data = json!({"type": "subpath", "root": "/data"});
    let folded = json!({"type": "subpath", "root": "/dätä", "case_sensitive": false});
    table(
        "subpath",
        &[
            (data.clone(), json!("/data/reports/q3.pdf"), true, true),
            (data.clone(), json!("/data"), true, true),
            (data.clone(), json!("/data/../etc/passwd"), false, false),
            (data.clone(), json!("/data/./../data2/x"), false, false),
            (data.clone(), json!("/database"), false, false),
            (data.clone(), json!("data/x"), false, false),
            (data.clone(), json!("/data/x\u{0}.txt"), false, false),
            // Python normalises these to inside the root; a symlink or a later
            // decoding can make them leave it.
            (data.clone(), json!("/data/a/../b"), true, false),
            (data.clone(), json!("/data/link/../../etc"), false, false),
            (data.clone(), json!("/data/%2e%2e/etc/passwd"), true, false),
            (data.clone(), json!("/data/%2E%2E%2Fetc"), true, false),
            (data.clone(), json!("/data/..%2f..%2fetc"), true, false),
            (
                data.clone(),
                json!("/data/..\\..\\etc\\passwd"),
                true,
                false,
            ),
            (data.clone(), json!("/data/x\ny"), true, false),
            (folded.clone(), json!("/DÄTÄ/x"), true, false),
            (folded, json!("/dätä/x"), true, true),
            (
                json!({"type": "subpath", "root": "/data", "case_sensitive": false}),
                json!("/DATA/x"),
                true,
                true,
            ),
        ],
    );
}

fn plain_urls(rng: &mut Rng) -> Vec<Value> {
    let schemes = ["http", "https", "HTTPS", "ftp", "file", ""];
    let hosts = [
        "example.com",
        "api.example.com",
        "EXAMPLE.com",
        "sub.api.example.com",
        "8.8.8.8",
        "10.1.2.3",
        "127.0.0.1",
        "169.254.169.254",
        "192.168.0.10",
        "[::1]",
        "[2606:4700::1111]",
        "[fe80::1]",
        "[fc00::1]",
        "[::ffff:10.0.0.1]",
        "[::ffff:8.8.8.8]",
        "localhost",
        "0.0.0.0",
        "metadata.google.internal",
        "user@example.com",
        "user:pw@10.0.0.1",
        "",
        "evil.example.org",
        "example.com:8080",
        "[::1]:80",
    ];
    let paths = ["/", "/repos", "", "/a/b?q=1", "#frag", "/x;p"];
    (0..40)
        .map(|_| {
            let scheme = *rng.pick(&schemes);
            let sep = if scheme.is_empty() { "//" } else { "://" };
            json!(format!(
                "{scheme}{sep}{}{}",
                rng.pick(&hosts),
                rng.pick(&paths)
            ))
        })
        .collect()
}

#[test]
fn url_safe_agrees_with_python_on_plain_urls() {
    let mut rng = Rng::new(12);
    let configs = [
        json!({"type": "url_safe"}),
        json!({"type": "url_safe", "block_private": false}),
        json!({"type": "url_safe", "block_loopback": false, "block_private": false}),
        json!({"type": "url_safe", "block_metadata": false, "block_private": false, "block_loopback": false}),
        json!({"type": "url_safe", "allow_domains": ["*.example.com"]}),
        json!({"type": "url_safe", "allow_domains": ["example.com", "evil.example.org"]}),
        json!({"type": "url_safe", "allow_schemes": ["https", "ftp"]}),
    ];
    let cases: Vec<(Value, Vec<Value>)> = configs
        .iter()
        .flat_map(|c| {
            (0..5)
                .map(|_| (c.clone(), plain_urls(&mut rng)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(compare("url_safe", &cases, Expect::Same) > 1000);
}

#[test]
fn url_safe_never_accepts_what_python_refuses() {
    let mut rng = Rng::new(13);
    let alphabet = [
        "http",
        "https",
        ":",
        "/",
        "//",
        "@",
        "[",
        "]",
        ".",
        "%",
        "2e",
        "31",
        "7f",
        "0x",
        "0",
        "1",
        "127",
        "::",
        "ffff",
        "localhost",
        "example.com",
        "\\",
        "#",
        "?",
        " ",
        "\t",
        "é",
        "１",
        "a",
        "169.254",
        "10",
        "-",
    ];
    let values: Vec<Value> = (0..600).map(|_| json!(rng.string(&alphabet, 10))).collect();
    let cases: Vec<(Value, Vec<Value>)> = [
        json!({"type": "url_safe"}),
        json!({"type": "url_safe", "block_private": false, "block_loopback": false, "block_metadata": false}),
        json!({"type": "url_safe", "allow_domains": ["*.example.com"]}),
    ]
    .into_iter()
    .map(|c| (c, values.clone()))
    .collect();
    compare("url_safe fuzz", &cases, Expect::NoWider);
}

#[test]
fn url_safe_ssrf_table() {
    let safe = json!({"type": "url_safe"});
    let row = |url: &str, python: bool, rust: bool| (safe.clone(), json!(url), python, rust);
    table(
        "url_safe",
        &[
            row("https://api.github.com/repos", true, true),
            row("http://127.0.0.1/", false, false),
            row("http://169.254.169.254/latest/meta-data/", false, false),
            row("http://[::1]/", false, false),
            row("http://[::ffff:127.0.0.1]/", false, false),
            row("http://%31%32%37.0.0.1/", false, false),
            row("file:///etc/passwd", false, false),
            row("http://localhost/", false, false),
            row("http://evil.com@127.0.0.1/", false, false),
            row("http://[fe80::1%25eth0]/", false, false),
            // An address in another spelling: Python reads a domain name,
            // every HTTP client connects to 127.0.0.1.
            row("http://2130706433/", true, false),
            row("http://0x7f.0.0.1/", true, false),
            row("http://0177.0.0.1/", true, false),
            row("http://127.1/", true, false),
            row("http://0/", true, false),
            row("http://１２７.０.０.１/", true, false),
            // Names that resolve locally.
            row("http://localhost./", true, false),
            row("http://app.localhost/", true, false),
            row("http://metadata.google.internal./", true, false),
            // IPv4 inside IPv6, and ranges Python does not call private.
            row("http://[64:ff9b::7f00:1]/", true, false),
            row("http://[2002:7f00:1::]/", true, false),
            row("http://[::127.0.0.1]/", true, false),
            row("http://100.64.0.1/", true, false),
            row("http://224.0.0.1/", true, false),
            // Two parsers, two hosts: Python sees evil.com, clients see 127.0.0.1.
            row("http://127.0.0.1\\@evil.com/", true, false),
            row("http://example.com:99999/", true, false),
            row("http://exa mple.com/", true, false),
        ],
    );
}

#[test]
fn shlex_agrees_with_python_on_plain_commands() {
    let mut rng = Rng::new(14);
    let words = [
        "ls",
        "cat",
        "rm",
        "-la",
        "'a b'",
        "\"x y\"",
        "a\\ b",
        "*",
        "?",
        "[ab]",
        ";",
        "&&",
        "||",
        "|",
        ">",
        "<",
        "$HOME",
        "`id`",
        "'open",
        "\"open",
        "\\",
        "''",
        "#",
        "-rf",
        "/tmp",
        "é",
        "\"a\\\"b\"",
        "ls;",
        "cat'x'",
    ];
    let values: Vec<Value> = (0..500)
        .map(|_| {
            let n = 1 + rng.below(4);
            json!((0..n)
                .map(|_| *rng.pick(&words))
                .collect::<Vec<_>>()
                .join(" "))
        })
        .collect();
    let cases: Vec<(Value, Vec<Value>)> = [
        json!({"type": "shlex", "allow": ["ls", "cat"]}),
        json!({"type": "shlex", "allow": ["ls"], "block_globs": true}),
        json!({"type": "shlex", "allow": ["cat", "rm", "é"]}),
    ]
    .into_iter()
    .map(|c| (c, values.clone()))
    .collect();
    assert!(compare("shlex", &cases, Expect::Same) > 1000);
}

#[test]
fn shlex_metacharacter_table() {
    let ls = json!({"type": "shlex", "allow": ["ls", "cat"]});
    let row = |cmd: &str, python: bool, rust: bool| (ls.clone(), json!(cmd), python, rust);
    table(
        "shlex",
        &[
            row("ls -la /tmp", true, true),
            row("cat 'file (1).txt'", true, true),
            row("ls; rm -rf /", false, false),
            row("ls && rm -rf /", false, false),
            row("ls || rm -rf /", false, false),
            row("ls | sh", false, false),
            row("ls > /etc/passwd", false, false),
            row("ls < /etc/shadow", false, false),
            row("ls $(id)", false, false),
            row("ls `id`", false, false),
            row("ls ${HOME}", false, false),
            row("ls $HOME", false, false),
            row("ls\nrm -rf /", false, false),
            row("ls\rrm -rf /", false, false),
            row("rm -rf /", false, false),
            row("ls 'unterminated", false, false),
            // A lone `&` runs the rest in the background.
            row("ls & rm -rf /", true, false),
            row("ls &", true, false),
            // Another program under an allowed name.
            row("/tmp/evil/ls", true, false),
            row("./ls -la", true, false),
            row("ls a\u{0}b", true, false),
        ],
    );
}

#[test]
fn cidr_agrees_with_ipaddress() {
    let networks = [
        "10.0.0.0/8",
        "10.1.2.3/8",
        "192.168.0.0/255.255.0.0",
        "10.0.0.0/0.255.255.255",
        "0.0.0.0/0",
        "8.8.8.8",
        "2001:db8::/32",
        "::/0",
        "fe80::/10",
        "::ffff:0:0/96",
        "10.0.0.0/33",
        "10.0.0.0/255.0.255.0",
        "2001:db8::/ffff::",
        "not a network",
        "10.0.0.0/8/8",
        "1.2.3.4/",
        "fe80::%eth0/64",
    ];
    let addresses = [
        "10.0.0.1",
        "10.255.255.255",
        "11.0.0.0",
        "192.168.4.4",
        "8.8.8.8",
        "010.0.0.1",
        "10.0.0",
        "10.0.0.256",
        "2001:db8::1",
        "2001:db9::1",
        "::ffff:10.0.0.1",
        "::1",
        "fe80::1%eth0",
        "fe80::1%",
        "1:2:3:4:5:6:7::",
        "::1:2:3:4:5:6:7",
        "1::2::3",
        "12345::",
        "",
        " 10.0.0.1",
        "١٠.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
    ];
    let mut values: Vec<Value> = addresses.iter().map(|a| json!(a)).collect();
    values.extend([json!(167772161), json!(null), json!(true)]);
    let cases: Vec<(Value, Vec<Value>)> = networks
        .iter()
        .map(|n| (json!({"type": "cidr", "network": n}), values.clone()))
        .collect();
    assert!(compare("cidr", &cases, Expect::Same) > 250);
}

#[test]
fn url_pattern_agrees_on_plain_urls_and_never_accepts_more() {
    let mut rng = Rng::new(15);
    let patterns = [
        "https://api.example.com/v1/*",
        "https://*.example.com/*",
        "*://api.example.com/*",
        "https://api.example.com:8443/*",
        "https://api.example.com",
        "//api.example.com/v?/*",
        "https://*/*",
    ];
    let values: Vec<Value> = (0..80)
        .map(|_| {
            let scheme = *rng.pick(&["https", "http", "ftp"]);
            let host = *rng.pick(&[
                "api.example.com",
                "API.EXAMPLE.COM",
                "x.example.com",
                "example.com",
                "evil.com",
                "api.example.com:8443",
                "api.example.com:443",
            ]);
            let path = *rng.pick(&[
                "/v1/users",
                "/v2/x",
                "",
                "/",
                "/v1/",
                "/v1/a?b=c",
                "/v1/x#y",
            ]);
            json!(format!("{scheme}://{host}{path}"))
        })
        .collect();
    let cases: Vec<(Value, Vec<Value>)> = patterns
        .iter()
        .map(|p| (json!({"type": "url_pattern", "pattern": p}), values.clone()))
        .collect();
    assert!(compare("url_pattern", &cases, Expect::Same) > 500);

    let api = json!({"type": "url_pattern", "pattern": "https://api.example.com/v1/*"});
    let row = |url: &str, python: bool, rust: bool| (api.clone(), json!(url), python, rust);
    table(
        "url_pattern",
        &[
            row("https://api.example.com/v1/users", true, true),
            row("https://api.example.com/v2/users", false, false),
            row("https://api.example.com.evil.com/v1/x", false, false),
            row("https://api.example.com/v1/../admin", true, false),
            row("https://api.example.com/v1/%2e%2e/admin", true, false),
            row("https://evil.com\\@api.example.com/v1/x", true, false),
            // Python reads the port only when the pattern names one.
            row("https://api.example.com:abc/v1/x", true, false),
        ],
    );
}

#[test]
fn regex_agrees_with_re_fullmatch_where_it_translates() {
    let mut rng = Rng::new(16);
    let atoms = [
        "a", "b", ".", "\\d", "\\w", "\\s", "[ab]", "[^a]", "[a-c]", "\\.", "(a|b)", "(?:ab)",
        "\\b", "x", "[\\d-]", "^", "$", "\\Z", "\\A", "{", "}", "[]a]", "\\x41", "(", "|",
    ];
    let quantifiers = [
        "", "", "", "", "*", "+", "?", "{2}", "{1,3}", "{,2}", "*?", "**",
    ];
    let text = ["a", "b", "c", "1", "_", " ", ".", "\n", "A", "x", "-", "]"];
    let mut cases = Vec::new();
    for _ in 0..400 {
        let n = 1 + rng.below(4);
        let pattern: String = (0..n)
            .map(|_| format!("{}{}", rng.pick(&atoms), rng.pick(&quantifiers)))
            .collect();
        let values: Vec<Value> = (0..30).map(|_| json!(rng.string(&text, 6))).collect();
        cases.push((pattern, values));
    }
    let batch: Vec<Value> = cases
        .iter()
        .map(|(p, v)| json!({"pattern": p, "values": v}))
        .collect();
    let (mut translated, mut refused_as_python, mut unsupported) = (0, 0, 0);
    for ((pattern, values), r) in cases.iter().zip(sdk::run("regex", &batch)) {
        let rust = Regex::new(pattern.as_str());
        match (r.get("invalid"), rust) {
            (Some(_), Err(_)) => refused_as_python += 1,
            (Some(why), Ok(_)) => panic!("{pattern:?}: Python refuses ({why}), Rust accepts"),
            (None, Err(e)) => {
                assert!(
                    e.to_string().contains("outside what can be matched"),
                    "{pattern:?}: {e}"
                );
                unsupported += 1;
            }
            (None, Ok(regex)) => {
                translated += 1;
                let c = Constraint::Regex(regex);
                for (v, py) in values.iter().zip(r["results"].as_array().unwrap()) {
                    assert_eq!(c.satisfies(v), py.as_bool().unwrap(), "{pattern:?} on {v}");
                }
            }
        }
    }
    assert!(
        translated > 120,
        "{translated} translated, {refused_as_python} invalid, {unsupported} unsupported"
    );
}

#[test]
fn regex_whitespace_is_pythons_set_and_unicode_classes_refuse_non_ascii() {
    let space: Vec<u32> = sdk::one("classes", json!({}))["space"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap() as u32)
        .collect();
    let s = Constraint::Regex(Regex::new(r"\s").unwrap());
    for c in (0..0x11_0000u32).filter_map(char::from_u32) {
        assert_eq!(
            s.satisfies(&json!(c.to_string())),
            space.contains(&(c as u32)),
            "U+{:04X}",
            c as u32
        );
    }
    // \d and \w follow the Unicode tables of the Python that runs: ASCII
    // values are judged, others refused.
    table(
        "regex",
        &[
            (
                json!({"type": "regex", "pattern": r"\d+"}),
                json!("123"),
                true,
                true,
            ),
            (
                json!({"type": "regex", "pattern": r"\d+"}),
                json!("١٢٣"),
                true,
                false,
            ),
            (
                json!({"type": "regex", "pattern": r"\w+"}),
                json!("héllo"),
                true,
                false,
            ),
            (
                json!({"type": "regex", "pattern": r"[a-zé]+"}),
                json!("héllo"),
                true,
                true,
            ),
        ],
    );
}

#[test]
fn regex_without_a_faithful_translation_makes_the_constraint_invalid() {
    for pattern in [
        r"(a)\1",
        "(?=a)a",
        "(?i)a",
        "a*+",
        "(?>a)",
        r"\N{DIGIT ONE}",
    ] {
        let r = sdk::one("regex", json!({"pattern": pattern, "values": []}));
        assert!(r.get("invalid").is_none(), "Python accepts {pattern:?}");
        assert!(Regex::new(pattern).is_err(), "{pattern:?}");
    }
}

#[test]
fn cel_is_denied_as_python_denies_without_celpy() {
    let values = vec![json!(5), json!({"amount": 5}), json!("x"), json!(true)];
    let cases = vec![
        (json!({"type": "cel", "expression": "true"}), values.clone()),
        (
            json!({"type": "cel", "expression": "value < 10"}),
            values.clone(),
        ),
        (json!({"type": "cel", "expression": "amount > 0"}), values),
    ];
    assert_eq!(compare("cel", &cases, Expect::Same), 12);
    for (c, _) in &cases {
        assert!(!Constraint::from_dict(c).unwrap().satisfies(&json!(1)));
    }
}

#[test]
fn list_and_object_arguments_satisfy_only_wildcard() {
    let list = json!(["/data/x"]);
    table(
        "containers",
        &[
            (
                json!({"type": "not_one_of", "values": ["a"]}),
                list.clone(),
                true,
                false,
            ),
            (
                json!({"type": "pattern", "glob": "*"}),
                list.clone(),
                true,
                false,
            ),
            (json!({"type": "wildcard"}), list.clone(), true, true),
            (
                json!({"type": "exact", "value": "['/data/x']"}),
                list,
                true,
                false,
            ),
        ],
    );
}

#[test]
fn unknown_constraint_types_are_refused_as_python_refuses_them() {
    let r = sdk::one(
        "satisfies",
        json!({"constraint": {"type": "glob", "glob": "*"}, "values": []}),
    );
    assert!(r["invalid"]
        .as_str()
        .unwrap()
        .contains("Unknown constraint type"));
    let err = Constraint::from_dict(&json!({"type": "glob", "glob": "*"})).unwrap_err();
    assert!(err.to_string().contains("unknown constraint type"), "{err}");
}

/// `(parent, child, Python's contains, Rust's)`.
fn contains_table(rows: &[(Value, Value, bool, bool)]) {
    let batch: Vec<Value> = rows
        .iter()
        .map(|(p, c, _, _)| json!({"parent": p, "child": c}))
        .collect();
    for ((p, c, py, rs), r) in rows.iter().zip(sdk::run("contains", &batch)) {
        assert_eq!(r["contains"], *py, "Python: {p} contains {c}");
        let parent = Constraint::from_dict(p).unwrap();
        let child = Constraint::from_dict(c).unwrap();
        assert_eq!(parent.contains(&child), *rs, "Rust: {p} contains {c}");
    }
}

#[test]
fn attenuation_refuses_pythons_unsound_containments() {
    let pat = |g: &str| json!({"type": "pattern", "glob": g});
    contains_table(&[
        (pat("/data/*"), pat("/data/reports/*"), true, true),
        (pat("*@company.com"), pat("*@company.com"), true, true),
        (pat("*.txt"), pat("*/x.txt"), true, true),
        // Python: a subdomain is narrower. It is not: "x@sub.company.com"
        // does not end with "@company.com".
        (pat("*@company.com"), pat("*@sub.company.com"), true, false),
        // Python matches the child's text against the parent: "a*" is one
        // character after "a" only as text.
        (pat("a?"), pat("a*"), true, false),
        (
            json!({"type": "subpath", "root": "/data"}),
            json!({"type": "subpath", "root": "/data/x", "case_sensitive": false}),
            true,
            false,
        ),
        (
            json!({"type": "shlex", "allow": ["ls"], "block_globs": true}),
            json!({"type": "shlex", "allow": ["ls"]}),
            true,
            false,
        ),
        (
            json!({"type": "range", "min": 0, "max": 10}),
            json!({"type": "range", "min": 1, "max": 9.5}),
            true,
            true,
        ),
        (
            json!({"type": "range", "min": 0}),
            json!({"type": "range", "max": 9}),
            false,
            false,
        ),
        (
            json!({"type": "one_of", "values": ["a", "b"]}),
            json!({"type": "exact", "value": "a"}),
            true,
            true,
        ),
        (
            json!({"type": "cidr", "network": "10.0.0.0/8"}),
            json!({"type": "cidr", "network": "10.1.0.0/16"}),
            true,
            true,
        ),
        (
            json!({"type": "cidr", "network": "10.0.0.0/16"}),
            json!({"type": "cidr", "network": "10.0.0.0/8"}),
            false,
            false,
        ),
    ]);
    // The unsound ones, shown on a value.
    let parent = Constraint::from_dict(&pat("*@company.com")).unwrap();
    let child = Constraint::from_dict(&pat("*@sub.company.com")).unwrap();
    assert!(
        child.satisfies(&json!("x@sub.company.com"))
            && !parent.satisfies(&json!("x@sub.company.com"))
    );
}

#[test]
fn constraint_set_attenuation_respects_the_closed_world() {
    let rows = [
        // A child that opens the closed world: Python calls it narrower.
        (
            json!({"path": {"type": "wildcard"}}),
            json!({}),
            true,
            false,
        ),
        (
            json!({"path": {"type": "subpath", "root": "/data"}}),
            json!({"path": {"type": "subpath", "root": "/data"}, "_allow_unknown": true}),
            true,
            false,
        ),
        (
            json!({"path": {"type": "subpath", "root": "/data"}}),
            json!({"path": {"type": "subpath", "root": "/data/x"}, "mode": {"type": "exact", "value": "r"}}),
            true,
            false,
        ),
        (
            json!({"path": {"type": "subpath", "root": "/data"}}),
            json!({"path": {"type": "subpath", "root": "/data/x"}}),
            true,
            true,
        ),
        (
            json!({"a": {"type": "wildcard"}, "b": {"type": "exact", "value": "x"}}),
            json!({"b": {"type": "exact", "value": "x"}}),
            true,
            true,
        ),
        (
            json!({}),
            json!({"x": {"type": "exact", "value": "1"}}),
            true,
            true,
        ),
    ];
    let batch: Vec<Value> = rows
        .iter()
        .map(|(p, c, _, _)| json!({"parent": p, "child": c}))
        .collect();
    for ((p, c, py, rs), r) in rows.iter().zip(sdk::run("set_contains", &batch)) {
        assert_eq!(r["contains"], *py, "Python: {p} contains {c}");
        let parent = ConstraintSet::from_dict(p).unwrap();
        let child = ConstraintSet::from_dict(c).unwrap();
        assert_eq!(parent.contains(&child), *rs, "Rust: {p} contains {c}");
    }
}

#[test]
fn attenuation_is_sound_on_generated_pairs() {
    let mut rng = Rng::new(17);
    let globs = [
        "*", "a*", "ab*", "*b", "*ab", "a?b", "[ab]*", "a*b", "abc", "*.txt", "x*",
    ];
    let texts = [
        "", "a", "ab", "abc", "b", "ba", "a.txt", "x", "axb", "aab", "abab",
    ];
    let roots = ["/", "/a", "/a/b", "/b", "//a"];
    let paths = ["/", "/a", "/a/b", "/a/b/c", "/b", "/ab", "//a/b", "/A/b"];
    let mut pairs: Vec<(Value, Value, Vec<Value>)> = Vec::new();
    for _ in 0..300 {
        let (p, c, values) = match rng.below(4) {
            0 => (
                json!({"type": "pattern", "glob": rng.pick(&globs)}),
                json!({"type": "pattern", "glob": rng.pick(&globs)}),
                texts.iter().map(|t| json!(t)).collect(),
            ),
            1 => {
                let b = |rng: &mut Rng| json!(rng.below(10));
                (
                    json!({"type": "range", "min": b(&mut rng), "max": b(&mut rng)}),
                    json!({"type": "range", "min": b(&mut rng), "max": b(&mut rng)}),
                    (0..12).map(|i| json!(i as f64 - 0.5)).collect(),
                )
            }
            2 => {
                let cs = |rng: &mut Rng| rng.chance(50);
                let mut p = json!({"type": "subpath", "root": rng.pick(&roots)});
                let mut c = json!({"type": "subpath", "root": rng.pick(&roots)});
                if !cs(&mut rng) {
                    p["case_sensitive"] = json!(false);
                }
                if !cs(&mut rng) {
                    c["case_sensitive"] = json!(false);
                }
                (p, c, paths.iter().map(|t| json!(t)).collect())
            }
            _ => {
                let set = |rng: &mut Rng| -> Vec<&str> {
                    ["a", "b", "c"]
                        .into_iter()
                        .filter(|_| rng.chance(50))
                        .collect()
                };
                let ty = *rng.pick(&["one_of", "not_one_of"]);
                (
                    json!({"type": ty, "values": set(&mut rng)}),
                    json!({"type": ty, "values": set(&mut rng)}),
                    ["a", "b", "c", "d"].iter().map(|t| json!(t)).collect(),
                )
            }
        };
        pairs.push((p, c, values));
    }
    let mut contained = 0;
    for (p, c, values) in &pairs {
        let parent = Constraint::from_dict(p).unwrap();
        let child = Constraint::from_dict(c).unwrap();
        if parent.contains(&child) {
            contained += 1;
            for v in values {
                assert!(
                    !child.satisfies(v) || parent.satisfies(v),
                    "{p} contains {c}, yet {v} passes only the child"
                );
            }
        }
    }
    assert!(contained > 50, "{contained}");
}
