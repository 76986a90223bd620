//! Python's `str()` and `repr()` of JSON-decoded values, and `len(text.split())`, as CPython 3.11
//! computes them. The reference key scheme hashes these renderings, so they must match byte for byte.
//!
//! The mapping from JSON to Python is `json.loads`: `null` → `None`, `true` → `True`, integers → `int`,
//! numbers with a fraction or an exponent → `float`, strings → `str`, arrays → `list`, objects →
//! `dict` (in insertion order, which `serde_json`'s `preserve_order` feature keeps).
//!
//! Known difference: an integer outside the `i64`/`u64` range is a Python `int` but a `serde_json`
//! `f64`, so it renders as a float (`1e+20` rather than `100000000000000000000`).

use std::fmt::Write as _;

use serde_json::{Map, Value};

mod unprintable;

/// Appends Python's `str(value)`: strings as they are, everything else as [`write_repr`].
pub(crate) fn write_str(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s),
        other => write_repr(out, other),
    }
}

/// Appends Python's `repr(value)`.
pub(crate) fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(f) = n.as_f64() {
                write_float_repr(out, f);
            } else {
                // Unreachable without serde_json's `arbitrary_precision`; the number's own text then.
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => write_str_repr(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_repr(out, k);
                out.push_str(": ");
                write_repr(out, v);
            }
            out.push('}');
        }
    }
}

/// The `k=v` pairs of `options`, sorted by key and joined with `&`, `v` being `str(v)`: what the
/// reference system hashes into `opts:`.
pub(crate) fn options_string(options: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, &Value)> = options.iter().collect();
    // Rust orders strings by UTF-8 bytes, which is code point order, as Python does.
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        write_str(&mut out, v);
    }
    out
}

/// Python's `repr(x)` of a float: the shortest digits that round-trip, in positional notation when the
/// decimal exponent is in `-4..16`, otherwise in scientific notation with a signed, at least two-digit
/// exponent (`0.7`, `1.0`, `1e-05`, `1e+16`, `123456789012345.0`, `inf`, `nan`, `-0.0`).
#[cfg(test)]
pub(crate) fn float_repr(x: f64) -> String {
    let mut out = String::new();
    write_float_repr(&mut out, x);
    out
}

fn write_float_repr(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    let x = x.abs();
    if x.is_infinite() {
        out.push_str("inf");
        return;
    }
    if x == 0.0 {
        out.push_str("0.0");
        return;
    }
    let (digits, exponent) = shortest_digits(x);
    // The decimal point sits after `decpt` digits.
    let decpt = exponent + 1;
    if decpt > -4 && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
            out.push_str(&digits);
        } else {
            let decpt = decpt.unsigned_abs() as usize;
            if decpt >= digits.len() {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', decpt - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..decpt]);
                out.push('.');
                out.push_str(&digits[decpt..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    }
}

/// The significant digits and the decimal exponent of `x` (finite, positive) as a string and `e` with
/// `x = d.ddd × 10^e`: the shortest digits that round-trip, the closest to `x` among them, and, when
/// two are equally close, the one with an even last digit, as David Gay's `dtoa` (mode 0) gives
/// Python's `repr`.
fn shortest_digits(x: f64) -> (String, i32) {
    // Rust's `{:e}` gives the shortest round-trip digits closest to `x`, but breaks exact ties upwards.
    let (digits, exponent) = split_sci(&format!("{x:e}"));
    // A tie needs `x` to be exactly halfway between two candidates of `n` digits: its exact decimal
    // expansion (at most 767 significant digits for an f64) has `n + 1` digits and ends in 5.
    let n = digits.len();
    let (mut exact, exact_exponent) = split_sci(&format!("{x:.800e}"));
    exact.truncate(exact.trim_end_matches('0').len());
    if exact_exponent == exponent && exact.len() == n + 1 && exact.ends_with('5') {
        let lower = &exact[..n];
        if let Some(upper) = increment_digits(lower) {
            let even = if lower.bytes().last().is_some_and(|d| (d - b'0').is_multiple_of(2)) {
                lower
            } else {
                &upper
            };
            if even != digits && round_trips(even, exponent, x) {
                return (even.to_owned(), exponent);
            }
        }
    }
    (digits, exponent)
}

/// Splits Rust's `{:e}` output (`1.2345e-7`) into its digits (`12345`) and exponent (`-7`).
fn split_sci(sci: &str) -> (String, i32) {
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
    (
        mantissa.chars().filter(char::is_ascii_digit).collect(),
        exponent.parse().unwrap_or(0),
    )
}

/// The decimal digit string one unit in the last place above `digits`, if it has as many digits.
fn increment_digits(digits: &str) -> Option<String> {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return String::from_utf8(bytes).ok();
        }
    }
    None
}

