use proptest::prelude::*;

use super::*;

/// A line-by-line port of Redis 7's `stringmatchlen` (util.c, case-sensitive), recursion and all:
/// the reference the compiled matcher must agree with on every non-empty key. (On the empty key,
/// Redis's loop never runs, so even `*` does not match it; `Glob` lets `*` match the empty key,
/// like `KEYS *` and `SCAN MATCH *` do.)
fn redis_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut s) = (pat, s);
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if redis_match(&p[1..], s) {
                        return true;
                    }
                    s = &s[1..];
                }
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.len() >= 2 && p[0] == b'\\' {
                        p = &p[1..];
                        if p[0] == s[0] {
                            matched = true;
                        }
                    } else if p.first() == Some(&b']') {
                        break;
                    } else if p.is_empty() {
                        break; // Redis steps back one byte here so that the outer advance lands at the end
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut lo, mut hi) = (p[0], p[2]);
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        p = &p[2..];
                        if s[0] >= lo && s[0] <= hi {
                            matched = true;
                        }
                    } else if p[0] == s[0] {
                        matched = true;
                    }
                    p = &p[1..];
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                // The outer loop advances past `]`; at the end of an unclosed set there is nothing left.
                if p.is_empty() {
                    continue;
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if p[0] != s[0] {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if c != s[0] {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// Cases checked against both matchers; the testkit runs the same style of table against real
/// Redis servers.
const CASES: &[(&str, &str, bool)] = &[
    ("*", "", true),
    ("*", "anything", true),
    ("", "", true),
    ("", "a", false),
    ("a", "", false),
    ("?", "", false),
    ("?", "x", true),
    ("??", "x", false),
    ("h?llo", "hello", true),
    ("h?llo", "hllo", false),
    ("h*llo", "hllo", true),
    ("h*llo", "heeeello", true),
    ("h[ae]llo", "hello", true),
    ("h[ae]llo", "hallo", true),
    ("h[ae]llo", "hillo", false),
    ("h[^e]llo", "hallo", true),
    ("h[^e]llo", "hello", false),
    ("h[a-b]llo", "hbllo", true),
    ("h[a-b]llo", "hcllo", false),
    ("h[b-a]llo", "hallo", true),
    (r"h\*llo", "h*llo", true),
    (r"h\*llo", "hello", false),
    (r"h\?llo", "h?llo", true),
    (r"h\[a]llo", "h[a]llo", true),
    (r"[\]]", "]", true),
    (r"[\-]", "-", true),
    (r"[a\-z]", "b", false),
    ("[]", "]", false),
    ("[]]", "]", false),
    ("[^]", "x", true),
    ("[abc", "b", true),
    ("[abc", "bc", false),
    ("[a-]", "b", false),
    ("[a-]", "]", true),
    ("[a-]", "-", false),
    ("a\\", "a\\", true),
    ("[", "[", false),
    ("[^", "q", true),
    ("user:*", "user:42", true),
    ("user:*", "users:42", false),
    ("*:42", "user:42", true),
    ("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
    ("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", true),
    ("a**b", "ab", true),
    ("a*b*c", "abxbxc", true),
    ("a*b*c", "abxbx", false),
    ("é?", "éx", true),
    ("?", "é", false),
];

#[test]
fn table_agrees_with_expectation_and_redis_port() {
    for &(pattern, key, expected) in CASES {
        let got = Glob::new(pattern).matches(key);
        assert_eq!(got, expected, "pattern {pattern:?} key {key:?}");
        if !key.is_empty() {
            assert_eq!(
                redis_match(pattern.as_bytes(), key.as_bytes()),
                expected,
                "reference port: {pattern:?} {key:?}"
            );
        }
    }
    // The one deliberate difference: Redis's matcher never matches the empty key.
    assert!(!redis_match(b"*", b""));
    assert!(Glob::new("*").matches("") && Glob::new("**").matches("") && !Glob::new("*?").matches(""));
}

#[test]
fn pathological_pattern_is_fast_enough_to_finish() {
    // Redis's recursion would take ~C(4000, 20) steps here; the compiled matcher does at most
    // key × pattern steps. (No timing assertion: the test would simply never finish otherwise.)
    let pattern = "*a".repeat(20) + "b";
    let key = "a".repeat(4000);
    assert!(!Glob::new(&pattern).matches(&key));
    assert!(Glob::new(&pattern).matches(&(key + "b")));
}

#[test]
fn literal_prefix_and_is_literal() {
    assert_eq!(Glob::new("user:*").literal_prefix(), "user:");
    assert_eq!(Glob::new(r"a\*b*").literal_prefix(), "a*b");
    assert_eq!(Glob::new("a\\").literal_prefix(), "a\\");
    assert_eq!(Glob::new("?x").literal_prefix(), "");
    assert_eq!(Glob::new("é\\é[x]").literal_prefix(), "éé");
    assert!(Glob::new(r"exact\*key").is_literal());
    assert!(!Glob::new("a?").is_literal());
}

#[test]
fn literal_resolves_escapes_like_the_matcher() {
    for (pattern, literal) in [
        ("user:42", Some("user:42")),
        (r"user:\*", Some("user:*")),
        (r"\a\b", Some("ab")),
        (r"a\[1\]", Some("a[1]")),
        ("a\\", Some("a\\")),
        ("a]b^-", Some("a]b^-")),
        ("", Some("")),
        ("é\\é", Some("éé")),
        ("user:*", None),
        ("user:4?", None),
        ("user:[0-9]", None),
        (r"\\*", None),
    ] {
        let g = Glob::new(pattern);
        assert_eq!(g.literal().as_deref(), literal, "{pattern:?}");
        assert_eq!(g.is_literal(), literal.is_some(), "{pattern:?}");
        if let Some(key) = literal {
            assert!(g.matches(key), "{pattern:?} must match its literal {key:?}");
        }
    }
}

#[test]
fn escape_round_trips() {
    for s in ["plain", "a*b", "[x]", r"back\slash", "q?", "^-]"] {
        let g = Glob::new(&escape(s));
        assert!(g.is_literal(), "{s}");
        assert!(g.matches(s), "{s}");
        assert_eq!(g.literal_prefix(), s);
    }
}

fn pattern_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("c"),
            Just("*"),
            Just("?"),
            Just("["),
            Just("]"),
            Just("^"),
            Just("-"),
            Just("\\"),
            Just("é"),
        ],
        0..10,
    )
    .prop_map(|parts| parts.concat())
}

fn key_strategy(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("c"),
            Just("-"),
            Just("]"),
            Just("^"),
            Just("\\"),
            Just("é")
        ],
        len,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    /// Non-empty keys only: the empty key is the documented difference (see `redis_match`).
    #[test]
    fn agrees_with_redis_port(pattern in pattern_strategy(), key in key_strategy(1..12)) {
        prop_assert_eq!(
            Glob::new(&pattern).matches(&key),
            redis_match(pattern.as_bytes(), key.as_bytes()),
            "pattern {:?} key {:?}", pattern, key
        );
    }

    #[test]
    fn literal_prefix_is_a_prefix_of_every_match(pattern in pattern_strategy(), key in key_strategy(0..12)) {
        let g = Glob::new(&pattern);
        if g.matches(&key) {
            let prefix = g.literal_prefix();
            prop_assert!(key.starts_with(prefix.as_ref()), "{:?} {:?} {:?}", pattern, key, prefix);
        }
    }

    #[test]
    fn a_literal_pattern_matches_its_literal_only(pattern in pattern_strategy(), key in key_strategy(0..12)) {
        let g = Glob::new(&pattern);
        if let Some(literal) = g.literal() {
            prop_assert!(g.matches(&literal), "{:?} {:?}", pattern, literal);
            prop_assert_eq!(g.matches(&key), key == literal, "{:?} {:?}", pattern, key);
        }
    }

    #[test]
    fn escaped_literals_match_only_themselves(s in key_strategy(0..12), other in key_strategy(0..12)) {
        let g = Glob::new(&escape(&s));
        prop_assert!(g.matches(&s));
        prop_assert_eq!(g.matches(&other), s == other);
    }
}
