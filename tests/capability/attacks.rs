//! Forged, tampered, replayed, spliced and widened tokens, each refused; and
//! the SDK's verdict beside it where the SDK can read the token at all.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use tappass::capability::{Authorizer, CapabilityToken, Pop, Rejection};

use super::authorize::{
    authorizer, child_payload, python_check, python_link, root_token, rust_check, Call,
};
use super::gen::{key, mint_in_python, obj, public, PopSpec, Role, Spec, NOW};

fn engine() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// The token's JSON, edited.
fn edit(token: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_slice(&engine().decode(token).unwrap()).unwrap();
    f(&mut v);
    engine().encode(serde_json::to_string(&v).unwrap())
}

fn call(token: String, pop: Option<String>, tool: &str, args: Map<String, Value>) -> Call {
    Call {
        token,
        pop,
        tool: tool.into(),
        args,
        roots: vec![Role::ControlPlane],
        min_trust: 0,
    }
}

fn read_file_root() -> CapabilityToken {
    root_token(&[(
        "read_file",
        json!({"path": {"type": "subpath", "root": "/data"}}),
    )])
}

fn pop_for(
    token: &CapabilityToken,
    holder: Role,
    tool: &str,
    args: &Map<String, Value>,
    at: i64,
) -> String {
    Pop::sign_at(token, &key(holder), tool, args, at)
        .unwrap()
        .encode()
}

/// Both refuse; Rust with `expected`.
fn both_refuse(c: &Call, expected: impl Fn(&Rejection) -> bool) {
    let (py, reason) = python_check(std::slice::from_ref(c)).remove(0);
    assert!(!py, "Python accepts ({reason})");
    let err = rust_check(c).unwrap_err();
    assert!(expected(&err), "Rust refuses with {err:?}");
}

#[test]
fn a_signature_over_a_different_payload_is_refused() {
    let root = read_file_root();
    let args = obj(json!({"path": "/etc/passwd"}));
    // Add a tool, keep the signature.
    let forged = edit(&root.encode(), |v| {
        v["payload"]["tools"]["delete_file"] = json!({});
    });
    let pop = pop_for(&root, Role::Agent, "delete_file", &args, NOW);
    both_refuse(&call(forged, Some(pop), "delete_file", args.clone()), |e| {
        *e == Rejection::BadSignature { depth: 0 }
    });
    // Another token's signature.
    let other = root_token(&[("delete_file", json!({}))]);
    let spliced = edit(&root.encode(), |v| {
        v["sig"] = json!(super::authorize::hex(other.signature()))
    });
    let pop = pop_for(
        &root,
        Role::Agent,
        "read_file",
        &obj(json!({"path": "/data/x"})),
        NOW,
    );
    both_refuse(
        &call(
            spliced,
            Some(pop),
            "read_file",
            obj(json!({"path": "/data/x"})),
        ),
        |e| *e == Rejection::BadSignature { depth: 0 },
    );
}

#[test]
fn a_substituted_holder_key_is_refused() {
    // A stolen token is useless without the holder's key; putting one's own
    // key in breaks the issuer's signature.
    let root = read_file_root();
    let args = obj(json!({"path": "/data/x"}));
    let stolen = edit(&root.encode(), |v| {
        v["payload"]["hld"] = json!(public(Role::Attacker))
    });
    let decoded = CapabilityToken::decode(&stolen).unwrap();
    let pop = pop_for(&decoded, Role::Attacker, "read_file", &args, NOW);
    both_refuse(&call(stolen, Some(pop), "read_file", args.clone()), |e| {
        *e == Rejection::BadSignature { depth: 0 }
    });
    // The token as issued, with the thief's PoP.
    let pop = pop_for(&root, Role::Attacker, "read_file", &args, NOW);
    both_refuse(&call(root.encode(), Some(pop), "read_file", args), |e| {
        *e == Rejection::PopInvalid
    });
}

