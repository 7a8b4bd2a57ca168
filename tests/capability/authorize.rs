//! Whole decisions: tokens and calls generated, decided by Rust and by the
//! Python SDK's `Authorizer.check`, in both directions; and each named
//! strictness difference, shown on a case Python accepts.

use serde_json::{json, Map, Value};
use tappass::capability::{
    Authorizer, BuildError, CapabilityToken, ConstraintSet, Pop, PublicKey, Rejection,
    RejectionKind,
};

use super::gen::{self, key, mint_in_python, obj, public, PopSpec, Rng, Role, Spec, NOW};
use super::sdk;

/// A call to decide.
#[derive(Clone, Debug)]
pub struct Call {
    pub token: String,
    pub pop: Option<String>,
    pub tool: String,
    pub args: Map<String, Value>,
    pub roots: Vec<Role>,
    pub min_trust: u32,
}

pub fn authorizer(roots: &[Role], min_trust: u32) -> Authorizer {
    Authorizer::builder()
        .trusted_roots(roots.iter().map(|r| key(*r).public_key()))
        .min_trust_score(min_trust)
        .build()
        .unwrap()
}

pub fn rust_check(call: &Call) -> Result<tappass::capability::AuthResult, Rejection> {
    authorizer(&call.roots, call.min_trust).check_at(
        Some(&call.token),
        call.pop.as_deref(),
        &call.tool,
        &call.args,
        NOW,
    )
}

/// Python's verdict on each call: `(authorized, reason)`.
pub fn python_check(calls: &[Call]) -> Vec<(bool, String)> {
    let cases: Vec<Value> = calls
        .iter()
        .map(|c| {
            json!({
                "token": c.token, "pop": c.pop, "tool": c.tool, "args": c.args,
                "roots": c.roots.iter().map(|r| public(*r)).collect::<Vec<_>>(),
                "min_trust": c.min_trust, "now": NOW,
            })
        })
        .collect();
    sdk::run("check", &cases)
        .into_iter()
        .map(|r| {
            let reason = r
                .get("error")
                .or(r.get("reason"))
                .map(|v| v.to_string())
                .unwrap_or_default();
            (r["authorized"].as_bool().unwrap(), reason)
        })
        .collect()
}

/// The constraint pool of the generated tokens, each with values to call
/// with; none of the values meets a rule this crate judges more strictly.
fn pool() -> Vec<(Value, Vec<Value>)> {
    vec![
        (
            json!({"type": "subpath", "root": "/data"}),
            vec![
                json!("/data/x"),
                json!("/data/a/b.txt"),
                json!("/etc/passwd"),
                json!("/database"),
                json!("rel"),
            ],
        ),
        (
            json!({"type": "pattern", "glob": "*.txt"}),
            vec![json!("a.txt"), json!("a.pdf"), json!("é.txt")],
        ),
        (
            json!({"type": "range", "min": 0, "max": 100}),
            vec![
                json!(5),
                json!(150),
                json!(2.5),
                json!("42"),
                json!(-1),
                json!(1e16),
                json!(true),
            ],
        ),
        (
            json!({"type": "range", "max": 1e3}),
            vec![json!(999.5), json!(1000.5), json!(" 7 ")],
        ),
        (
            json!({"type": "one_of", "values": ["EUR", "USD"]}),
            vec![json!("EUR"), json!("GBP")],
        ),
        (
            json!({"type": "exact", "value": "é"}),
            vec![json!("é"), json!("e")],
        ),
        (
            json!({"type": "not_one_of", "values": ["root"]}),
            vec![json!("root"), json!("bob"), json!(0)],
        ),
        (
            json!({"type": "url_safe"}),
            vec![
                json!("https://api.github.com"),
                json!("http://127.0.0.1/"),
                json!("http://10.0.0.1/"),
            ],
        ),
        (
            json!({"type": "shlex", "allow": ["ls"]}),
            vec![json!("ls -la"), json!("rm -rf /"), json!("ls; id")],
        ),
        (
            json!({"type": "cidr", "network": "10.0.0.0/8"}),
            vec![json!("10.1.2.3"), json!("11.0.0.1")],
        ),
        (
            json!({"type": "url_pattern", "pattern": "https://api.example.com/*"}),
            vec![
                json!("https://api.example.com/x"),
                json!("https://evil.com/"),
            ],
        ),
        (
            json!({"type": "regex", "pattern": "[a-z]+"}),
            vec![json!("abc"), json!("ABC")],
        ),
        (json!({"type": "cel", "expression": "true"}), vec![json!(1)]),
        (
            json!({"type": "wildcard"}),
            vec![json!("anything"), json!([1, {"b": 2.5}])],
        ),
    ]
}

