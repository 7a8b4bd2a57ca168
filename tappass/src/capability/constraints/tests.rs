use proptest::prelude::*;
use serde_json::json;

use super::*;

fn c(dict: serde_json::Value) -> Constraint {
    Constraint::from_dict(&dict).unwrap()
}

#[test]
fn the_python_docstring_examples_hold() {
    let data = c(json!({"type": "subpath", "root": "/data"}));
    assert!(data.satisfies(&json!("/data/reports/q3.pdf")));
    assert!(!data.satisfies(&json!("/data/../etc/passwd")));
    assert!(!data.satisfies(&json!("/etc/passwd")));
    let url = Constraint::from(UrlSafe::new());
    assert!(url.satisfies(&json!("https://api.github.com")));
    assert!(!url.satisfies(&json!("http://169.254.169.254")));
    assert!(!url.satisfies(&json!("http://127.0.0.1/")));
    let sh = Constraint::from(Shlex::new(["ls", "cat"]).unwrap());
    assert!(sh.satisfies(&json!("ls -la /tmp")));
    assert!(!sh.satisfies(&json!("ls; rm -rf /")));
    assert!(!sh.satisfies(&json!("rm -rf /")));
    assert!(
        c(json!({"type": "pattern", "glob": "*@company.com"})).satisfies(&json!("a@company.com"))
    );
}

#[test]
fn the_dictionary_form_is_the_sdks_to_dict() {
    let cases = [
        json!({"type": "wildcard"}),
        json!({"type": "exact", "value": "x"}),
        json!({"type": "pattern", "glob": "*.txt"}),
        json!({"type": "range", "min": 0, "max": 10.5}),
        json!({"type": "range"}),
        json!({"type": "one_of", "values": ["a", "b"]}),
        json!({"type": "not_one_of", "values": ["root"]}),
        json!({"type": "subpath", "root": "/data"}),
        json!({"type": "subpath", "root": "/data", "case_sensitive": false}),
        json!({"type": "url_safe", "block_private": true, "block_loopback": true, "block_metadata": true}),
        json!({"type": "url_safe", "allow_schemes": ["https"], "allow_domains": ["*.x.com"], "block_private": false, "block_loopback": true, "block_metadata": true}),
        json!({"type": "shlex", "allow": ["cat", "ls"]}),
        json!({"type": "shlex", "allow": ["ls"], "block_globs": true}),
        json!({"type": "cidr", "network": "10.0.0.0/8"}),
        json!({"type": "url_pattern", "pattern": "https://*.x.com/*"}),
        json!({"type": "regex", "pattern": "[a-z]+"}),
        json!({"type": "cel", "expression": "x > 1"}),
    ];
    for dict in cases {
        assert_eq!(c(dict.clone()).to_dict(), dict);
    }
    // Defaults are written out, lists sorted, as Python writes them.
    assert_eq!(
        c(json!({"type": "url_safe"})).to_dict(),
        json!({"type": "url_safe", "block_private": true, "block_loopback": true, "block_metadata": true})
    );
    assert_eq!(
        c(json!({"type": "one_of", "values": ["b", "a"]})).to_dict(),
        json!({"type": "one_of", "values": ["a", "b"]})
    );
    let set = ConstraintSet::from_dict(&json!({"p": {"type": "wildcard"}, "_allow_unknown": true}))
        .unwrap();
    assert!(set.allows_unknown());
    assert_eq!(
        set.to_dict(),
        json!({"p": {"type": "wildcard"}, "_allow_unknown": true})
    );
}

#[test]
fn the_dictionary_form_is_read_strictly() {
    for bad in [
        json!({"type": "exact", "value": 5}),
        json!({"type": "exact"}),
        json!({"type": "exact", "value": "x", "extra": 1}),
        json!({"type": "one_of", "values": [1, 2]}),
        json!({"type": "range", "min": "0"}),
        json!({"type": "subpath", "root": "data"}),
        json!({"type": "subpath", "root": "/data", "case_sensitive": 0}),
        json!({"type": "shlex", "allow": []}),
        json!({"type": "cidr", "network": "10.0.0.0/33"}),
        json!({"type": "regex", "pattern": "("}),
        json!({"type": "regex", "pattern": "(?i)a"}),
        json!({"type": "nope"}),
        json!({"value": "x"}),
        json!("exact"),
    ] {
        assert!(Constraint::from_dict(&bad).is_err(), "{bad}");
    }
    assert!(ConstraintSet::from_dict(&json!({"p": "not a constraint"})).is_err());
    assert!(ConstraintSet::from_dict(&json!({"_allow_unknown": 1})).is_err());
    assert!(Range::new(Some(Number::Float(f64::NAN)), None).is_err());
}

#[test]
fn the_closed_world_refuses_unknown_arguments() {
    let set = ConstraintSet::new().with("path", Subpath::new("/data").unwrap());
    let args = |v: serde_json::Value| v.as_object().unwrap().clone();
    assert!(set.matches(&args(json!({"path": "/data/x"}))));
    assert!(
        set.matches(&args(json!({}))),
        "a missing argument is the tool's business"
    );
    assert_eq!(
        set.check(&args(json!({"path": "/data/x", "mode": "w"}))),
        Err(ArgFailure::Unknown("mode".into()))
    );
    assert!(set
        .clone()
        .allow_unknown(true)
        .matches(&args(json!({"path": "/data/x", "mode": "w"}))));
    assert!(ConstraintSet::new().matches(&args(json!({"anything": [1, 2]}))));
    assert_eq!(
        set.check(&args(json!({"path": "/etc"}))),
        Err(ArgFailure::Violated {
            argument: "path".into(),
            constraint: "Subpath('/data')".into()
        })
    );
}