#[test]
fn a_pop_replayed_outside_its_window_is_refused() {
    let root = read_file_root();
    let args = obj(json!({"path": "/data/x"}));
    for age in [-120, -97, 97, 3600] {
        let pop = pop_for(&root, Role::Agent, "read_file", &args, NOW + age);
        both_refuse(
            &call(root.encode(), Some(pop), "read_file", args.clone()),
            |e| *e == Rejection::PopInvalid,
        );
    }
}

#[test]
fn a_pop_for_other_arguments_or_another_tool_is_refused() {
    let root = root_token(&[
        ("transfer", json!({"amount": {"type": "range", "max": 100}})),
        ("read_file", json!({})),
    ]);
    let signed = obj(json!({"amount": 1}));
    let pop = pop_for(&root, Role::Agent, "transfer", &signed, NOW);
    // 1.0 is not 1: Python signs `1.0`, and so the PoP differs.
    for other in [
        json!({"amount": 99}),
        json!({"amount": 1.0}),
        json!({"amount": "1"}),
        json!({}),
    ] {
        both_refuse(
            &call(root.encode(), Some(pop.clone()), "transfer", obj(other)),
            |e| *e == Rejection::PopInvalid,
        );
    }
    both_refuse(
        &call(root.encode(), Some(pop), "read_file", signed.clone()),
        |e| *e == Rejection::PopInvalid,
    );
    // The same call is accepted.
    let pop = pop_for(&root, Role::Agent, "transfer", &signed, NOW);
    assert!(rust_check(&call(root.encode(), Some(pop), "transfer", signed)).is_ok());
}

#[test]
fn a_chain_link_signed_by_anyone_but_its_parents_holder_is_refused() {
    let root = read_file_root();
    let args = obj(json!({"path": "/data/x"}));
    let tools = json!({"read_file": {"path": {"type": "subpath", "root": "/data"}}});
    // Issued by the attacker under its own name.
    let mut payload = child_payload(&root, Role::Worker, tools.clone());
    payload["iss"] = json!(public(Role::Attacker));
    let token = python_link(payload, Role::Attacker, &[&root]);
    let pop = pop_for(
        &CapabilityToken::decode(&token).unwrap(),
        Role::Worker,
        "read_file",
        &args,
        NOW,
    );
    let c = call(token, Some(pop), "read_file", args.clone());
    assert!(
        python_check(std::slice::from_ref(&c))[0].0,
        "Python accepts it"
    );
    assert!(matches!(
        rust_check(&c),
        Err(Rejection::BrokenChain { depth: 1, .. })
    ));
    // Naming the parent's holder, signed by the attacker.
    let payload = child_payload(&root, Role::Worker, tools);
    let token = python_link(payload, Role::Attacker, &[&root]);
    let pop = pop_for(
        &CapabilityToken::decode(&token).unwrap(),
        Role::Worker,
        "read_file",
        &args,
        NOW,
    );
    both_refuse(&call(token, Some(pop), "read_file", args), |e| {
        *e == Rejection::BadSignature { depth: 1 }
    });
}

#[test]
fn a_chain_from_an_untrusted_root_is_refused() {
    let fake_root = CapabilityToken::builder()
        .holder(key(Role::Agent).public_key())
        .tool("*", tappass::capability::ConstraintSet::new())
        .issued_at(NOW)
        .sign(&key(Role::Attacker))
        .unwrap();
    let child = fake_root
        .delegate(key(Role::Worker).public_key())
        .issued_at(NOW)
        .sign(&key(Role::Agent))
        .unwrap();
    let args = obj(json!({"path": "/etc/shadow"}));
    let pop = pop_for(&child, Role::Worker, "read_file", &args, NOW);
    let c = call(child.encode(), Some(pop), "read_file", args);
    assert!(
        python_check(std::slice::from_ref(&c))[0].0,
        "Python checks only the leaf"
    );
    assert_eq!(rust_check(&c).unwrap_err(), Rejection::UntrustedIssuer);
}

