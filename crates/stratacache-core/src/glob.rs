//! The glob matcher used by every backend for pattern invalidation, with Redis `MATCH` semantics.
//!
//! | syntax | matches |
//! |---|---|
//! | `*` | any sequence of bytes, including none |
//! | `?` | exactly one byte |
//! | `[abc]` | one of the listed bytes |
//! | `[^abc]` | one byte not listed |
//! | `[a-z]` | one byte in the range (bounds may be given in either order) |
//! | `\x` | the byte `x` literally, also inside `[...]` |
//!
//! Edge cases follow Redis 7 (`stringmatchlen`) exactly: an unclosed `[` takes the rest of the
//! pattern as its set, `[]` matches nothing, `[^]` matches any byte, `]` right after a `-` is a range
//! bound (`[a-]` is the range `]`..=`a`), and a trailing `\` matches a backslash. Matching is
//! case-sensitive and works on bytes (a multi-byte UTF-8 character is several bytes for `?`). Range
//! bounds compare as unsigned bytes (Redis compares C `char`, signed on x86, so ranges with bytes
//! above 0x7F differ there: keep ranges ASCII). One deliberate difference: `*` (and any pattern made
//! only of stars) matches the empty key, as `KEYS *` does, where Redis's `stringmatchlen` matches
//! nothing against an empty key.
//!
//! Unlike Redis's recursive matcher, which takes exponential time on patterns such as
//! `*a*a*a*a*a*b`, [`Glob::matches`] compiles the pattern once and matches without recursion in
//! `O(key length × pattern length)` time at worst, linear in the key for a given pattern.
//!
//! ```
//! use stratacache_core::Glob;
//!
//! let g = Glob::new("user:[0-9]*:profile");
//! assert!(g.matches("user:42:profile"));
//! assert!(!g.matches("user:x:profile"));
//! assert_eq!(g.literal_prefix(), "user:");
//! assert!(Glob::new(r"a\*").matches("a*") && !Glob::new(r"a\*").matches("ab"));
//! ```

use std::borrow::Cow;
use std::fmt;

/// One compiled element of a pattern.
#[derive(Clone, PartialEq, Eq)]
enum Token {
    /// A byte that must match exactly.
    Byte(u8),
    /// `?`.
    Any,
    /// `*` (consecutive stars are merged).
    Star,
    /// `[...]`, as a 256-bit set with negation already applied.
    Set(Box<[u64; 4]>),
}

impl Token {
    #[inline]
    fn matches(&self, b: u8) -> bool {
        match self {
            Self::Byte(c) => *c == b,
            Self::Any => true,
            Self::Set(bits) => bits[usize::from(b >> 6)] & (1 << (b & 63)) != 0,
            Self::Star => false,
        }
    }
}

/// A compiled glob pattern with Redis `MATCH` semantics (see the [module docs](self)).
///
/// Every string is a valid pattern, so compiling cannot fail.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    tokens: Vec<Token>,
    prefix_len: usize,
}

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Self {
        let tokens = compile(pattern.as_bytes());
        let prefix_len = literal_prefix_len(pattern.as_bytes());
        Self {
            pattern: pattern.to_owned(),
            tokens,
            prefix_len,
        }
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `key` matches the whole pattern.
    pub fn matches(&self, key: &str) -> bool {
        self.matches_bytes(key.as_bytes())
    }

    /// Whether the byte string `key` matches the whole pattern.
    pub fn matches_bytes(&self, key: &[u8]) -> bool {
        let toks = &self.tokens;
        let (mut p, mut s) = (0, 0);
        // The position after the last star seen, and the key position it is trying next.
        let mut backtrack: Option<(usize, usize)> = None;
        while s < key.len() {
            match toks.get(p) {
                Some(Token::Star) => {
                    backtrack = Some((p + 1, s));
                    p += 1;
                    continue;
                }
                Some(t) if t.matches(key[s]) => {
                    p += 1;
                    s += 1;
                    continue;
                }
                _ => {}
            }
            // Mismatch: let the last star absorb one more byte, or fail if there is none.
            // Only the last star needs retrying: anything an earlier star could absorb, the last
            // one can absorb too.
            let Some((after_star, tried)) = backtrack else {
                return false;
            };
            p = after_star;
            s = tried + 1;
            backtrack = Some((after_star, s));
        }
        toks[p..].iter().all(|t| *t == Token::Star)
    }

    /// The longest literal prefix every matching key starts with (`"user:"` for `user:*`), with
    /// escapes resolved. Backends use it to narrow a scan.
    pub fn literal_prefix(&self) -> Cow<'_, str> {
        let raw = &self.pattern[..self.prefix_len];
        if !raw.contains('\\') {
            return Cow::Borrowed(raw);
        }
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            // A trailing backslash is a literal backslash, as in Redis.
            out.push(if c == '\\' {
                chars.next().unwrap_or('\\')
            } else {
                c
            });
        }
        Cow::Owned(out)
    }

    /// Whether the pattern has no wildcard at all (no unescaped `*`, `?` or `[`), so it matches
    /// exactly one key: [`literal`](Self::literal).
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Byte(_)))
    }

    /// The one key a pattern without wildcards matches, with escapes resolved (`user:42` for
    /// `user:42`, `a*` for `a\*`, a backslash for a trailing `\`); `None` when the pattern has a
    /// `*`, `?` or `[` that is not escaped.
    ///
    /// Backends use it to remove that key directly instead of scanning for matches:
    ///
    /// ```
    /// use stratacache_core::Glob;
    ///
    /// assert_eq!(Glob::new("user:42").literal().as_deref(), Some("user:42"));
    /// assert_eq!(Glob::new(r"user:\*").literal().as_deref(), Some("user:*"));
    /// assert_eq!(Glob::new("user:4?").literal(), None);
    /// assert!(Glob::new(r"a\[1]").matches("a[1]"));
    /// ```
    pub fn literal(&self) -> Option<Cow<'_, str>> {
        // A pattern without wildcards is its own literal prefix.
        self.is_literal().then(|| self.literal_prefix())
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Glob").field(&self.pattern).finish()
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl From<&str> for Glob {
    fn from(pattern: &str) -> Self {
        Self::new(pattern)
    }
}

