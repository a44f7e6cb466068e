//! Canonical JSON: RFC 8785 (JCS) restricted to the values the ledger writes.
//!
//! - Object members sorted by the UTF-16 code units of their names (RFC 8785 section
//!   3.2.3); for ASCII names that is byte order.
//! - No whitespace.
//! - Numbers: integers only, with magnitude at most 2^53, written in plain decimal (what
//!   RFC 8785's ECMAScript number serialization gives for them). Floats are refused.
//! - Strings: RFC 8785 section 3.2.2.2: `"` and `\` escaped, U+0008/09/0A/0C/0D as
//!   `\b \t \n \f \r`, other characters below U+0020 as `\u00xx` (lowercase hex), everything
//!   else (DEL, non-ASCII, U+2028/9) as itself in UTF-8.
//!
//! Key order is done here, not left to `serde_json::Map`, whose order depends on a cargo
//! feature (`preserve_order`) any crate in the build may switch on.

use serde_json::Value;

/// Largest integer magnitude canonical JSON carries (2^53): beyond it, IEEE 754 doubles, and
/// so most JSON implementations, lose precision.
pub const MAX_JSON_INTEGER: u64 = 1 << 53;

/// Why a JSON value has no canonical form here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalJsonError {
    /// A number that is not an integer (RFC 8785 allows them; the ledger does not).
    #[error("{path}: number {number} is not an integer")]
    Float {
        /// JSON Pointer (RFC 6901) to the value.
        path: String,
        /// The number as parsed.
        number: String,
    },
    /// An integer of magnitude above 2^53.
    #[error("{path}: integer {number} is outside -2^53..=2^53")]
    IntegerRange {
        /// JSON Pointer (RFC 6901) to the value.
        path: String,
        /// The number.
        number: String,
    },
}

/// Canonical JSON bytes of `value`. Checks, depth first in canonical order: every number is
/// an integer within `-2^53..=2^53`.
pub fn to_canonical_json(value: &Value) -> Result<Vec<u8>, CanonicalJsonError> {
    let mut out = Vec::with_capacity(512);
    let mut path = Vec::new();
    write_value(&mut out, value, &mut path)?;
    Ok(out)
}

/// One step of the JSON Pointer to the value being written. Kept as borrowed keys and indexes,
/// and only rendered as text when there is an error to report: entries are encoded on the
/// ledger's hot path.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn pointer(path: &[Step<'_>]) -> String {
    let mut text = String::new();
    for step in path {
        text.push('/');
        match step {
            Step::Key(k) => text.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => text.push_str(&i.to_string()),
        }
    }
    text
}

fn write_value<'a>(
    out: &mut Vec<u8>,
    value: &'a Value,
    path: &mut Vec<Step<'a>>,
) -> Result<(), CanonicalJsonError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            let magnitude = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u,
                (None, Some(i)) => i.unsigned_abs(),
                (None, None) => {
                    return Err(CanonicalJsonError::Float {
                        path: pointer(path),
                        number: n.to_string(),
                    });
                }
            };
            if magnitude > MAX_JSON_INTEGER {
                return Err(CanonicalJsonError::IntegerRange {
                    path: pointer(path),
                    number: n.to_string(),
                });
            }
            if n.as_i64().is_some_and(|i| i < 0) {
                out.push(b'-');
            }
            write_decimal(out, magnitude);
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                path.push(Step::Index(i));
                write_value(out, item, path)?;
                path.pop();
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // UTF-16 code-unit order equals byte order unless a key holds a character at or
            // above U+E000 (UTF-8 lead byte 0xEE or higher), where surrogates reorder them.
            if members.iter().any(|(k, _)| k.bytes().any(|b| b >= 0xEE)) {
                members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            } else if !members.windows(2).all(|w| w[0].0 <= w[1].0) {
                members.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push(b'{');
            for (i, (name, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, name);
                out.push(b':');
                path.push(Step::Key(name));
                write_value(out, item, path)?;
                path.pop();
            }
            out.push(b'}');
        }
    }
    Ok(())
}