#[test]
fn a_spliced_or_rehashed_chain_is_refused() {
    let root_a = read_file_root();
    let root_b = root_token(&[("read_file", json!({}))]);
    let child_b = root_b
        .delegate(key(Role::Worker).public_key())
        .issued_at(NOW)
        .sign(&key(Role::Agent))
        .unwrap();
    let args = obj(json!({"path": "/etc/passwd"}));
    let pop = pop_for(&child_b, Role::Worker, "read_file", &args, NOW);
    // Child of B presented with A as its chain.
    let spliced = edit(&child_b.encode(), |v| {
        v["chain"] = json!([serde_json::from_str::<Value>(&root_a.to_json()).unwrap()]);
    });
    assert_eq!(
        rust_check(&call(spliced, Some(pop.clone()), "read_file", args.clone())).unwrap_err(),
        Rejection::BrokenChain {
            depth: 1,
            reason: "its parent hash does not match its parent"
        }
    );
    // A chain missing its root.
    let t2 = child_b
        .delegate(key(Role::Helper).public_key())
        .issued_at(NOW)
        .sign(&key(Role::Worker))
        .unwrap();
    let cut = edit(&t2.encode(), |v| {
        v["chain"].as_array_mut().unwrap().remove(0);
    });
    let err = CapabilityToken::decode(&cut).unwrap_err();
    assert!(err.message().contains("whole chain"), "{err}");
    // A terminal parent cannot delegate.
    let terminal = CapabilityToken::builder()
        .holder(key(Role::Agent).public_key())
        .tool("read_file", tappass::capability::ConstraintSet::new())
        .max_depth(0)
        .issued_at(NOW)
        .sign(&key(Role::ControlPlane))
        .unwrap();
    assert!(terminal
        .delegate(key(Role::Worker).public_key())
        .issued_at(NOW)
        .sign(&key(Role::Agent))
        .is_err());
    let payload = child_payload(&terminal, Role::Worker, json!({"read_file": {}}));
    let mut payload = payload;
    payload["mdp"] = json!(0);
    let token = python_link(payload, Role::Agent, &[&terminal]);
    let pop = pop_for(
        &CapabilityToken::decode(&token).unwrap(),
        Role::Worker,
        "read_file",
        &args,
        NOW,
    );
    assert!(matches!(
        rust_check(&call(token, Some(pop), "read_file", args)),
        Err(Rejection::BrokenChain {
            reason: "its parent is at its maximum delegation depth",
            ..
        })
    ));
}

#[test]
fn an_unknown_constraint_type_is_refused() {
    // Python cannot mint one either: the type is written into a token after.
    let token = edit(&read_file_root().encode(), |v| {
        v["payload"]["tools"]["read_file"]["path"] = json!({"type": "glob", "pattern": "*"});
    });
    let c = call(token, None, "read_file", Map::new());
    let (py, reason) = python_check(std::slice::from_ref(&c)).remove(0);
    assert!(!py && reason.contains("Invalid token"), "{reason}");
    let err = rust_check(&c).unwrap_err();
    assert!(
        err.to_string().contains("unknown constraint type 'glob'"),
        "{err}"
    );
}

#[test]
fn an_oversized_token_is_refused_before_parsing() {
    let auth = authorizer(&[Role::ControlPlane], 0);
    // Not even base64: refused for its size, not for its form.
    let junk = "!".repeat(16 * 1024 + 1);
    assert_eq!(
        auth.check_at(Some(&junk), None, "x", &Map::new(), NOW)
            .unwrap_err(),
        Rejection::TooLarge {
            len: 16 * 1024 + 1,
            max: 16 * 1024
        }
    );
    // A real token with 200 tools: Python reads it, this authorizer needs a
    // larger limit configured.
    let mut tools = Map::new();
    for i in 0..200 {
        tools.insert(
            format!("tool_{i:03}"),
            json!({"path": {"type": "subpath", "root": format!("/data/{i}")}}),
        );
    }
    let pop = PopSpec {
        holder: Role::Agent,
        tool: "tool_007".into(),
        args: obj(json!({"path": "/data/7/x"})),
        at: NOW,
    };
    let m = &mint_in_python(&[(Spec::new(Value::Object(tools)), vec![pop])])[0];
    assert!(m.token.len() > 16 * 1024);
    let c = call(
        m.token.clone(),
        Some(m.pops[0].clone()),
        "tool_007",
        obj(json!({"path": "/data/7/x"})),
    );
    assert!(python_check(std::slice::from_ref(&c))[0].0);
    assert!(matches!(rust_check(&c), Err(Rejection::TooLarge { .. })));
    let roomy = Authorizer::builder()
        .trusted_root(key(Role::ControlPlane).public_key())
        .max_token_bytes(64 * 1024)
        .build()
        .unwrap();
    assert!(roomy
        .check_at(Some(&c.token), c.pop.as_deref(), &c.tool, &c.args, NOW)
        .is_ok());
    assert!(Authorizer::builder()
        .trusted_root(key(Role::ControlPlane).public_key())
        .max_token_bytes(2 << 20)
        .build()
        .is_err());
}

