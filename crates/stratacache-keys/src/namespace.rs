//! Namespaced keys: `{namespace}:{version}:{key}`.

use std::fmt;

use crate::error::{KeyError, KeyPart, check_common, check_no_control, excerpt};
use crate::escape_glob;

/// The maximum length of a full key, in bytes of UTF-8: 1024.
///
/// Redis accepts keys up to 512 MB, but every byte of a key is stored with the entry, hashed on
/// every lookup and compared on every hit, and sent over the network with every command. Keys
/// longer than a few hundred bytes are almost always a bug (user text or a serialised request used
/// as a key); hash such input instead (see [`AiKeyBuilder`](crate::AiKeyBuilder)). 1024 bytes
/// leaves ample room for structured keys while keeping memory and lookup costs bounded.
pub const MAX_KEY_LEN: usize = 1024;

/// The maximum length of a namespace name and of a namespace version, each, in bytes: 64 (the
/// core rule, [`stratacache_core::validate_namespace`]).
pub use stratacache_core::MAX_NAMESPACE_LEN;

/// A key namespace: a name and a version that prefix every key, as `{name}:{version}:{key}`.
///
/// Bumping the version makes every old key unreachable at once (a cheap, O(1) invalidation of a
/// whole namespace; the old entries expire with their TTL or are removed with
/// [`pattern_all`](Self::pattern_all) on the old namespace).
///
/// ```
/// use stratacache_keys::Namespace;
///
/// # fn main() -> Result<(), stratacache_keys::KeyError> {
/// let ns = Namespace::new("web", "v1")?;
/// assert_eq!(ns.key("user:42")?, "web:v1:user:42");
/// assert_eq!(ns.prefix(), "web:v1:");
/// assert_eq!(ns.pattern("user:*")?, "web:v1:user:*");
/// assert_eq!(ns.strip_prefix("web:v1:user:42"), Some("user:42"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    name_len: usize,
    /// `{name}:{version}:`.
    prefix: String,
    /// The prefix with its glob metacharacters escaped.
    pattern_prefix: String,
}

impl Namespace {
    /// Creates a namespace.
    ///
    /// # Errors
    ///
    /// [`KeyError::Namespace`] if `name` breaks the namespace rule every crate applies
    /// ([`stratacache_core::validate_namespace`]: empty, longer than [`MAX_NAMESPACE_LEN`] bytes,
    /// or holding a `:` or a control character); [`KeyError`] with [`KeyPart::Version`] if
    /// `version` breaks the same rule.
    pub fn new(name: &str, version: &str) -> Result<Self, KeyError> {
        stratacache_core::validate_namespace(name)?;
        check_segment(KeyPart::Version, version)?;
        let prefix = format!("{name}:{version}:");
        let pattern_prefix = escape_glob(&prefix);
        Ok(Self {
            name_len: name.len(),
            prefix,
            pattern_prefix,
        })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.prefix[..self.name_len]
    }

    /// The namespace's version.
    pub fn version(&self) -> &str {
        &self.prefix[self.name_len + 1..self.prefix.len() - 1]
    }

    /// The prefix of every key of this namespace: `{name}:{version}:`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The prefix as a glob that matches it literally: [`prefix`](Self::prefix) with `*`, `?`, `[`,
    /// `]` and `\` escaped.
    pub fn pattern_prefix(&self) -> &str {
        &self.pattern_prefix
    }

    /// The full key for `key`: `{name}:{version}:{key}`.
    ///
    /// # Errors
    ///
    /// [`KeyError`] with [`KeyPart::Key`] if `key` is empty, if it contains a control character, or
    /// if the full key is longer than [`MAX_KEY_LEN`] bytes.
    pub fn key(&self, key: &str) -> Result<String, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty { part: KeyPart::Key });
        }
        let len = self.prefix.len() + key.len();
        if len > MAX_KEY_LEN {
            return Err(KeyError::TooLong {
                part: KeyPart::Key,
                len,
                max: MAX_KEY_LEN,
                excerpt: excerpt(key),
            });
        }
        check_no_control(KeyPart::Key, key)?;
        let mut out = String::with_capacity(len);
        out.push_str(&self.prefix);
        out.push_str(key);
        Ok(out)
    }

    /// A glob pattern over this namespace's keys: the escaped [`pattern_prefix`](Self::pattern_prefix)
    /// followed by `glob`, which is used as is (its `*`, `?`, `[...]` and `\` keep their meaning).
    ///
    /// ```
    /// # use stratacache_keys::Namespace;
    /// # fn main() -> Result<(), stratacache_keys::KeyError> {
    /// let ns = Namespace::new("shop[eu]", "v2")?;
    /// assert_eq!(ns.pattern("cart:*")?, r"shop\[eu\]:v2:cart:*");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`KeyError`] with [`KeyPart::Pattern`] if `glob` is empty, contains a control character, or
    /// makes the pattern longer than [`MAX_KEY_LEN`] bytes.
    pub fn pattern(&self, glob: &str) -> Result<String, KeyError> {
        check_common(KeyPart::Pattern, glob, MAX_KEY_LEN)?;
        let mut out = String::with_capacity(self.pattern_prefix.len() + glob.len());
        out.push_str(&self.pattern_prefix);
        out.push_str(glob);
        if out.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong {
                part: KeyPart::Pattern,
                len: out.len(),
                max: MAX_KEY_LEN,
                excerpt: excerpt(&out),
            });
        }
        Ok(out)
    }

    /// The glob pattern matching every key of this namespace: `{escaped prefix}*`.
    pub fn pattern_all(&self) -> String {
        format!("{}*", self.pattern_prefix)
    }

    /// The caller's key inside `full_key`, if `full_key` belongs to this namespace.
    pub fn strip_prefix<'a>(&self, full_key: &'a str) -> Option<&'a str> {
        full_key.strip_prefix(self.prefix.as_str())
    }
}