const TOOLS: [&str; 6] = ["read_file", "search", "transfer", "run", "fetch", "*"];

/// Which named difference a generated case exercises, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    None,
    /// A PoP two windows away: Python's tolerance, not this crate's default.
    PopTwoWindows,
    /// `iat` more than 60 seconds ahead.
    FutureIat,
    /// Lives more than 90 days.
    LongLifetime,
}

struct Generated {
    spec: Spec,
    pop: Option<PopSpec>,
    pop_header: Option<String>,
    tamper: bool,
    call: Call,
    label: Label,
}

fn generate(rng: &mut Rng, i: usize) -> Generated {
    let pool = pool();
    let mut tools = Map::new();
    let mut grants: Vec<(String, Vec<(String, usize)>)> = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let name = (*rng.pick(&TOOLS)).to_string();
        let mut set = Map::new();
        let mut args = Vec::new();
        for a in 0..rng.below(3) {
            let which = rng.below(pool.len());
            set.insert(format!("arg{a}"), pool[which].0.clone());
            args.push((format!("arg{a}"), which));
        }
        if rng.chance(20) {
            set.insert("_allow_unknown".into(), json!(true));
        }
        tools.insert(name.clone(), Value::Object(set));
        grants.push((name, args));
    }
    let mut spec = Spec::new(Value::Object(tools));
    spec.id = format!("tp_ct_gen_{i}_{}", if rng.chance(20) { "é" } else { "x" });
    spec.trs = rng.below(1001) as i64;
    spec.clr = 10 * rng.below(6) as i64;
    let mut label = Label::None;
    spec.iat = NOW - rng.below(600) as i64;
    spec.exp = spec.iat + 1 + rng.below(900) as i64;
    if rng.chance(5) {
        spec.iat = NOW + 61 + rng.below(200) as i64;
        spec.exp = spec.iat + 300;
        label = Label::FutureIat;
    } else if rng.chance(4) {
        spec.exp = spec.iat + 91 * 24 * 3600;
        label = Label::LongLifetime;
    }
    if rng.chance(5) {
        spec = spec.with("type", json!(1));
    }
    if rng.chance(5) {
        spec.issuer = Role::Attacker;
    }
    if rng.chance(30) {
        spec = spec.with("sid", json!(format!("ses_{i}_日本")));
    }
    // The call: mostly a granted tool, with values from the pool.
    let (tool, arg_specs) = if rng.chance(85) {
        let (name, args) = rng.pick(&grants).clone();
        let tool = if name == "*" {
            (*rng.pick(&["anything", "read_file"])).to_string()
        } else {
            name
        };
        (tool, args)
    } else {
        ("not_granted".to_string(), Vec::new())
    };
    let mut args = Map::new();
    for (name, which) in &arg_specs {
        if rng.chance(85) {
            args.insert(name.clone(), rng.pick(&pool[*which].1).clone());
        }
    }
    if rng.chance(25) {
        args.insert("extra".into(), rng.pick(&gen::awkward_values()).clone());
    }
    let mut roots = vec![Role::ControlPlane];
    if rng.chance(5) {
        roots = vec![Role::OtherRoot];
    } else if rng.chance(5) {
        roots.push(Role::OtherRoot);
    }
    // The proof of possession.
    let (mut pop, mut pop_header) = (None, None);
    let roll = rng.below(100);
    if roll < 70 {
        let offsets: [i64; 9] = [0, -7, -8, 22, 23, -37, 53, -67, 83];
        let d = *rng.pick(&offsets);
        let at = NOW + d;
        let windows = (at.div_euclid(30) - NOW.div_euclid(30)).abs();
        if windows == 2 && label == Label::None {
            label = Label::PopTwoWindows;
        }
        pop = Some(PopSpec {
            holder: Role::Agent,
            tool: tool.clone(),
            args: args.clone(),
            at,
        });
    } else if roll < 80 {
        pop = Some(PopSpec {
            holder: Role::Attacker,
            tool: tool.clone(),
            args: args.clone(),
            at: NOW,
        });
    } else if roll < 85 {
        let mut other = args.clone();
        other.insert("other".into(), json!(1));
        pop = Some(PopSpec {
            holder: Role::Agent,
            tool: tool.clone(),
            args: other,
            at: NOW,
        });
    } else if roll < 90 {
        pop = Some(PopSpec {
            holder: Role::Agent,
            tool: "other_tool".into(),
            args: args.clone(),
            at: NOW,
        });
    } else if roll < 95 {
        pop_header = Some("!!not-base64!!".to_string());
    }
    Generated {
        spec,
        pop,
        pop_header,
        tamper: rng.chance(5),
        call: Call {
            token: String::new(),
            pop: None,
            tool,
            args,
            roots,
            min_trust: *rng.pick(&[0, 0, 300, 700]),
        },
        label,
    }
}