#[test]
fn containment_of_each_type() {
    let exact = |v: &str| Constraint::from(Exact::new(v));
    assert!(Constraint::Wildcard.contains(&exact("x")));
    assert!(!exact("x").contains(&Constraint::Wildcard));
    assert!(c(json!({"type": "range", "min": 0, "max": 10})).contains(&exact("5")));
    assert!(!c(json!({"type": "range", "min": 0, "max": 10})).contains(&exact("nan")));
    assert!(c(json!({"type": "range", "min": 0}))
        .contains(&c(json!({"type": "range", "min": 0.0, "max": 3}))));
    assert!(
        !c(json!({"type": "range", "min": 1})).contains(&c(json!({"type": "range", "min": 0.5})))
    );
    assert!(c(json!({"type": "not_one_of", "values": ["a"]}))
        .contains(&c(json!({"type": "not_one_of", "values": ["a", "b"]}))));
    assert!(!c(json!({"type": "not_one_of", "values": ["a", "b"]}))
        .contains(&c(json!({"type": "not_one_of", "values": ["a"]}))));
    assert!(
        c(json!({"type": "subpath", "root": "/data", "case_sensitive": false}))
            .contains(&c(json!({"type": "subpath", "root": "/DATA/x"})))
    );
    assert!(!c(json!({"type": "subpath", "root": "/data"}))
        .contains(&c(json!({"type": "subpath", "root": "/database"}))));
    assert!(c(json!({"type": "url_safe"}))
        .contains(&c(json!({"type": "url_safe", "allow_domains": ["x.com"]}))));
    assert!(!c(json!({"type": "url_safe", "allow_domains": ["x.com"]}))
        .contains(&c(json!({"type": "url_safe"}))));
    assert!(!c(json!({"type": "url_safe"}))
        .contains(&c(json!({"type": "url_safe", "block_private": false}))));
    assert!(c(json!({"type": "cidr", "network": "::/0"}))
        .contains(&c(json!({"type": "cidr", "network": "2001:db8::/32"}))));
    assert!(!c(json!({"type": "cidr", "network": "::/0"}))
        .contains(&c(json!({"type": "cidr", "network": "10.0.0.0/8"}))));
    assert!(c(json!({"type": "regex", "pattern": "[a-z]+"})).contains(&exact("abc")));
    assert!(!c(json!({"type": "regex", "pattern": "[a-z]+"}))
        .contains(&c(json!({"type": "regex", "pattern": "[a-y]+"}))));
    assert!(c(json!({"type": "cel", "expression": "a"}))
        .contains(&c(json!({"type": "cel", "expression": "(a) && b"}))));
    assert!(!c(json!({"type": "cel", "expression": "a"})).contains(&exact("x")));
    assert!(!c(json!({"type": "pattern", "glob": "a*"}))
        .contains(&c(json!({"type": "regex", "pattern": "a"}))));
}

#[test]
fn messages_show_the_constraint_as_python_repr_does() {
    assert_eq!(
        c(json!({"type": "subpath", "root": "/d'x"})).to_string(),
        r"Subpath('/d\'x')"
    );
    assert_eq!(
        c(json!({"type": "range", "min": 0, "max": 2.5})).to_string(),
        "Range(min=0, max=2.5)"
    );
    assert_eq!(
        c(json!({"type": "one_of", "values": ["b", "a"]})).to_string(),
        "OneOf(['a', 'b'])"
    );
    assert_eq!(
        c(json!({"type": "cel", "expression": "x"})).to_string(),
        "CEL('x')"
    );
    assert_eq!(Constraint::Wildcard.to_string(), "Wildcard()");
}

fn every_type() -> Vec<Constraint> {
    vec![
        Constraint::Wildcard,
        c(json!({"type": "exact", "value": "x"})),
        c(json!({"type": "pattern", "glob": "[!a-c]*?x"})),
        c(json!({"type": "range", "min": -1, "max": 1e9})),
        c(json!({"type": "one_of", "values": ["a"]})),
        c(json!({"type": "not_one_of", "values": ["a"]})),
        c(json!({"type": "subpath", "root": "/data", "case_sensitive": false})),
        c(json!({"type": "url_safe", "allow_domains": ["*.x.com"]})),
        c(json!({"type": "shlex", "allow": ["ls"], "block_globs": true})),
        c(json!({"type": "cidr", "network": "fe80::/10"})),
        c(json!({"type": "url_pattern", "pattern": "https://*.x.com:8443/a/*"})),
        c(json!({"type": "regex", "pattern": r"(\w+\s?)*[^\d]{1,3}$"})),
        c(json!({"type": "cel", "expression": "x"})),
    ]
}

proptest! {
    #[test]
    fn no_constraint_panics_on_any_string(s in any::<String>()) {
        for constraint in every_type() {
            let _ = constraint.satisfies(&json!(s));
        }
    }

    #[test]
    fn no_constraint_panics_on_url_and_path_like_strings(s in "[a-z0-9:/@\\[\\]%.\\\\?#;&$| '\"-]{0,40}") {
        for constraint in every_type() {
            let _ = constraint.satisfies(&json!(s));
        }
    }

    #[test]
    fn building_constraints_from_any_text_never_panics(s in any::<String>()) {
        for ty in ["pattern", "regex", "cidr", "url_pattern"] {
            let key = match ty { "pattern" => "glob", "cidr" => "network", _ => "pattern" };
            if let Ok(constraint) = Constraint::from_dict(&json!({"type": ty, key: s})) {
                let _ = constraint.satisfies(&json!("abc"));
                let _ = constraint.contains(&constraint);
            }
        }
        let _ = Subpath::new(s.clone());
        let _ = Shlex::new([s]);
    }
}