/// Whether `d.ddd × 10^exponent` parses back to `x`.
fn round_trips(digits: &str, exponent: i32, x: f64) -> bool {
    let text = format!("{digits}e{}", exponent - (digits.len() as i32 - 1));
    text.parse::<f64>().is_ok_and(|y| y == x)
}

/// Appends Python's `repr(s)` of a string: single quotes unless the string contains `'` and no `"`;
/// `\\`, the quote, `\t`, `\n` and `\r` escaped; other non-printable characters as `\xNN`, `\uNNNN`
/// or `\UNNNNNNNN`.
pub(crate) fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            _ if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            _ if is_printable(c) => out.push(c),
            _ => {
                let code = u32::from(c);
                let _ = if code <= 0xff {
                    write!(out, "\\x{code:02x}")
                } else if code <= 0xffff {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable()` for one character (CPython 3.11, Unicode 14.0).
pub(crate) fn is_printable(c: char) -> bool {
    let code = u32::from(c);
    let table = unprintable::UNPRINTABLE;
    let i = table.partition_point(|&(_, end)| end < code);
    !matches!(table.get(i), Some(&(start, _)) if start <= code)
}

/// Python's `str.isspace()` for one character: Unicode White_Space plus the separators
/// U+001C..U+001F, which Python counts as whitespace and Rust does not.
pub(crate) fn is_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python's `len(text.split())`: the number of runs of non-whitespace characters.
pub(crate) fn word_count(text: &str) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for c in text.chars() {
        let space = is_whitespace(c);
        if !space && !in_word {
            count += 1;
        }
        in_word = !space;
    }
    count
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn str_of(v: &Value) -> String {
        let mut s = String::new();
        write_str(&mut s, v);
        s
    }

    fn repr_of(s: &str) -> String {
        let mut out = String::new();
        write_str_repr(&mut out, s);
        out
    }

    // Every expected value below was computed with CPython 3.11.7's `str()` / `repr()`.

    #[test]
    // The literals are exact binary values on purpose (ties between two shortest representations).
    #[allow(clippy::approx_constant, clippy::excessive_precision)]
    fn floats_match_cpython() {
        let cases: &[(f64, &str)] = &[
            (0.7, "0.7"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1.5e-05, "1.5e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1.2345e16, "1.2345e+16"),
            (123456789012345.0, "123456789012345.0"),
            (123456789012345.67, "123456789012345.67"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.5, "2.5"),
            (100.0, "100.0"),
            (1e100, "1e+100"),
            (-1.5e-100, "-1.5e-100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (3.141592653589793, "3.141592653589793"),
            (1e22, "1e+22"),
            (123.456, "123.456"),
            (0.001, "0.001"),
            // Exact ties between two shortest candidates: the even last digit wins, as in CPython.
            (90996425427214.625, "90996425427214.62"),
            (-773662077699501.25, "-773662077699501.2"),
            (161993993754847.125, "161993993754847.12"),
            (266683961609213.625, "266683961609213.62"),
        ];
        for &(x, expected) in cases {
            assert_eq!(float_repr(x), expected, "repr({x:?})");
        }
    }

    #[test]
    fn scalars_match_cpython() {
        assert_eq!(str_of(&json!(null)), "None");
        assert_eq!(str_of(&json!(true)), "True");
        assert_eq!(str_of(&json!(false)), "False");
        assert_eq!(str_of(&json!(100)), "100");
        assert_eq!(str_of(&json!(-7)), "-7");
        assert_eq!(str_of(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(str_of(&json!(0.7)), "0.7");
        // A top-level string is rendered as it is, without quotes.
        assert_eq!(str_of(&json!("it's \"x\"\n")), "it's \"x\"\n");
    }

    #[test]
    fn containers_match_cpython() {
        let v: Value = serde_json::from_str(r#"{"b": [1, 2.5, "x"], "a": {"z": null, "y": true}}"#).unwrap();
        assert_eq!(str_of(&v), "{'b': [1, 2.5, 'x'], 'a': {'z': None, 'y': True}}");
        assert_eq!(str_of(&json!([1, 2])), "[1, 2]");
        assert_eq!(str_of(&json!([])), "[]");
        assert_eq!(str_of(&json!({})), "{}");
        assert_eq!(str_of(&json!([[], {}, [[1e-05]]])), "[[], {}, [[1e-05]]]");
    }

    #[test]
    fn string_repr_matches_cpython() {
        let cases: &[(&str, &str)] = &[
            ("plain", "'plain'"),
            ("it's", r#""it's""#),
            (r#"say "hi""#, r#"'say "hi"'"#),
            (r#"it's "both""#, r#"'it\'s "both"'"#),
            ("back\\slash", r"'back\\slash'"),
            ("tab\tnl\ncr\r", r"'tab\tnl\ncr\r'"),
            ("\u{0}\u{1b}\u{7f}", r"'\x00\x1b\x7f'"),
            ("café ñ 日本語", "'café ñ 日本語'"),
            ("😀", "'😀'"),
            ("\u{a0}\u{ad}", r"'\xa0\xad'"),
            ("\u{200b}\u{2028}\u{feff}", r"'\u200b\u2028\ufeff'"),
            ("\u{e000}", r"'\ue000'"),
            ("\u{10ffff}\u{e0001}", r"'\U0010ffff\U000e0001'"),
            ("\u{85}", r"'\x85'"),
            ("\u{3000}", r"'\u3000'"),
            ("e\u{301}", "'e\u{301}'"),
        ];
        for &(s, expected) in cases {
            assert_eq!(repr_of(s), expected, "repr({s:?})");
        }
    }

    #[test]
    fn options_string_sorts_by_key() {
        let v: Value = serde_json::from_str(r#"{"question": "Q?", "max_tokens": 150, "b": [1]}"#).unwrap();
        let Value::Object(map) = v else { panic!("object") };
        assert_eq!(options_string(&map), "b=[1]&max_tokens=150&question=Q?");
        assert_eq!(options_string(&Map::new()), "");
    }

    #[test]
    fn whitespace_and_words_match_cpython() {
        // `[hex(c) for c in range(0x110000) if chr(c).isspace()]` in CPython 3.11.7.
        let python: Vec<u32> = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
            0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f,
            0x205f, 0x3000,
        ]
        .to_vec();
        let ours: Vec<u32> = (0..=0x10ffff_u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_whitespace(c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, python);

        assert_eq!(word_count(""), 0);
        assert_eq!(word_count("   "), 0);
        assert_eq!(word_count("one"), 1);
        assert_eq!(word_count("  two  words\n"), 2);
        assert_eq!(word_count("a\u{1c}b\u{3000}c\u{200b}d"), 3);
    }

    #[test]
    fn printable_table_is_sorted_and_spot_checks() {
        let table = unprintable::UNPRINTABLE;
        assert!(table.windows(2).all(|w| w[0].1 < w[1].0 && w[0].0 <= w[0].1));
        assert_eq!(table.len(), 701);
        for c in ['a', ' ', '~', 'é', '日', '😀', '\u{301}'] {
            assert!(is_printable(c), "{c:?}");
        }
        for c in [
            '\u{0}',
            '\u{1f}',
            '\u{7f}',
            '\u{a0}',
            '\u{ad}',
            '\u{2028}',
            '\u{e000}',
            '\u{10ffff}',
        ] {
            assert!(!is_printable(c), "{c:?}");
        }
    }
}
