//! The pattern-invalidation table: keys, patterns and, for each pattern, the keys it removes.
//!
//! The expectations were worked out by hand with Redis `MATCH` semantics (byte-wise, case
//! sensitive, `*` may match nothing, `\` escapes, reversed ranges accepted) and are cross-checked
//! against [`Glob`](stratacache_core::Glob) by this module's tests, so the table and the shared
//! matcher agree. Once the Redis backend runs the suite, a real Redis server checks it too.

/// One pattern of the table and the keys of [`GLOB_KEYS`] it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobCase {
    /// The glob pattern, Redis `MATCH` syntax.
    pub pattern: &'static str,
    /// The keys of [`GLOB_KEYS`] the pattern matches (in the order of `GLOB_KEYS`).
    pub expected: &'static [&'static str],
}

/// The keys every [`GLOB_CASES`] pattern runs against: written, then one pattern invalidated.
///
/// They include glob metacharacters as literal key bytes (`a*b`, `a?b`, `a[1]b`, a backslash),
/// prefixes of each other (`user:`, `user:1`, `user:10`, `users:1`), case variants, a two-byte UTF-8
/// character and keys in the shape of AI response keys.
pub const GLOB_KEYS: &[&str] = &[
    "user:1",
    "user:2",
    "user:10",
    "user:1:profile",
    "user:2:profile",
    "users:1",
    "user:",
    "session:a",
    "session:b",
    "session:ab",
    "Session:A",
    "a*b",
    "a?b",
    "a[1]b",
    "axb",
    "ab",
    "back\\slash",
    "x-1",
    "x_1",
    "x1",
    "é:1",
    "e:1",
    "ai_cache:op:summarize|txt:hello",
    "ai_cache:op:summarize|txt:world",
    "ai_cache:op:qa|txt:x|q:1",
    "ai_cache:op:qa_v2|txt:x",
];

const fn case(pattern: &'static str, expected: &'static [&'static str]) -> GlobCase {
    GlobCase { pattern, expected }
}

/// Patterns over [`GLOB_KEYS`] with the keys each one matches.
pub const GLOB_CASES: &[GlobCase] = &[
    // `*` matches everything, including the empty suffix.
    case("*", GLOB_KEYS),
    case(
        "user:*",
        &[
            "user:1",
            "user:2",
            "user:10",
            "user:1:profile",
            "user:2:profile",
            "user:",
        ],
    ),
    case("user:1*", &["user:1", "user:10", "user:1:profile"]),
    case("user:*:profile", &["user:1:profile", "user:2:profile"]),
    case(
        "*:1",
        &["user:1", "users:1", "é:1", "e:1", "ai_cache:op:qa|txt:x|q:1"],
    ),
    case("users:*", &["users:1"]),
    // `?` is exactly one byte.
    case("user:?", &["user:1", "user:2"]),
    case("user:??", &["user:10"]),
    case("user?:1", &["users:1"]),
    case("?:1", &["e:1"]),
    case("??:1", &["é:1"]),
    // Sets, negated sets and ranges (either order).
    case("user:[12]", &["user:1", "user:2"]),
    case("user:[^1]", &["user:2"]),
    case(
        "user:[0-9]*",
        &["user:1", "user:2", "user:10", "user:1:profile", "user:2:profile"],
    ),
    case("user:[9-0]", &["user:1", "user:2"]),
    case("session:[a-z]", &["session:a", "session:b"]),
    case("x[-_]1", &["x-1", "x_1"]),
    case("x[^-]1", &["x_1"]),
    // Case sensitivity.
    case("session:*", &["session:a", "session:b", "session:ab"]),
    case("Session:*", &["Session:A"]),
    case("[Ss]ession:[aA]", &["session:a", "Session:A"]),
    // Unescaped metacharacters versus escaped ones.
    case("a?b", &["a*b", "a?b", "axb"]),
    case("a*b", &["a*b", "a?b", "a[1]b", "axb", "ab"]),
    case("a[1]b", &[]),
    case(r"a\*b", &["a*b"]),
    case(r"a\?b", &["a?b"]),
    case(r"a\[1\]b", &["a[1]b"]),
    case(r"back\\slash", &["back\\slash"]),
    case(r"back[\\]slash", &["back\\slash"]),
    case(r"\user:1", &["user:1"]),
    case("x*1", &["x-1", "x_1", "x1"]),
    // Multi-byte UTF-8.
    case("é:*", &["é:1"]),
    // Exact literal and a pattern matching nothing.
    case("user:1", &["user:1"]),
    case("nothing:*", &[]),
    // AI response keys, as the admin API invalidates them.
    case(
        "ai_cache:op:summarize|*",
        &[
            "ai_cache:op:summarize|txt:hello",
            "ai_cache:op:summarize|txt:world",
        ],
    ),
    case("ai_cache:op:qa|*", &["ai_cache:op:qa|txt:x|q:1"]),
    case("ai_cache:*|q:*", &["ai_cache:op:qa|txt:x|q:1"]),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use stratacache_core::Glob;

    use super::*;

    #[test]
    fn table_agrees_with_the_shared_matcher() {
        let mut disagreements = Vec::new();
        for case in GLOB_CASES {
            let glob = Glob::new(case.pattern);
            let matched: Vec<&str> = GLOB_KEYS.iter().copied().filter(|k| glob.matches(k)).collect();
            let expected: BTreeSet<&str> = case.expected.iter().copied().collect();
            if matched.iter().copied().collect::<BTreeSet<_>>() != expected {
                disagreements.push(format!(
                    "{:?}: table {:?}, Glob {matched:?}",
                    case.pattern, case.expected
                ));
            }
        }
        assert!(
            disagreements.is_empty(),
            "table and Glob disagree:\n{}",
            disagreements.join("\n")
        );
    }

    #[test]
    fn table_is_well_formed() {
        let keys: BTreeSet<&str> = GLOB_KEYS.iter().copied().collect();
        assert_eq!(keys.len(), GLOB_KEYS.len(), "GLOB_KEYS has duplicates");
        assert!(GLOB_CASES.len() >= 20, "too few cases");
        let mut patterns = BTreeSet::new();
        for case in GLOB_CASES {
            assert!(
                patterns.insert(case.pattern),
                "pattern {:?} appears twice",
                case.pattern
            );
            let expected: BTreeSet<&str> = case.expected.iter().copied().collect();
            assert_eq!(
                expected.len(),
                case.expected.len(),
                "{:?} lists a key twice",
                case.pattern
            );
            for key in case.expected {
                assert!(
                    keys.contains(key),
                    "{:?} expects {key:?}, which is not in GLOB_KEYS",
                    case.pattern
                );
            }
            // Listed in GLOB_KEYS order, so failure messages read the same way.
            let order: Vec<usize> = case
                .expected
                .iter()
                .map(|k| GLOB_KEYS.iter().position(|g| g == k).unwrap())
                .collect();
            assert!(
                order.is_sorted(),
                "{:?}: expected keys are not in GLOB_KEYS order",
                case.pattern
            );
        }
        // Every kind of syntax is covered.
        for needle in ["*", "?", "[^", "-", "\\*", "\\?", "\\[", "\\\\"] {
            assert!(
                GLOB_CASES.iter().any(|c| c.pattern.contains(needle)),
                "no pattern uses {needle:?}"
            );
        }
        assert!(
            GLOB_CASES.iter().any(|c| c.expected.is_empty()),
            "no pattern matching nothing"
        );
        assert!(
            GLOB_CASES.iter().any(|c| c.expected.len() == GLOB_KEYS.len()),
            "no pattern matching all"
        );
    }
}