/// Changes the trust score inside an encoded token, keeping the signature.
fn tamper(token: &str) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let text = String::from_utf8(engine.decode(token).unwrap()).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let trs = v["payload"]["trs"].as_i64().unwrap();
    v["payload"]["trs"] = json!(if trs == 1000 { 999 } else { trs + 1 });
    engine.encode(serde_json::to_string(&v).unwrap())
}

fn expected_for(label: Label, r: &Rejection) -> bool {
    match label {
        Label::None => false,
        Label::PopTwoWindows => *r == Rejection::PopInvalid,
        Label::FutureIat => matches!(r, Rejection::NotYetValid { .. }),
        Label::LongLifetime => matches!(r, Rejection::Lifetime { .. }),
    }
}

#[test]
fn python_minted_calls_are_decided_as_python_decides() {
    let mut rng = Rng::new(20);
    let generated: Vec<Generated> = (0..600).map(|i| generate(&mut rng, i)).collect();
    let minted = mint_in_python(
        &generated
            .iter()
            .map(|g| (g.spec.clone(), g.pop.iter().cloned().collect()))
            .collect::<Vec<_>>(),
    );
    let calls: Vec<Call> = generated
        .iter()
        .zip(&minted)
        .map(|(g, m)| {
            let mut call = g.call.clone();
            call.token = if g.tamper {
                tamper(&m.token)
            } else {
                m.token.clone()
            };
            call.pop = m.pops.first().cloned().or_else(|| g.pop_header.clone());
            call
        })
        .collect();
    let python = python_check(&calls);
    let (mut both_accept, mut both_refuse, mut named) = (0, 0, 0);
    for (i, ((g, call), (py, reason))) in generated.iter().zip(&calls).zip(&python).enumerate() {
        let rust = rust_check(call);
        match (&rust, py) {
            (Ok(_), true) => both_accept += 1,
            (Err(_), false) => both_refuse += 1,
            (Ok(_), false) => panic!(
                "case {i}: Rust accepts, Python refuses ({reason})\n{g:?}",
                g = g.spec
            ),
            (Err(r), true) => {
                assert!(
                    expected_for(g.label, r),
                    "case {i}: Python accepts, Rust refuses with {r:?} (label {:?})\n{:?}",
                    g.label,
                    g.spec
                );
                named += 1;
            }
        }
    }
    eprintln!("python-minted: {both_accept} accepted by both, {both_refuse} refused by both, {named} named differences");
    assert!(
        both_accept >= 40 && both_refuse >= 150 && named >= 5,
        "{both_accept} / {both_refuse} / {named}"
    );
}