/// Escapes every glob metacharacter (`*`, `?`, `[`, `]`, `\`) in `literal`, so that
/// `Glob::new(&escape(s))` matches exactly `s`. Use it to build patterns from namespaces and other
/// data: `format!("{}:*", escape(namespace))`.
///
/// ```
/// use stratacache_core::glob::{escape, Glob};
///
/// let ns = "tenant[1]*";
/// let g = Glob::new(&format!("{}:*", escape(ns)));
/// assert!(g.matches("tenant[1]*:k"));
/// assert!(!g.matches("tenant1x:k"));
/// ```
pub fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() + 4);
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Compiles a pattern into tokens, reproducing Redis's parsing of each construct.
fn compile(pat: &[u8]) -> Vec<Token> {
    let n = pat.len();
    let mut tokens = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        match pat[i] {
            b'*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
                i += 1;
            }
            b'?' => {
                tokens.push(Token::Any);
                i += 1;
            }
            b'\\' if n - i >= 2 => {
                tokens.push(Token::Byte(pat[i + 1]));
                i += 2;
            }
            b'[' => {
                let (set, next) = compile_set(pat, i + 1);
                tokens.push(Token::Set(set));
                i = next;
            }
            b => {
                tokens.push(Token::Byte(b));
                i += 1;
            }
        }
    }
    tokens
}

/// Parses a `[...]` set whose body starts at `i`; returns the set and the index after it.
fn compile_set(pat: &[u8], mut i: usize) -> (Box<[u64; 4]>, usize) {
    let n = pat.len();
    let mut bits = [0u64; 4];
    let mut add = |b: u8| bits[usize::from(b >> 6)] |= 1 << (b & 63);
    let negated = pat.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    let next = loop {
        if i >= n {
            break n; // unclosed: the set takes the rest of the pattern
        }
        match pat[i] {
            b'\\' if n - i >= 2 => {
                add(pat[i + 1]);
                i += 2;
            }
            b']' => break i + 1,
            start if n - i >= 3 && pat[i + 1] == b'-' => {
                let end = pat[i + 2];
                let (lo, hi) = if start <= end { (start, end) } else { (end, start) };
                for b in lo..=hi {
                    add(b);
                }
                i += 3;
            }
            b => {
                add(b);
                i += 1;
            }
        }
    };
    if negated {
        for word in &mut bits {
            *word = !*word;
        }
    }
    (Box::new(bits), next)
}

/// Length in bytes of the pattern prefix made only of literal bytes and escapes.
fn literal_prefix_len(pat: &[u8]) -> usize {
    let mut i = 0;
    while i < pat.len() {
        match pat[i] {
            b'*' | b'?' | b'[' => break,
            b'\\' if pat.len() - i >= 2 => i += 2,
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests;
