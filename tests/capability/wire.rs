//! The encoding, byte for byte, in both directions.

use serde_json::{json, Map, Value};
use tappass::capability::{
    CapabilityToken, Constraint, ConstraintSet, Exact, Number, Range, Subpath,
};

use super::gen::{
    self, awkward_float, f64_bits, key, mint_in_python, unicode_string, Rng, Role, Spec,
};
use super::sdk;

/// A payload whose strings and floats take every awkward form.
fn awkward_spec(rng: &mut Rng, i: usize) -> Spec {
    let mut tools = Map::new();
    let mut args = Map::new();
    for a in 0..rng.below(6) {
        let bound = |rng: &mut Rng| {
            if rng.chance(30) {
                json!(rng.below(2_000_001) as i64 - 1_000_000)
            } else {
                f64_bits(awkward_float(rng))
            }
        };
        let mut range = json!({"type": "range"});
        if rng.chance(80) {
            range["min"] = bound(rng);
        }
        if rng.chance(80) {
            range["max"] = bound(rng);
        }
        args.insert(format!("n{a}"), range);
    }
    args.insert(
        unicode_string(rng, 6),
        json!({"type": "exact", "value": unicode_string(rng, 12)}),
    );
    args.insert(
        "s".into(),
        json!({"type": "one_of", "values": [unicode_string(rng, 5), unicode_string(rng, 5), "b", "a"]}),
    );
    tools.insert(unicode_string(rng, 10), Value::Object(args));
    let mut spec = Spec::new(Value::Object(tools));
    spec.id = format!("tp_ct_{i}_{}", unicode_string(rng, 8));
    spec.trs = rng.below(1001) as i64;
    spec.clr = 10 * rng.below(6) as i64;
    if rng.chance(60) {
        spec = spec.with("sid", json!(unicode_string(rng, 16)));
    }
    if rng.chance(60) {
        spec = spec.with("aid", json!(unicode_string(rng, 16)));
    }
    spec
}

#[test]
fn python_minted_tokens_decode_and_reencode_byte_for_byte() {
    let mut rng = Rng::new(1);
    let items: Vec<(Spec, Vec<gen::PopSpec>)> = (0..300)
        .map(|i| (awkward_spec(&mut rng, i), Vec::new()))
        .collect();
    let minted = mint_in_python(&items);
    let mut floats = 0;
    for (i, m) in minted.iter().enumerate() {
        let token = CapabilityToken::decode(&m.token)
            .unwrap_or_else(|e| panic!("case {i}: Python's token refused: {e}\n{}", m.canonical));
        assert_eq!(
            std::str::from_utf8(token.canonical_bytes()).unwrap(),
            m.canonical,
            "case {i}: the signed bytes differ"
        );
        assert_eq!(token.encode(), m.token, "case {i}: the header differs");
        assert!(token.verify_signature(), "case {i}");
        floats += m.canonical.matches("\"max\":").count() + m.canonical.matches("\"min\":").count();
    }
    assert!(floats > 500, "only {floats} bounds were compared");
}

#[test]
fn rust_minted_tokens_are_read_by_python_byte_for_byte() {
    let mut rng = Rng::new(2);
    let mut cases = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..200 {
        let mut set = ConstraintSet::new();
        for a in 0..rng.below(5) {
            let f = awkward_float(&mut rng);
            let bound = if rng.chance(30) {
                Number::Int(rng.below(1000) as i64 - 500)
            } else {
                Number::Float(f)
            };
            set.insert(format!("n{a}"), Range::new(Some(bound), None).unwrap());
        }
        set.insert(
            unicode_string(&mut rng, 6),
            Exact::new(unicode_string(&mut rng, 10)),
        );
        set.insert(
            "p",
            Subpath::new(format!("/{}", unicode_string(&mut rng, 6))).unwrap(),
        );
        let token = CapabilityToken::builder()
            .id(format!("tp_ct_{i}_{}", unicode_string(&mut rng, 6)))
            .holder(key(Role::Agent).public_key())
            .tool(
                unicode_string(&mut rng, 8),
                set.allow_unknown(rng.chance(30)),
            )
            .session_id(unicode_string(&mut rng, 10))
            .agent_id(unicode_string(&mut rng, 10))
            .trust_score(rng.below(1001) as u32)
            .issued_at(gen::NOW)
            .sign(&key(Role::ControlPlane))
            .unwrap();
        cases.push(json!({"token": token.encode()}));
        tokens.push(token);
    }
    for (i, (r, token)) in sdk::run("reencode", &cases).iter().zip(&tokens).enumerate() {
        assert_eq!(r["b64"], token.encode(), "case {i}");
        assert_eq!(r["json"], token.to_json(), "case {i}");
        assert_eq!(
            r["canonical"],
            std::str::from_utf8(token.canonical_bytes()).unwrap(),
            "case {i}"
        );
        assert_eq!(r["signature_ok"], true, "case {i}");
    }
}