#[test]
fn rust_minted_calls_are_decided_as_python_decides() {
    let mut rng = Rng::new(21);
    let pool = pool();
    let mut calls = Vec::new();
    for i in 0..300 {
        let mut token = CapabilityToken::builder()
            .id(format!("tp_ct_rust_{i}_ü"))
            .holder(key(Role::Agent).public_key())
            .issued_at(NOW - 100 + rng.below(100) as i64)
            .ttl(std::time::Duration::from_secs(300))
            .trust_score(rng.below(1001) as u32)
            .session_id("ses_😀");
        let mut grants = Vec::new();
        for _ in 0..1 + rng.below(2) {
            let name = (*rng.pick(&TOOLS)).to_string();
            let mut set = ConstraintSet::new();
            let mut args = Vec::new();
            for a in 0..rng.below(3) {
                let which = rng.below(pool.len());
                set.insert(
                    format!("arg{a}"),
                    tappass::capability::Constraint::from_dict(&pool[which].0).unwrap(),
                );
                args.push((format!("arg{a}"), which));
            }
            token = token.tool(name.clone(), set);
            grants.push((name, args));
        }
        let token = token.sign(&key(Role::ControlPlane)).unwrap();
        // Delegate now and then, one to three levels, narrowing nothing.
        let (token, holder) = match rng.below(4) {
            0 => {
                let t1 = token
                    .delegate(key(Role::Worker).public_key())
                    .issued_at(NOW)
                    .sign(&key(Role::Agent))
                    .unwrap();
                (t1, Role::Worker)
            }
            1 => {
                let t1 = token
                    .delegate(key(Role::Worker).public_key())
                    .issued_at(NOW)
                    .sign(&key(Role::Agent))
                    .unwrap();
                let t2 = t1
                    .delegate(key(Role::Helper).public_key())
                    .issued_at(NOW)
                    .sign(&key(Role::Worker))
                    .unwrap();
                let t3 = t2
                    .delegate(key(Role::Agent).public_key())
                    .issued_at(NOW)
                    .sign(&key(Role::Helper))
                    .unwrap();
                (t3, Role::Agent)
            }
            _ => (token, Role::Agent),
        };
        let (name, arg_specs) = rng.pick(&grants).clone();
        let tool = if name == "*" {
            "anything".to_string()
        } else {
            name
        };
        let mut args = Map::new();
        for (arg, which) in &arg_specs {
            args.insert(arg.clone(), rng.pick(&pool[*which].1).clone());
        }
        if rng.chance(30) {
            args.insert("note".into(), rng.pick(&gen::awkward_values()).clone());
        }
        let pop = Pop::sign_at(
            &token,
            &key(holder),
            &tool,
            &args,
            NOW + *rng.pick(&[0, -8, 22]),
        )
        .unwrap();
        calls.push(Call {
            token: token.encode(),
            pop: Some(pop.encode()),
            tool,
            args,
            roots: vec![Role::ControlPlane],
            min_trust: *rng.pick(&[0, 500]),
        });
    }
    let python = python_check(&calls);
    let mut accepted = 0;
    for (i, (call, (py, reason))) in calls.iter().zip(&python).enumerate() {
        let rust = rust_check(call);
        assert_eq!(
            rust.is_ok(),
            *py,
            "case {i}: Rust {rust:?}, Python {py} ({reason})"
        );
        accepted += usize::from(*py);
    }
    eprintln!(
        "rust-minted: {accepted} of {} accepted by both",
        calls.len()
    );
    assert!(accepted >= 80, "{accepted}");
}

#[test]
fn an_authorizer_without_a_trusted_root_cannot_be_built() {
    assert_eq!(
        Authorizer::builder().build().unwrap_err(),
        BuildError::NoTrustedRoot
    );
    assert!(BuildError::NoTrustedRoot
        .to_string()
        .contains("trusted_root"));
    // Python's Authorizer() accepts a token anyone signed for themselves.
    let spec = Spec {
        issuer: Role::Attacker,
        ..Spec::new(json!({"*": {}}))
    };
    let pop = PopSpec {
        holder: Role::Agent,
        tool: "delete_everything".into(),
        args: Map::new(),
        at: NOW,
    };
    let m = &mint_in_python(&[(spec, vec![pop])])[0];
    let call = Call {
        token: m.token.clone(),
        pop: Some(m.pops[0].clone()),
        tool: "delete_everything".into(),
        args: Map::new(),
        roots: vec![],
        min_trust: 0,
    };
    assert!(
        python_check(std::slice::from_ref(&call))[0].0,
        "Python accepts a self-signed token"
    );
}

