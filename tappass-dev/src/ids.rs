//! Identifiers the dev server mints, and the stable hashes it derives ids from.

use rand::RngExt;
use serde_json::Value;

/// The pipeline UUID the dev server reports when the caller names none.
pub(crate) const DEV_PIPELINE_UUID: &str = "00000000-0000-4000-8000-00000000d0e5";

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `prefix` followed by `len` URL-safe random characters (6 bits each).
pub(crate) fn random_id(prefix: &str, len: usize) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    for _ in 0..len {
        id.push(URL_SAFE[rng.random_range(0..64)] as char);
    }
    id
}

/// 32 random lowercase hex digits, the shape of a `behavior_id`.
pub(crate) fn random_hex32() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

/// 128-bit FNV-1a: small, stable across runs and platforms, and plenty for
/// telling dev-server behaviours apart (it is not a security boundary).
pub(crate) fn fnv1a128(parts: &[&[u8]]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    for part in parts {
        for &byte in *part {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// A stable agent UUID derived from an API key, for callers that send no
/// `X-TapPass-Agent-Uuid`. The key itself never leaves the server.
pub(crate) fn agent_uuid_for_key(api_key: &str) -> String {
    uuid_from(fnv1a128(&[b"tappass-dev agent", api_key.as_bytes()]))
}

/// Formats 128 bits as a version-8 (custom) UUID.
fn uuid_from(bits: u128) -> String {
    let bits = (bits & !(0xf << 76)) | (0x8 << 76); // version 8
    let bits = (bits & !(0x3 << 62)) | (0x2 << 62); // RFC 9562 variant
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The fingerprint of a tool call: a stable hash of the tool, its arguments
/// (objects with sorted keys, so key order does not matter) and the agent.
pub(crate) fn tool_fingerprint(tool: &str, args: &Value, agent: &str) -> String {
    let mut canonical = String::new();
    write_canonical(args, &mut canonical);
    format!(
        "{:032x}",
        fnv1a128(&[
            b"tool",
            tool.as_bytes(),
            canonical.as_bytes(),
            agent.as_bytes()
        ])
    )
}

/// The fingerprint of a governed prompt: the rule that paused it, the prompt
/// and the agent.
pub(crate) fn prompt_fingerprint(rule: &str, prompt: &str, agent: &str) -> String {
    format!(
        "{:032x}",
        fnv1a128(&[
            b"chat",
            rule.as_bytes(),
            prompt.as_bytes(),
            agent.as_bytes()
        ])
    )
}

/// Compact JSON with object keys sorted at every level.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Whether `value` is a valid correlation id: 1 to 128 bytes of
/// `[A-Za-z0-9._:-]`, and not a dot segment (`.`, `..`), as the toolkit's
/// layer checks them.
pub(crate) fn is_valid_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= tappass::session::MAX_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        && !matches!(value, "." | "..")
}

/// The longest tool name accepted, in bytes.
pub(crate) const MAX_TOOL_NAME_BYTES: usize = 128;

/// Checks a tool's name as a caller sent it: 1 to 128 bytes of
/// `[A-Za-z0-9_.-]`, not `.` or `..`. The name becomes a segment of a
/// mandate's capability (`tool:call:<name>`), so what a verifier would read
/// as syntax is refused here: `*` (a wildcard), `:` (a separator), spaces,
/// and every other character. The error says what to send instead.
pub(crate) fn check_tool_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_TOOL_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !matches!(name, "." | "..");
    if valid {
        return Ok(());
    }
    let what = if name.contains('*') {
        "holds `*`, which a mandate's capability would read as a wildcard"
    } else if name.contains(':') {
        "holds `:`, which a mandate's capability would read as a separator"
    } else if name.len() > MAX_TOOL_NAME_BYTES {
        "is too long"
    } else {
        "is not a tool name"
    };
    Err(format!(
        "`payload.tool` {what}; a tool's name is 1 to {MAX_TOOL_NAME_BYTES} characters of [A-Za-z0-9_.-] (not `.` or `..`)"
    ))
}

/// The path of `segments`, each percent-encoded as one path segment (a `/`,
/// `?` or `#` in a segment cannot end it, and `.` or `..` is no step).
pub(crate) fn url_path(segments: &[&str]) -> String {
    let mut url = url::Url::parse("http://path.invalid/").expect("a valid base URL");
    if let Ok(mut path) = url.path_segments_mut() {
        path.clear().extend(segments);
    }
    url.path().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprints_ignore_key_order_and_tell_agents_apart() {
        let a = tool_fingerprint("send_email", &json!({"to": "a", "cc": ["b"]}), "agt");
        let b = tool_fingerprint("send_email", &json!({"cc": ["b"], "to": "a"}), "agt");
        let c = tool_fingerprint("send_email", &json!({"cc": ["b"], "to": "a"}), "other");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn agent_uuids_are_stable_uuid_shaped_and_per_key() {
        let a = agent_uuid_for_key("tp_one");
        assert_eq!(a, agent_uuid_for_key("tp_one"));
        assert_ne!(a, agent_uuid_for_key("tp_two"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
        assert!(is_valid_id(&a));
    }

    #[test]
    fn random_ids_have_their_prefix_and_length() {
        let id = random_id("tsk_", 24);
        assert!(id.starts_with("tsk_") && id.len() == 28 && is_valid_id(&id));
        assert_eq!(random_hex32().len(), 32);
    }
}
