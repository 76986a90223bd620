//! The error type of this crate.

use std::fmt;

use stratacache_core::{Error, ErrorKind};

/// How many characters of an offending value an error message quotes at most.
///
/// Keys can be long (and may carry user text): messages quote only their beginning.
pub(crate) const EXCERPT_CHARS: usize = 64;

/// Which part of a key a [`KeyError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyPart {
    /// The caller's key, or the full key built from it.
    Key,
    /// The name of a [`Namespace`](crate::Namespace).
    Namespace,
    /// The version of a [`Namespace`](crate::Namespace).
    Version,
    /// A glob pattern suffix given to [`Namespace::pattern`](crate::Namespace::pattern).
    Pattern,
    /// The operation name of an AI response key.
    Operation,
}

impl KeyPart {
    /// A short lower-case name (`"key"`, `"namespace"`, `"version"`, `"pattern"`, `"operation"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Namespace => "namespace",
            Self::Version => "version",
            Self::Pattern => "pattern",
            Self::Operation => "operation",
        }
    }
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key, a key part or a key builder setting was rejected.
///
/// Messages name the part that is wrong and the limit or position involved. They quote at most the
/// first 64 characters of the offending value (with control characters escaped), never a whole
/// long key.
///
/// Converts into [`stratacache_core::Error`]: settings errors ([`OutOfRange`](Self::OutOfRange),
/// [`TiersNotAscending`](Self::TiersNotAscending)) become [`ErrorKind::Configuration`], the others
/// [`ErrorKind::InvalidInput`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The part is empty.
    #[error("{part} is empty")]
    Empty {
        /// The empty part.
        part: KeyPart,
    },
    /// The part is longer than its limit, in bytes of UTF-8.
    #[error("{part} is {len} bytes long, more than the maximum of {max} bytes (it starts with {excerpt:?})")]
    TooLong {
        /// The part that is too long.
        part: KeyPart,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
        /// Its first 64 characters.
        excerpt: String,
    },
    /// The part contains a control character (see [`char::is_control`]).
    #[error(
        "{part} contains the control character U+{code:04X} at character {position} (0-based) in {excerpt:?}"
    )]
    ControlCharacter {
        /// The part holding the character.
        part: KeyPart,
        /// The position of the character, counted in characters from 0.
        position: usize,
        /// The character's code point.
        code: u32,
        /// The first 64 characters of the part.
        excerpt: String,
    },
    /// The part contains a character it may not contain (a `:` in a namespace or version, anything but
    /// `[a-z0-9_-]` in an operation).
    #[error(
        "{part} contains the character {character:?} at character {position} (0-based) in {excerpt:?}; {rule}"
    )]
    InvalidCharacter {
        /// The part holding the character.
        part: KeyPart,
        /// The position of the character, counted in characters from 0.
        position: usize,
        /// The character.
        character: char,
        /// What the part may contain.
        rule: &'static str,
        /// The first 64 characters of the part.
        excerpt: String,
    },
    /// A namespace name breaks the rule every crate applies
    /// ([`stratacache_core::validate_namespace`]); the message is the core one.
    #[error(transparent)]
    Namespace(#[from] stratacache_core::NamespaceError),
    /// A text is longer than the configured maximum, in characters.
    #[error("text is {chars} characters long, more than the maximum of {max} characters")]
    TextTooLong {
        /// The text's length in characters (Unicode scalar values).
        chars: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A setting is outside its allowed range.
    #[error("{field} = {value} is out of range: it must be between {min} and {max} inclusive")]
    OutOfRange {
        /// The setting's name (for example `text_hash_threshold`).
        field: &'static str,
        /// The rejected value.
        value: usize,
        /// The smallest allowed value.
        min: usize,
        /// The largest allowed value.
        max: usize,
    },
    /// Text size tier thresholds are not strictly ascending.
    #[error(
        "text size tiers must be strictly ascending: {field} = {value} must be greater than {previous_field} = {previous}"
    )]
    TiersNotAscending {
        /// The threshold that is too small.
        field: &'static str,
        /// Its value.
        value: usize,
        /// The threshold before it.
        previous_field: &'static str,
        /// The value of the threshold before it.
        previous: usize,
    },
}