pub(crate) fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes `s` as a JSON string the way RFC 8785 does: only `"`, `\\` and control characters
/// are escaped (with the short forms where JSON has one, else `\u00xx` in lowercase hex);
/// everything else, non-ASCII included, is copied as UTF-8. Runs of plain bytes are copied
/// whole.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        String::from_utf8(to_canonical_json(v).expect("canonical")).expect("utf-8")
    }

    #[test]
    fn keys_sorted_by_utf16_code_units() {
        // RFC 8785 section 3.2.3's example: U+1F600 (surrogates D83D DE00) sorts before
        // U+FB33 in UTF-16 although it is after it in code points and UTF-8.
        let v = json!({"\u{fb33}": 1, "\u{1f600}": 2, "b": 3, "a": 4, "\r": 5, "1": 6, "10": 7});
        assert_eq!(
            canon(&v),
            "{\"\\r\":5,\"1\":6,\"10\":7,\"a\":4,\"b\":3,\"\u{1f600}\":2,\"\u{fb33}\":1}"
        );
    }

    #[test]
    fn nested_values_and_no_whitespace() {
        let v = json!({"z": [1, -2, true, null, {"y": "x", "b": []}], "a": {}});
        assert_eq!(
            canon(&v),
            r#"{"a":{},"z":[1,-2,true,null,{"b":[],"y":"x"}]}"#
        );
    }

    #[test]
    fn integers_limited_to_2_pow_53() {
        let max = MAX_JSON_INTEGER as i64;
        assert_eq!(
            canon(&json!([max, -max, 0])),
            "[9007199254740992,-9007199254740992,0]"
        );
        let err = to_canonical_json(&json!({"a": [0, max + 1]})).expect_err("too big");
        assert_eq!(
            err,
            CanonicalJsonError::IntegerRange {
                path: "/a/1".into(),
                number: "9007199254740993".into()
            }
        );
        assert!(matches!(
            to_canonical_json(&json!(-max - 1)),
            Err(CanonicalJsonError::IntegerRange { .. })
        ));
        assert!(matches!(
            to_canonical_json(&json!(u64::MAX)),
            Err(CanonicalJsonError::IntegerRange { .. })
        ));
    }

    #[test]
    fn floats_refused_with_path() {
        let v: Value = serde_json::from_str(r#"{"a/b":{"c":1.0}}"#).expect("json");
        assert_eq!(
            to_canonical_json(&v),
            Err(CanonicalJsonError::Float {
                path: "/a~1b/c".into(),
                number: "1.0".into()
            })
        );
        let v: Value = serde_json::from_str("[1e2]").expect("json");
        assert!(matches!(
            to_canonical_json(&v),
            Err(CanonicalJsonError::Float { .. })
        ));
    }

    #[test]
    fn string_escapes_follow_rfc8785() {
        // Every ASCII character, one by one: only the RFC 8785 set is escaped.
        for b in 0u8..0x80 {
            let c = b as char;
            let mut out = Vec::new();
            write_string(&mut out, &c.to_string());
            let want = match c {
                '"' => "\"\\\"\"".to_owned(),
                '\\' => "\"\\\\\"".to_owned(),
                '\u{8}' => "\"\\b\"".to_owned(),
                '\t' => "\"\\t\"".to_owned(),
                '\n' => "\"\\n\"".to_owned(),
                '\u{c}' => "\"\\f\"".to_owned(),
                '\r' => "\"\\r\"".to_owned(),
                c if c < ' ' => format!("\"\\u{:04x}\"", b),
                c => format!("\"{c}\""),
            };
            assert_eq!(String::from_utf8(out).expect("utf-8"), want, "U+{b:04X}");
        }
        // RFC 8785 section 3.2.2.2's example string.
        let mut out = Vec::new();
        write_string(&mut out, "\u{20ac}$\u{f}\nA'B\"\\\\\"/");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\""
        );
    }

    #[test]
    fn serde_json_string_escaping_matches_ours() {
        // Pinned: if serde_json ever changes how it escapes, entries it writes elsewhere in
        // the project would stop being canonical, and this fails.
        let mut all: String = (0u32..0x80).filter_map(char::from_u32).collect();
        all.push_str("\u{7f}\u{80}\u{2028}\u{2029}\u{fffd}\u{1f600}\u{e9}");
        let mut ours = Vec::new();
        write_string(&mut ours, &all);
        assert_eq!(serde_json::to_vec(&all).expect("serialize"), ours);
    }
}