fn forged_delegation(extra: &[(&str, Value)], issuer: Role) -> (Call, Vec<(bool, String)>) {
    let mut spec = Spec::new(json!({"*": {}}));
    spec.issuer = issuer;
    for (k, v) in extra {
        spec = spec.with(k, v.clone());
    }
    let pop = PopSpec {
        holder: Role::Agent,
        tool: "wire_money".into(),
        args: obj(json!({"to": "attacker"})),
        at: NOW,
    };
    let m = &mint_in_python(&[(spec, vec![pop])])[0];
    let call = Call {
        token: m.token.clone(),
        pop: Some(m.pops[0].clone()),
        tool: "wire_money".into(),
        args: obj(json!({"to": "attacker"})),
        roots: vec![Role::ControlPlane],
        min_trust: 0,
    };
    let python = python_check(std::slice::from_ref(&call));
    (call, python)
}

#[test]
fn a_delegated_token_without_its_chain_is_refused() {
    // Python checks a token with `par` against its own `iss` only: this one
    // is signed by an attacker for every tool, and Python accepts it.
    let (call, python) = forged_delegation(
        &[("dep", json!(1)), ("par", json!("ab".repeat(32)))],
        Role::Attacker,
    );
    assert!(python[0].0, "Python accepts the forged grant");
    let err = rust_check(&call).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::Invalid);
    assert!(err.to_string().contains("whole chain"), "{err}");
}

#[test]
fn depth_and_parent_hash_must_agree() {
    // `par` without depth: Python treats it as delegated and skips the roots.
    let (call, python) = forged_delegation(&[("par", json!("cd".repeat(32)))], Role::Attacker);
    assert!(python[0].0);
    assert!(matches!(rust_check(&call), Err(Rejection::Malformed(_))));
    // Depth without `par`: Python treats it as a root token.
    let (call, python) = forged_delegation(&[("dep", json!(3))], Role::ControlPlane);
    assert!(python[0].0);
    assert!(matches!(rust_check(&call), Err(Rejection::Malformed(_))));
}

/// Python signs `payload` (a delegated link) with `signer`; the result is
/// assembled into a token carrying `chain`.
pub fn python_link(payload: Value, signer: Role, chain: &[&CapabilityToken]) -> String {
    let cases = vec![json!({"payload": payload, "issuer_seed": gen::seed(signer), "pops": []})];
    let minted = sdk::run("mint", &cases).remove(0);
    let b64 = minted["token"].as_str().unwrap();
    let leaf = CapabilityToken::decode(b64);
    // A delegated token without its chain does not decode here: rebuild the
    // JSON with the chain added.
    assert!(leaf.is_err());
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut v: Value = serde_json::from_slice(&engine.decode(b64).unwrap()).unwrap();
    let links: Vec<Value> = chain
        .iter()
        .map(|t| serde_json::from_str(&t.to_json()).unwrap())
        .collect();
    v["chain"] = Value::Array(links);
    engine.encode(serde_json::to_string(&v).unwrap())
}

