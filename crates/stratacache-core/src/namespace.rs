//! [`validate_namespace`]: the one rule every key namespace follows, in every crate.

use std::fmt;

/// The longest namespace, in bytes of UTF-8: 64.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// The namespace rule, as error messages state it.
pub const NAMESPACE_RULE: &str = "1..=64 bytes, without ':' (the separator of {namespace}:{key}) \
                                  or control characters";

/// Why a namespace was rejected by [`validate_namespace`]. Its message names the setting
/// (`namespace`), the value and the rule, and is the same wherever a namespace is checked
/// (`RedisConfig::validate`, the factory's configuration, `stratacache_keys::Namespace`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceError {
    /// The rejected value, quoted (at most its first 64 characters, control characters escaped).
    value: String,
    /// What is wrong with it.
    reason: String,
}

impl NamespaceError {
    /// The rejected value and what is wrong with it, e.g. `"app:v2" (':' at character 3)`.
    pub fn value(&self) -> String {
        format!("{} ({})", self.value, self.reason)
    }

    /// What is accepted: [`NAMESPACE_RULE`].
    pub fn accepted(&self) -> &'static str {
        NAMESPACE_RULE
    }
}

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "namespace: got {}, accepted: {NAMESPACE_RULE}", self.value())
    }
}

impl std::error::Error for NamespaceError {}

/// Checks a key namespace: 1..=64 bytes, no `:`, no control character.
///
/// Keys are stored as `{namespace}:{key}`, and `clear` and pattern invalidation delete
/// `{namespace}:*`. A namespace with a `:` would nest: clearing `app` would also delete the keys
/// of `app:v2`. Use another separator (`app-v2`, `app.v2`) for related namespaces.
///
/// ```
/// use stratacache_core::validate_namespace;
///
/// assert!(validate_namespace("app-v2").is_ok());
/// let err = validate_namespace("app:v2").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "namespace: got \"app:v2\" (':' at character 3), accepted: 1..=64 bytes, without ':' \
///      (the separator of {namespace}:{key}) or control characters"
/// );
/// ```
///
/// # Errors
///
/// A [`NamespaceError`] naming the value, what is wrong and the rule.
pub fn validate_namespace(namespace: &str) -> Result<(), NamespaceError> {
    let reason = if namespace.is_empty() {
        Some("empty".to_owned())
    } else if namespace.len() > MAX_NAMESPACE_LEN {
        Some(format!("{} bytes", namespace.len()))
    } else {
        namespace
            .chars()
            .enumerate()
            .find(|(_, c)| *c == ':' || c.is_control())
            .map(|(at, c)| format!("{c:?} at character {at}"))
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(NamespaceError {
            value: format!("{:?}", excerpt(namespace)),
            reason,
        }),
    }
}

fn excerpt(s: &str) -> &str {
    s.char_indices()
        .nth(MAX_NAMESPACE_LEN)
        .map_or(s, |(at, _)| &s[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        for ok in [
            "app",
            "app-v2",
            "stratacache-test-x-0123",
            "shop[eu]",
            &"x".repeat(64),
        ] {
            assert!(validate_namespace(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "(empty)"),
            ("app:v2", "(':' at character 3)"),
            ("app:", "(':' at character 3)"),
            ("a\nb", "('\\n' at character 1)"),
            (&"x".repeat(65), "(65 bytes)"),
        ] {
            let err = validate_namespace(bad).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
            assert!(err.to_string().contains(NAMESPACE_RULE), "{err}");
        }
    }
}