impl fmt::Display for Namespace {
    /// Writes `{name}:{version}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix[..self.prefix.len() - 1])
    }
}

fn check_segment(part: KeyPart, value: &str) -> Result<(), KeyError> {
    check_common(part, value, MAX_NAMESPACE_LEN)?;
    if let Some(position) = value.chars().position(|c| c == ':') {
        return Err(KeyError::InvalidCharacter {
            part,
            position,
            character: ':',
            rule: "namespaces and versions may not contain ':', the separator",
            excerpt: excerpt(value),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_keys_and_patterns() {
        let ns = Namespace::new("web", "v1").unwrap();
        assert_eq!(ns.key("user:42").unwrap(), "web:v1:user:42");
        assert_eq!(ns.prefix(), "web:v1:");
        assert_eq!(ns.pattern_prefix(), "web:v1:");
        assert_eq!(ns.pattern("user:*").unwrap(), "web:v1:user:*");
        assert_eq!(ns.pattern_all(), "web:v1:*");
        assert_eq!(ns.name(), "web");
        assert_eq!(ns.version(), "v1");
        assert_eq!(ns.to_string(), "web:v1");
        assert_eq!(ns.strip_prefix("web:v1:a"), Some("a"));
        assert_eq!(ns.strip_prefix("web:v2:a"), None);
    }

    #[test]
    fn namespace_is_glob_escaped_in_patterns_only() {
        let ns = Namespace::new(r"a*b?[c]\d", "v[1]").unwrap();
        assert_eq!(ns.key("k").unwrap(), r"a*b?[c]\d:v[1]:k");
        assert_eq!(ns.pattern_prefix(), r"a\*b\?\[c\]\\d:v\[1\]:");
        assert_eq!(ns.pattern("x?").unwrap(), r"a\*b\?\[c\]\\d:v\[1\]:x?");
        assert_eq!(ns.pattern_all(), r"a\*b\?\[c\]\\d:v\[1\]:*");
    }

    #[test]
    fn rejects_bad_namespaces() {
        // The name follows the core rule, with the core message.
        for name in ["", "we:b", "w\teb", &"n".repeat(MAX_NAMESPACE_LEN + 1)] {
            let expected = stratacache_core::validate_namespace(name).unwrap_err();
            let err = Namespace::new(name, "v1").unwrap_err();
            assert_eq!(err.to_string(), expected.to_string());
            assert_eq!(err, KeyError::Namespace(expected));
        }
        assert_eq!(
            Namespace::new("web", ""),
            Err(KeyError::Empty {
                part: KeyPart::Version
            })
        );
        assert!(matches!(
            Namespace::new("web", "v:1"),
            Err(KeyError::InvalidCharacter {
                part: KeyPart::Version,
                position: 1,
                ..
            })
        ));
        assert!(matches!(
            Namespace::new("web", "v\u{7f}"),
            Err(KeyError::ControlCharacter {
                part: KeyPart::Version,
                position: 1,
                code: 0x7f,
                ..
            })
        ));
        let long = "n".repeat(MAX_NAMESPACE_LEN + 1);
        assert!(Namespace::new(&long[1..], "v1").is_ok());
        assert!(matches!(
            Namespace::new("web", &long),
            Err(KeyError::TooLong {
                part: KeyPart::Version,
                ..
            })
        ));
    }

    #[test]
    fn rejects_bad_keys() {
        let ns = Namespace::new("web", "v1").unwrap();
        assert_eq!(ns.key(""), Err(KeyError::Empty { part: KeyPart::Key }));
        let err = ns.key("user\n42").unwrap_err();
        assert!(matches!(
            err,
            KeyError::ControlCharacter {
                part: KeyPart::Key,
                position: 4,
                code: 10,
                ..
            }
        ));
        assert!(err.to_string().contains("U+000A at character 4"), "{err}");

        // The limit is on the full key: 1024 - "web:v1:".len() bytes of key fit.
        let max = MAX_KEY_LEN - ns.prefix().len();
        assert_eq!(ns.key(&"k".repeat(max)).unwrap().len(), MAX_KEY_LEN);
        let err = ns.key(&"k".repeat(max + 1)).unwrap_err();
        assert!(matches!(
            err,
            KeyError::TooLong {
                part: KeyPart::Key,
                len: 1025,
                max: MAX_KEY_LEN,
                ..
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.starts_with("key is 1025 bytes long, more than the maximum of 1024 bytes"),
            "{msg}"
        );
        assert!(
            !msg.contains(&"k".repeat(100)),
            "the message echoes the whole key: {msg}"
        );

        // Lengths are in bytes: multi-byte characters count for more than one.
        assert!(ns.key(&"é".repeat(max / 2 + 1)).is_err());
    }

    #[test]
    fn rejects_bad_patterns() {
        let ns = Namespace::new("web", "v1").unwrap();
        assert_eq!(
            ns.pattern(""),
            Err(KeyError::Empty {
                part: KeyPart::Pattern
            })
        );
        assert!(matches!(
            ns.pattern("a\u{0}"),
            Err(KeyError::ControlCharacter {
                part: KeyPart::Pattern,
                ..
            })
        ));
        assert!(matches!(
            ns.pattern(&"*".repeat(MAX_KEY_LEN)),
            Err(KeyError::TooLong {
                part: KeyPart::Pattern,
                ..
            })
        ));
    }
}