/// The payload of a child of `parent`, as Python would sign it.
pub fn child_payload(parent: &CapabilityToken, holder: Role, tools: Value) -> Value {
    let parent_json: Value = serde_json::from_str(&parent.to_json()).unwrap();
    let mut p = parent_json["payload"].clone();
    p["iss"] = p["hld"].clone();
    p["hld"] = json!(public(holder));
    p["dep"] = json!(parent.depth() + 1);
    p["par"] = json!(hex(&parent.hash()));
    p["id"] = json!(format!("{}_child", parent.id()));
    p["tools"] = tools;
    p
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn root_token(tools: &[(&str, Value)]) -> CapabilityToken {
    let mut b = CapabilityToken::builder()
        .id("tp_ct_root")
        .holder(key(Role::Agent).public_key())
        .issued_at(NOW - 10)
        .ttl(std::time::Duration::from_secs(600))
        .trust_score(600);
    for (name, set) in tools {
        b = b.tool(*name, ConstraintSet::from_dict(set).unwrap());
    }
    b.sign(&key(Role::ControlPlane)).unwrap()
}

#[test]
fn a_chain_is_accepted_back_to_a_trusted_root_and_python_reads_it() {
    let root = root_token(&[(
        "read_file",
        json!({"path": {"type": "subpath", "root": "/data"}}),
    )]);
    let t1 = root
        .delegate(key(Role::Worker).public_key())
        .tool(
            "read_file",
            ConstraintSet::from_dict(
                &json!({"path": {"type": "subpath", "root": "/data/reports"}}),
            )
            .unwrap(),
        )
        .issued_at(NOW)
        .sign(&key(Role::Agent))
        .unwrap();
    let t2 = t1
        .delegate(key(Role::Helper).public_key())
        .issued_at(NOW)
        .trust_score(100)
        .sign(&key(Role::Worker))
        .unwrap();
    let t3 = t2
        .delegate(key(Role::Agent).public_key())
        .issued_at(NOW)
        .sign(&key(Role::Helper))
        .unwrap();
    assert_eq!((t3.depth(), t3.chain().len()), (3, 3));
    let args = obj(json!({"path": "/data/reports/q3.pdf"}));
    let pop = Pop::sign_at(&t3, &key(Role::Agent), "read_file", &args, NOW).unwrap();
    let call = Call {
        token: t3.encode(),
        pop: Some(pop.encode()),
        tool: "read_file".into(),
        args: args.clone(),
        roots: vec![Role::ControlPlane],
        min_trust: 0,
    };
    let ok = rust_check(&call).unwrap();
    assert_eq!(
        (ok.depth(), ok.trust_score(), ok.holder()),
        (3, 100, key(Role::Agent).public_key())
    );
    assert!(
        python_check(std::slice::from_ref(&call))[0].0,
        "Python verifies the leaf"
    );
    // Python reads the token and drops the chain it does not know.
    let r = sdk::one("reencode", json!({"token": t3.encode()}));
    let mut no_chain: Value = serde_json::from_str(&t3.to_json()).unwrap();
    no_chain.as_object_mut().unwrap().remove("chain");
    assert_eq!(
        serde_json::from_str::<Value>(r["json"].as_str().unwrap()).unwrap(),
        no_chain
    );
    // Outside the narrowed root, refused.
    let args = obj(json!({"path": "/data/other"}));
    let pop = Pop::sign_at(&t3, &key(Role::Agent), "read_file", &args, NOW).unwrap();
    let refused = authorizer(&[Role::ControlPlane], 0).check_at(
        Some(&t3.encode()),
        Some(&pop.encode()),
        "read_file",
        &args,
        NOW,
    );
    assert!(matches!(refused, Err(Rejection::ConstraintViolated { .. })));
}

#[test]
fn a_chain_with_a_widened_link_is_refused_though_python_accepts_it() {
    let root = root_token(&[(
        "read_file",
        json!({"path": {"type": "subpath", "root": "/data"}}),
    )]);
    let cases = [
        (
            "tools",
            json!({"read_file": {"path": {"type": "subpath", "root": "/data"}}, "delete_file": {}}),
            json!({"path": "/etc/passwd"}),
        ),
        (
            "constraints",
            json!({"read_file": {"path": {"type": "subpath", "root": "/etc"}}}),
            json!({"path": "/etc/passwd"}),
        ),
        (
            "constraints",
            json!({"read_file": {}}),
            json!({"path": "/etc/passwd"}),
        ),
        (
            "constraints",
            json!({"read_file": {"path": {"type": "subpath", "root": "/data"}, "_allow_unknown": true}}),
            json!({"path": "/data/x", "mode": "w"}),
        ),
    ];
    for (what, tools, args) in cases {
        let payload = child_payload(&root, Role::Worker, tools.clone());
        let token = python_link(payload, Role::Agent, &[&root]);
        let tool = if tools.get("delete_file").is_some() {
            "delete_file"
        } else {
            "read_file"
        };
        let args = obj(args);
        let decoded = CapabilityToken::decode(&token).unwrap();
        let pop = Pop::sign_at(&decoded, &key(Role::Worker), tool, &args, NOW).unwrap();
        let call = Call {
            token,
            pop: Some(pop.encode()),
            tool: tool.into(),
            args,
            roots: vec![Role::ControlPlane],
            min_trust: 0,
        };
        assert!(
            python_check(std::slice::from_ref(&call))[0].0,
            "Python accepts the widened {what}"
        );
        assert_eq!(
            rust_check(&call).unwrap_err(),
            Rejection::Widened { depth: 1, what },
            "{tools}"
        );
    }
    // Clearance, trust score and expiry widen too.
    for (field, value, what) in [
        ("clr", json!(50), "clearance"),
        ("trs", json!(900), "trust score"),
        ("exp", json!(NOW + 5000), "expiry"),
    ] {
        let mut payload = child_payload(
            &root,
            Role::Worker,
            json!({"read_file": {"path": {"type": "subpath", "root": "/data"}}}),
        );
        payload[field] = value;
        let token = python_link(payload, Role::Agent, &[&root]);
        let decoded = CapabilityToken::decode(&token).unwrap();
        let args = obj(json!({"path": "/data/x"}));
        let pop = Pop::sign_at(&decoded, &key(Role::Worker), "read_file", &args, NOW).unwrap();
        let r = authorizer(&[Role::ControlPlane], 0).check_at(
            Some(&token),
            Some(&pop.encode()),
            "read_file",
            &args,
            NOW,
        );
        assert_eq!(r.unwrap_err(), Rejection::Widened { depth: 1, what });
    }
}

#[test]
fn pops_are_accepted_in_three_windows_not_five() {
    let spec = Spec::new(json!({"search": {}}));
    let args = obj(json!({"q": "é", "n": 1.5}));
    // NOW is 7 s into its window: -8 s is the previous window, -38 s two
    // before, +53 s two after, -68 s three before.
    let offsets = [
        (0, true, true),
        (-8, true, true),
        (23, true, true),
        (-38, true, false),
        (53, true, false),
        (-68, false, false),
        (83, false, false),
    ];
    let pops: Vec<PopSpec> = offsets
        .iter()
        .map(|(d, _, _)| PopSpec {
            holder: Role::Agent,
            tool: "search".into(),
            args: args.clone(),
            at: NOW + d,
        })
        .collect();
    let m = &mint_in_python(&[(spec, pops)])[0];
    let calls: Vec<Call> = m
        .pops
        .iter()
        .map(|p| Call {
            token: m.token.clone(),
            pop: Some(p.clone()),
            tool: "search".into(),
            args: args.clone(),
            roots: vec![Role::ControlPlane],
            min_trust: 0,
        })
        .collect();
    let python = python_check(&calls);
    let python_tolerance = Authorizer::builder()
        .trusted_root(key(Role::ControlPlane).public_key())
        .pop_window_tolerance(2)
        .build()
        .unwrap();
    for (((d, py, rs), call), (got_py, _)) in offsets.iter().zip(&calls).zip(&python) {
        assert_eq!(got_py, py, "Python at {d:+} s");
        assert_eq!(rust_check(call).is_ok(), *rs, "Rust at {d:+} s");
        // With Python's tolerance, Python's answer.
        let wide =
            python_tolerance.check_at(Some(&call.token), call.pop.as_deref(), "search", &args, NOW);
        assert_eq!(wide.is_ok(), *py, "tolerance 2 at {d:+} s");
    }
    assert!(Authorizer::builder()
        .trusted_root(key(Role::ControlPlane).public_key())
        .pop_window_tolerance(3)
        .build()
        .is_err());
}

#[test]
fn tokens_from_the_future_or_living_over_90_days_are_refused() {
    let future = Spec {
        iat: NOW + 120,
        exp: NOW + 600,
        ..Spec::new(json!({"search": {}}))
    };
    let long = Spec {
        iat: NOW - 10,
        exp: NOW + 91 * 24 * 3600,
        ..Spec::new(json!({"search": {}}))
    };
    let skewed = Spec {
        iat: NOW + 50,
        exp: NOW + 600,
        ..Spec::new(json!({"search": {}}))
    };
    let expired = Spec {
        iat: NOW - 600,
        exp: NOW,
        ..Spec::new(json!({"search": {}}))
    };
    let pop = || {
        vec![PopSpec {
            holder: Role::Agent,
            tool: "search".into(),
            args: Map::new(),
            at: NOW,
        }]
    };
    let minted = mint_in_python(&[
        (future, pop()),
        (long, pop()),
        (skewed, pop()),
        (expired, pop()),
    ]);
    let calls: Vec<Call> = minted
        .iter()
        .map(|m| Call {
            token: m.token.clone(),
            pop: Some(m.pops[0].clone()),
            tool: "search".into(),
            args: Map::new(),
            roots: vec![Role::ControlPlane],
            min_trust: 0,
        })
        .collect();
    let python: Vec<bool> = python_check(&calls).into_iter().map(|(ok, _)| ok).collect();
    assert_eq!(python, [true, true, true, false]);
    assert!(matches!(
        rust_check(&calls[0]),
        Err(Rejection::NotYetValid { .. })
    ));
    assert!(matches!(
        rust_check(&calls[1]),
        Err(Rejection::Lifetime { .. })
    ));
    assert!(rust_check(&calls[2]).is_ok(), "within the 60 s skew");
    // Expired from the `exp` second on, as Python.
    assert_eq!(
        rust_check(&calls[3]).unwrap_err(),
        Rejection::Expired {
            expires_at: NOW,
            now: NOW
        }
    );
}

#[test]
fn refusals_are_errors_and_why_denied_answers_the_same() {
    let root = root_token(&[(
        "read_file",
        json!({"path": {"type": "subpath", "root": "/data"}}),
    )]);
    let auth = authorizer(&[Role::ControlPlane], 0);
    let args = obj(json!({"path": "/etc/passwd"}));
    let pop = Pop::sign_at(&root, &key(Role::Agent), "read_file", &args, NOW)
        .unwrap()
        .encode();
    let header = root.encode();
    let cases: Vec<(Option<&str>, Option<&str>, &str, RejectionKind)> = vec![
        (None, Some(&pop), "read_file", RejectionKind::Missing),
        (Some("%%%"), Some(&pop), "read_file", RejectionKind::Invalid),
        (
            Some(&header),
            Some(&pop),
            "write_file",
            RejectionKind::ToolNotGranted,
        ),
        (
            Some(&header),
            Some(&pop),
            "read_file",
            RejectionKind::ConstraintViolated,
        ),
        (
            Some(&header),
            None,
            "read_file",
            RejectionKind::ConstraintViolated,
        ),
    ];
    for (token, pop, tool, kind) in cases {
        let outcome = auth.check_at(token, pop, tool, &args, NOW);
        let err = outcome.as_ref().unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        let diagnosis = auth.why_denied_at(token, pop, tool, &args, NOW);
        assert_eq!(diagnosis.outcome().as_ref().unwrap_err(), err);
        assert!(diagnosis.suggestion.is_some());
    }
    let d = auth.why_denied_at(Some(&header), Some(&pop), "read_file", &args, NOW);
    assert_eq!(d.checks.len(), 1);
    assert_eq!(
        (d.checks[0].argument.as_str(), d.checks[0].satisfied),
        ("path", Some(false))
    );
    assert_eq!(d.granted_tools, ["read_file"]);
    assert_eq!(d.outcome().as_ref().unwrap_err().argument(), Some("path"));
    // Accepted: an AuthResult, and clearance is required as an error too.
    let ok_args = obj(json!({"path": "/data/x"}));
    let ok_pop = Pop::sign_at(&root, &key(Role::Agent), "read_file", &ok_args, NOW)
        .unwrap()
        .encode();
    let ok = auth
        .check_at(Some(&header), Some(&ok_pop), "read_file", &ok_args, NOW)
        .unwrap();
    assert!(ok
        .require_clearance(tappass::capability::Clearance::Internal)
        .is_ok());
    assert_eq!(
        ok.require_clearance(tappass::capability::Clearance::System)
            .unwrap_err()
            .kind(),
        RejectionKind::Clearance
    );
    let _: PublicKey = ok.holder();
}