impl KeyError {
    /// The [`ErrorKind`] this error maps to when converted into a [`stratacache_core::Error`]:
    /// [`ErrorKind::Configuration`] for settings, [`ErrorKind::InvalidInput`] for keys and texts.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::OutOfRange { .. } | Self::TiersNotAscending { .. } => ErrorKind::Configuration,
            _ => ErrorKind::InvalidInput,
        }
    }
}

impl From<KeyError> for Error {
    fn from(err: KeyError) -> Self {
        Error::new(err.kind(), err.to_string()).with_source(err)
    }
}

/// The first [`EXCERPT_CHARS`] characters of `s`, followed by `…` when it was cut.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((at, _)) => {
            let mut out = String::with_capacity(at + 3);
            out.push_str(&s[..at]);
            out.push('…');
            out
        }
        None => s.to_owned(),
    }
}

/// Checks that `value` is neither empty, nor longer than `max` bytes, nor holds a control character.
pub(crate) fn check_common(part: KeyPart, value: &str, max: usize) -> Result<(), KeyError> {
    if value.is_empty() {
        return Err(KeyError::Empty { part });
    }
    if value.len() > max {
        return Err(KeyError::TooLong {
            part,
            len: value.len(),
            max,
            excerpt: excerpt(value),
        });
    }
    check_no_control(part, value)
}

/// Checks that `value` holds no control character.
pub(crate) fn check_no_control(part: KeyPart, value: &str) -> Result<(), KeyError> {
    match value.chars().enumerate().find(|(_, c)| c.is_control()) {
        Some((position, c)) => Err(KeyError::ControlCharacter {
            part,
            position,
            code: u32::from(c),
            excerpt: excerpt(value),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn excerpt_truncates_long_values() {
        let long = "x".repeat(1000);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt("short"), "short");
        assert_eq!(excerpt(&"é".repeat(64)), "é".repeat(64));
    }

    #[test]
    fn messages_name_the_problem() {
        let e = KeyError::Empty {
            part: KeyPart::Version,
        };
        assert_eq!(e.to_string(), "version is empty");

        let e = check_common(KeyPart::Key, &"k".repeat(2000), 1024).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("key is 2000 bytes long, more than the maximum of 1024 bytes"),
            "{msg}"
        );
        assert!(msg.len() < 200, "message echoes the key: {msg}");

        let e = check_common(KeyPart::Namespace, "ab\ncd", 64).unwrap_err();
        assert_eq!(
            e,
            KeyError::ControlCharacter {
                part: KeyPart::Namespace,
                position: 2,
                code: 0x0a,
                excerpt: "ab\ncd".into()
            }
        );
        assert_eq!(
            e.to_string(),
            r#"namespace contains the control character U+000A at character 2 (0-based) in "ab\ncd""#
        );

        let e = KeyError::OutOfRange {
            field: "text_hash_threshold",
            value: 50,
            min: 100,
            max: 10000,
        };
        assert_eq!(
            e.to_string(),
            "text_hash_threshold = 50 is out of range: it must be between 100 and 10000 inclusive"
        );
    }

    #[test]
    fn converts_into_core_error() {
        let err: Error = KeyError::Empty { part: KeyPart::Key }.into();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(err.message(), "key is empty");
        assert!(err.source().is_some());

        let err: Error = KeyError::OutOfRange {
            field: "text_hash_threshold",
            value: 1,
            min: 100,
            max: 10000,
        }
        .into();
        assert_eq!(err.kind(), ErrorKind::Configuration);

        let err: Error = KeyError::TiersNotAscending {
            field: "medium",
            value: 10,
            previous_field: "small",
            previous: 10,
        }
        .into();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(err.message().contains("medium = 10"));
    }
}