#[test]
fn floats_are_written_as_pythons_repr() {
    // `str(value)` of a float argument is what Exact compares: Rust's must be
    // Python's `repr` for every float.
    let mut rng = Rng::new(3);
    let floats: Vec<f64> = (0..2000)
        .map(|_| awkward_float(&mut rng))
        .filter(|f| f.is_finite())
        .collect();
    let cases: Vec<Value> = floats
        .iter()
        .map(|f| json!({"value": f64_bits(*f)}))
        .collect();
    for (f, r) in floats.iter().zip(sdk::run("dumps", &cases)) {
        let repr = r["str"].as_str().unwrap();
        assert_eq!(
            r["compact"], repr,
            "json.dumps and repr agree for finite floats"
        );
        assert!(
            Constraint::Exact(Exact::new(repr)).satisfies(&json!(f)),
            "{f:e}: Python writes {repr}"
        );
    }
}

#[test]
fn the_header_is_read_more_strictly_than_from_b64() {
    // Forms Python's from_b64 reads and this crate refuses: one meaning per token.
    let minted = mint_in_python(&[(Spec::new(json!({"search": {}})), Vec::new())]);
    let good = &minted[0].token;
    let json_text = String::from_utf8(base64_decode(good)).unwrap();
    let enc = |s: &str| base64_encode(s.as_bytes());
    let payload_start = json_text.find("{\"clr\"").unwrap();
    let variants: Vec<(&str, String)> = vec![
        ("padding", format!("{good}==")),
        // Python skips characters outside the alphabet (four keep its padding right).
        (
            "stray characters",
            format!("{}.!.!{}", &good[..10], &good[10..]),
        ),
        (
            "whitespace",
            format!("{}\n \t {}", &good[..10], &good[10..]),
        ),
        (
            "a duplicate key",
            enc(&json_text.replacen("{\"clr\": 30", "{\"clr\": 50, \"clr\": 30", 1)),
        ),
        (
            "an unknown top-level field",
            enc(&json_text.replacen("{\"payload\"", "{\"note\": \"x\", \"payload\"", 1)),
        ),
        (
            "an unknown payload field",
            enc(&format!(
                "{}\"extra\": 1, {}",
                &json_text[..payload_start + 1],
                &json_text[payload_start + 1..]
            )),
        ),
        (
            "uppercase hex",
            enc(&json_text.replace(
                &gen::public(Role::Agent),
                &gen::public(Role::Agent).to_uppercase(),
            )),
        ),
        (
            "a float for an integer",
            enc(&json_text.replacen("\"clr\": 30", "\"clr\": 30.0", 1)),
        ),
        (
            "version 2",
            enc(&json_text.replacen("\"ver\": 1", "\"ver\": 2", 1)),
        ),
    ];
    let cases: Vec<Value> = variants.iter().map(|(_, t)| json!({"token": t})).collect();
    for ((what, token), r) in variants.iter().zip(sdk::run("reencode", &cases)) {
        assert!(r.get("error").is_none(), "Python refuses {what} too: {r}");
        assert!(
            CapabilityToken::decode(token).is_err(),
            "{what} was accepted"
        );
    }
}

#[test]
fn integers_beyond_64_bits_are_refused() {
    let spec = Spec::new(
        json!({"pay": {"amount": {"type": "range", "max": {"$int": "1180591620717411303424"}}}}),
    );
    let minted = mint_in_python(&[(spec, Vec::new())]);
    assert!(minted[0].canonical.contains("1180591620717411303424"));
    let err = CapabilityToken::decode(&minted[0].token).unwrap_err();
    assert!(err.message().contains("64-bit"), "{err}");
}

#[test]
fn a_python_token_with_non_finite_bounds_reads_back_exactly() {
    let spec = Spec::new(json!({"pay": {
        "a": {"type": "range", "min": f64_bits(f64::NEG_INFINITY), "max": f64_bits(f64::INFINITY)},
        "b": {"type": "range", "min": f64_bits(-0.0), "max": f64_bits(1e300)},
    }}));
    let minted = mint_in_python(&[(spec, Vec::new())]);
    assert!(minted[0].canonical.contains("-Infinity") && minted[0].canonical.contains("-0.0"));
    let token = CapabilityToken::decode(&minted[0].token).unwrap();
    assert_eq!(token.encode(), minted[0].token);
    let nan = Spec::new(json!({"pay": {"a": {"type": "range", "max": f64_bits(f64::NAN)}}}));
    let minted = mint_in_python(&[(nan, Vec::new())]);
    assert!(minted[0].canonical.contains("NaN"));
    assert!(
        CapabilityToken::decode(&minted[0].token).is_err(),
        "a NaN bound limits nothing"
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