#[test]
fn deep_nesting_is_refused() {
    let root = read_file_root();
    let deep = edit(&root.encode(), |v| {
        let mut nested = json!("x");
        for _ in 0..40 {
            nested = json!([nested]);
        }
        v["payload"]["tools"]["read_file"]["path"] = json!({"type": "one_of", "values": [nested]});
    });
    let err = CapabilityToken::decode(&deep).unwrap_err();
    assert!(err.message().contains("nested too deep"), "{err}");
    // Arguments nested beyond 64 levels cannot be signed over.
    let open = root_token(&[("search", json!({}))]);
    let mut arg = json!(1);
    for _ in 0..70 {
        arg = json!([arg]);
    }
    let args = obj(json!({"q": arg}));
    assert_eq!(
        Pop::sign_at(&open, &key(Role::Agent), "search", &args, NOW).unwrap_err(),
        Rejection::ArgumentsTooDeep
    );
    let shallow = pop_for(&open, Role::Agent, "search", &Map::new(), NOW);
    assert_eq!(
        rust_check(&call(open.encode(), Some(shallow), "search", args)).unwrap_err(),
        Rejection::ArgumentsTooDeep
    );
}

#[test]
fn traversal_ssrf_and_injection_are_refused_at_the_door() {
    // The constraint tables (constraints.rs) at the level of a whole call:
    // minted by Python, PoP by Python, decided by both.
    let tools = json!({
        "read_file": {"path": {"type": "subpath", "root": "/data"}},
        "fetch": {"url": {"type": "url_safe"}},
        "run": {"cmd": {"type": "shlex", "allow": ["ls"]}},
    });
    let calls = [
        ("read_file", json!({"path": "/data/../etc/passwd"}), false),
        (
            "read_file",
            json!({"path": "/data/%2e%2e/etc/passwd"}),
            true,
        ),
        (
            "fetch",
            json!({"url": "http://169.254.169.254/latest"}),
            false,
        ),
        ("fetch", json!({"url": "http://2130706433/"}), true),
        ("run", json!({"cmd": "ls; cat /etc/shadow"}), false),
        ("run", json!({"cmd": "ls & cat /etc/shadow"}), true),
    ];
    let pops: Vec<PopSpec> = calls
        .iter()
        .map(|(tool, args, _)| PopSpec {
            holder: Role::Agent,
            tool: (*tool).into(),
            args: obj(args.clone()),
            at: NOW,
        })
        .collect();
    let m = &mint_in_python(&[(Spec::new(tools), pops)])[0];
    let cs: Vec<Call> = calls
        .iter()
        .zip(&m.pops)
        .map(|((tool, args, _), pop)| {
            call(m.token.clone(), Some(pop.clone()), tool, obj(args.clone()))
        })
        .collect();
    for ((c, (_, _, python_accepts)), (py, _)) in cs.iter().zip(&calls).zip(python_check(&cs)) {
        assert_eq!(py, *python_accepts, "Python on {:?}", c.args);
        assert!(
            matches!(rust_check(c), Err(Rejection::ConstraintViolated { .. })),
            "{:?}",
            c.args
        );
    }
}
