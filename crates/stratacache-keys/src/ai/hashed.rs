//! The hashed AI key scheme: `ai:v1:{operation}:{text digest}:{options digest}`.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The prefix of every hashed-scheme key.
pub(crate) const PREFIX: &str = "ai:v1:";

/// Domain separation tag of the text digest.
const TEXT_DOMAIN: &[u8] = b"stratacache.keys.ai.v1.text\0";
/// Domain separation tag of the options digest.
const OPTIONS_DOMAIN: &[u8] = b"stratacache.keys.ai.v1.options\0";

/// Digest length in bytes (128 bits, 32 hex digits).
pub(crate) const DIGEST_BYTES: usize = 16;

/// BLAKE3 (keyed with `secret` when there is one) of `domain ‖ u64-le(len(data)) ‖ data`, truncated to
/// [`DIGEST_BYTES`] and hex-encoded.
fn digest(secret: Option<&[u8; 32]>, domain: &[u8], data: &[u8]) -> String {
    let mut hasher = match secret {
        Some(key) => blake3::Hasher::new_keyed(key),
        None => blake3::Hasher::new(),
    };
    hasher.update(domain);
    hasher.update(&(data.len() as u64).to_le_bytes());
    hasher.update(data);
    hex::encode(&hasher.finalize().as_bytes()[..DIGEST_BYTES])
}

/// The digest of a text.
pub(crate) fn text_digest(secret: Option<&[u8; 32]>, text: &str) -> String {
    digest(secret, TEXT_DOMAIN, text.as_bytes())
}

/// The digest of the canonical form of `options`.
pub(crate) fn options_digest(secret: Option<&[u8; 32]>, options: &Map<String, Value>) -> String {
    digest(secret, OPTIONS_DOMAIN, canonical_json(options).as_bytes())
}

/// The full key. `operation` has been validated.
pub(crate) fn key(
    secret: Option<&[u8; 32]>,
    text: &str,
    operation: &str,
    options: &Map<String, Value>,
) -> String {
    let mut key = String::with_capacity(PREFIX.len() + operation.len() + 2 + 4 * DIGEST_BYTES);
    key.push_str(PREFIX);
    key.push_str(operation);
    key.push(':');
    key.push_str(&text_digest(secret, text));
    key.push(':');
    key.push_str(&options_digest(secret, options));
    key
}

/// The prefix of every key of `operation`: `ai:v1:{operation}:`.
pub(crate) fn operation_prefix(operation: &str) -> String {
    format!("{PREFIX}{operation}:")
}

/// Canonical JSON of an object: compact, keys sorted (by code point) at every level, numbers
/// normalised (see [`write_canonical_number`]), strings escaped minimally.
pub(crate) fn canonical_json(options: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_canonical_object(&mut out, options);
    out
}

fn write_canonical_object(out: &mut String, map: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_canonical_string(out, k);
        out.push(':');
        write_canonical(out, v);
    }
    out.push('}');
}

fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_canonical_number(out, n),
        Value::String(s) => write_canonical_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_canonical_object(out, map),
    }
}

/// Numbers that are equal have one form: integers (and floats with an integral value below 10^38,
/// which are exact integers) in plain decimal, so `1`, `1.0` and `1e0` agree and `-0.0` is `0`;
/// other floats as the shortest round-trip digits in scientific notation (`7e-1`, `1.5e300`).
fn write_canonical_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        if f.fract() == 0.0 && f.abs() < 1e38 {
            // Exact: an integral f64 below 10^38 fits in an i128 without rounding.
            let _ = write!(out, "{}", f as i128);
        } else {
            let _ = write!(out, "{f:e}");
        }
    } else {
        let _ = write!(out, "{n}");
    }
}

fn write_canonical_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{0}'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn canonical_form_sorts_and_normalises() {
        let a: Value = serde_json::from_str(
            r#"{"b": {"y": 1.0, "x": [1e0, -0.0, 0.7, "q\"\n"]}, "a": null, "é": true}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&obj(a)),
            r#"{"a":null,"b":{"x":[1,0,7e-1,"q\"\u000a"],"y":1},"é":true}"#
        );
        let big = json!({"i": u64::MAX, "f": 1e300, "g": 1152921504606846976.0_f64, "h": -5});
        assert_eq!(
            canonical_json(&obj(big)),
            r#"{"f":1e300,"g":1152921504606846976,"h":-5,"i":18446744073709551615}"#
        );
        assert_eq!(canonical_json(&Map::new()), "{}");
    }

    #[test]
    fn digests_are_domain_separated() {
        // The same bytes as text and as options never give the same digest.
        let opts = Map::new();
        assert_ne!(text_digest(None, "{}"), options_digest(None, &opts));
        assert_eq!(text_digest(None, "x").len(), 2 * DIGEST_BYTES);
    }
}
