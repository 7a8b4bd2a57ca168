//! A small deterministic generator for the differential cases (the same
//! cases on every run, so a failure is reproducible by its index).

use serde_json::{json, Map, Value};
use tappass::capability::SigningKey;

/// xorshift64*.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn string(&mut self, alphabet: &[&str], max: usize) -> String {
        let len = self.below(max + 1);
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }
}

/// The keys of the tests, by role.
pub fn key(role: Role) -> SigningKey {
    SigningKey::from_bytes(&[role as u8; 32])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    ControlPlane = 1,
    Agent = 2,
    Worker = 3,
    Attacker = 4,
    Helper = 5,
    OtherRoot = 11,
}

pub fn seed(role: Role) -> String {
    key(role).to_hex()
}

pub fn public(role: Role) -> String {
    key(role).public_key().to_hex()
}

pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

/// The clock of the generated cases (a multiple of 30 plus 7).
pub const NOW: i64 = 1_767_225_607;

/// Values that are awkward on the wire: non-ASCII, astral, controls,
/// floats whose `repr` takes each layout.
pub fn awkward_values() -> Vec<Value> {
    vec![
        json!("plain"),
        json!("é"),
        json!("日本語"),
        json!("emoji 😀"),
        json!("tab\tnew\nline"),
        json!("quote\" back\\ slash"),
        json!("\u{7f}\u{1f}\u{2028}"),
        json!(""),
        json!(0),
        json!(-1),
        json!(123456789012345_i64),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.0),
        json!(0.1),
        json!(-2.5),
        json!(1e16),
        json!(1e15),
        json!(1.5e-7),
        json!(0.0001),
        json!(123456789012345678.0),
        json!(5e-324),
        json!(true),
        json!(false),
        json!(null),
    ]
}

/// A payload for Python to sign, in the SDK's wire form.
#[derive(Clone, Debug)]
pub struct Spec {
    pub id: String,
    pub tools: Map<String, Value>,
    pub issuer: Role,
    pub holder: Role,
    pub iat: i64,
    pub exp: i64,
    pub clr: i64,
    pub trs: i64,
    /// Other payload members (`sid`, `aid`, `dep`, `par`, `type`, `mdp`, …).
    pub extra: Map<String, Value>,
}

impl Spec {
    pub fn new(tools: Value) -> Spec {
        Spec {
            id: "tp_ct_gen".into(),
            tools: obj(tools),
            issuer: Role::ControlPlane,
            holder: Role::Agent,
            iat: NOW - 10,
            exp: NOW + 300,
            clr: 30,
            trs: 500,
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Spec {
        self.extra.insert(key.into(), value);
        self
    }

    pub fn payload(&self) -> Value {
        let mut p = obj(json!({
            "id": self.id, "ver": 1, "type": 0,
            "iss": public(self.issuer), "hld": public(self.holder),
            "iat": self.iat, "exp": self.exp, "dep": 0, "mdp": 64,
            "clr": self.clr, "trs": self.trs,
        }));
        if !self.tools.is_empty() {
            p.insert("tools".into(), Value::Object(self.tools.clone()));
        }
        for (k, v) in &self.extra {
            p.insert(k.clone(), v.clone());
        }
        Value::Object(p)
    }
}

/// A PoP for Python to sign: `(holder, tool, args, at)`.
#[derive(Clone, Debug)]
pub struct PopSpec {
    pub holder: Role,
    pub tool: String,
    pub args: Map<String, Value>,
    pub at: i64,
}

/// What Python minted.
#[derive(Clone, Debug)]
pub struct Minted {
    pub token: String,
    pub canonical: String,
    pub pops: Vec<String>,
}

/// Python signs each payload with its issuer's key, and the PoPs asked.
pub fn mint_in_python(items: &[(Spec, Vec<PopSpec>)]) -> Vec<Minted> {
    let cases: Vec<Value> = items
        .iter()
        .map(|(spec, pops)| {
            json!({
                "payload": spec.payload(),
                "issuer_seed": seed(spec.issuer),
                "pops": pops.iter().map(|p| json!({
                    "holder_seed": seed(p.holder), "tool": p.tool,
                    "args": p.args, "now": p.at,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    super::sdk::run("mint", &cases)
        .into_iter()
        .map(|r| Minted {
            token: r["token"].as_str().unwrap().to_owned(),
            canonical: r["canonical"].as_str().unwrap().to_owned(),
            pops: r["pops"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect(),
        })
        .collect()
}

/// A float that Python rebuilds from its bits (`sdk.py`'s `revive`).
pub fn f64_bits(f: f64) -> Value {
    json!({"$f64": format!("{:016x}", f.to_bits())})
}

/// A random string: ASCII, controls, Latin-1, the BMP and astral planes.
pub fn unicode_string(rng: &mut Rng, max: usize) -> String {
    let len = rng.below(max + 1);
    (0..len)
        .map(|_| {
            let c = match rng.below(6) {
                0 => rng.below(0x20) as u32,
                1 | 2 => 0x20 + rng.below(0x5f) as u32,
                3 => 0x80 + rng.below(0x780) as u32,
                4 => 0x800 + rng.below(0xD000) as u32,
                _ => 0x10000 + rng.below(0xF0000) as u32,
            };
            char::from_u32(c).unwrap_or('?')
        })
        .collect()
}

/// A random finite or infinite float, by its bits and from a list of
/// values whose `repr` switches layout.
pub fn awkward_float(rng: &mut Rng) -> f64 {
    const SPECIAL: [f64; 14] = [
        0.0,
        -0.0,
        1.0,
        0.1,
        1e16,
        1e15,
        9999999999999998.0,
        1e-4,
        1e-5,
        1.5e-7,
        5e-324,
        f64::MAX,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    if rng.chance(20) {
        return *rng.pick(&SPECIAL);
    }
    loop {
        let f = if rng.chance(50) {
            f64::from_bits(rng.next())
        } else {
            // Human-sized numbers with few digits.
            (rng.below(2_000_000) as f64 - 1_000_000.0) / 10f64.powi(rng.below(12) as i32)
        };
        if !f.is_nan() {
            return f;
        }
    }
}
