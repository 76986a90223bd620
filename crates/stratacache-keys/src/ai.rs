//! Keys for cached AI (LLM) responses: one key per (text, operation, options).

use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stratacache_core::KeyGenObserver;
use zeroize::Zeroizing;

use crate::error::{KeyError, KeyPart, check_common, excerpt};

mod hashed;
mod reference;

/// The default [`AiKeyBuilder::text_hash_threshold`]: 1000 characters, as the reference system's key
/// generator. (The reference system's factory used 500 for its AI caches.)
pub const DEFAULT_TEXT_HASH_THRESHOLD: usize = 1000;

/// The allowed values of [`AiKeyBuilder::text_hash_threshold`]: 100 to 10000 characters, as in the
/// reference system.
pub const TEXT_HASH_THRESHOLD_RANGE: RangeInclusive<usize> = 100..=10000;

/// The maximum length of an operation name, in bytes: 64.
pub const MAX_OPERATION_LEN: usize = 64;

/// The prefix of every [`KeyScheme::Hashed`] key: `ai:v1:`.
pub const HASHED_PREFIX: &str = hashed::PREFIX;

/// The prefix of every [`KeyScheme::Reference`] key: `ai_cache:`.
pub const REFERENCE_PREFIX: &str = reference::PREFIX;

/// How [`AiKeyBuilder`] turns a request into a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScheme {
    /// The reference (Python) system's keys, reproduced exactly, so that a stratacache deployment
    /// can share a Redis database with it:
    /// `ai_cache:op:{operation}|txt:{text_id}[|opts:{8 hex}][|q:{8 hex}]`.
    ///
    /// **It stores user text in keys**: texts up to
    /// [`text_hash_threshold`](AiKeyBuilder::text_hash_threshold) characters appear verbatim (with
    /// `|` and `:` replaced by `_`), even when values are encrypted. Its keys can also be far longer
    /// than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) and contain control characters. Use it only for
    /// compatibility.
    Reference,
    /// Digests only, never user text: `ai:v1:{operation}:{text digest}:{options digest}`
    /// (the default). See [`AiKeyBuilder`] for the details.
    #[default]
    Hashed,
}

impl KeyScheme {
    /// The lower-case name: `"reference"` or `"hashed"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reference => "reference",
            Self::Hashed => "hashed",
        }
    }
}

impl fmt::Display for KeyScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds keys for cached AI responses from a text, an operation name and the operation's options.
///
/// Two schemes, chosen with [`with_scheme`](Self::with_scheme):
///
/// - [`KeyScheme::Hashed`] (the default):
///   `ai:v1:{operation}:{text digest}:{options digest}`. Both digests are 128-bit BLAKE3 outputs
///   (32 hex digits), so a key has at most 6 + 64 + 1 + 32 + 1 + 32 = 136 bytes whatever the text.
///   - The text digest hashes `"stratacache.keys.ai.v1.text\0" ‖ u64-le(byte length) ‖ UTF-8 text`;
///     the options digest hashes `"stratacache.keys.ai.v1.options\0" ‖ u64-le(byte length) ‖
///     canonical JSON`, where the canonical JSON has the keys of every object sorted, no whitespace,
///     and numbers normalised (`1`, `1.0` and `1e0` are the same option; other floats in shortest
///     scientific form). The domain tags and length prefixes keep a text and an options object from
///     ever hashing the same input.
///   - Why 128 bits: among a trillion (10^12) distinct texts the chance of any accidental collision
///     is about n²/2^129 ≈ 10^-15, and finding a collision on purpose (to poison the cache) takes
///     about 2^64 hash evaluations. The options digest gets the same length because options can be
///     attacker-controlled too; 64 bits would fall to a 2^32-step birthday search.
///   - With a secret ([`with_secret`](Self::with_secret)) the digests are `blake3::keyed_hash`
///     outputs: without the secret, nobody can test whether a guessed text is in the cache (an
///     unkeyed digest of a short or predictable text can be found by hashing guesses). Use a secret
///     whenever values are encrypted, so keys leak no more than values. The secret never appears in
///     `Debug` output. Keys made with different secrets (or none) never match each other.
/// - [`KeyScheme::Reference`]: the reference system's format, exactly (see the crate documentation
///   for the algorithm and its test vectors). It stores short texts in the key in clear.
///
/// Operations must be 1 to 64 characters of `[a-z0-9_-]` in both schemes, so that
/// [`operation_pattern`](Self::operation_pattern) is a safe glob for invalidating one operation.
///
/// Text lengths are counted in characters (Unicode scalar values), as Python's `len(str)`.
///
/// ```
/// use serde_json::{Map, json};
/// use stratacache_keys::{AiKeyBuilder, KeyScheme};
///
/// # fn main() -> Result<(), stratacache_keys::KeyError> {
/// let options = json!({"max_length": 100});
/// let options = options.as_object().expect("an object");
///
/// let reference = AiKeyBuilder::new().with_scheme(KeyScheme::Reference);
/// assert_eq!(
///     reference.key("Sample document", "summarize", options)?,
///     "ai_cache:op:summarize|txt:Sample document|opts:5104236b"
/// );
///
/// let hashed = AiKeyBuilder::new().with_secret([7; 32]);
/// let key = hashed.key("Sample document", "summarize", options)?;
/// assert!(key.starts_with("ai:v1:summarize:"));
/// assert!(!key.contains("Sample"));
/// assert_eq!(hashed.operation_pattern("summarize")?, "ai:v1:summarize:*");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AiKeyBuilder {
    scheme: KeyScheme,
    text_hash_threshold: usize,
    max_text_length: Option<usize>,
    secret: Option<Zeroizing<[u8; 32]>>,
    observer: Option<Arc<dyn KeyGenObserver>>,
}

impl Default for AiKeyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AiKeyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AiKeyBuilder");
        d.field("scheme", &self.scheme)
            .field("text_hash_threshold", &self.text_hash_threshold)
            .field("max_text_length", &self.max_text_length)
            .field("keyed", &self.secret.is_some());
        if self.secret.is_some() {
            d.field("secret", &format_args!("<redacted>"));
        }
        d.field("observer", &self.observer.is_some()).finish()
    }
}

impl AiKeyBuilder {
    /// A builder with the [`Hashed`](KeyScheme::Hashed) scheme, no secret, a text hash threshold of
    /// [`DEFAULT_TEXT_HASH_THRESHOLD`], no maximum text length and no observer.
    pub fn new() -> Self {
        Self {
            scheme: KeyScheme::Hashed,
            text_hash_threshold: DEFAULT_TEXT_HASH_THRESHOLD,
            max_text_length: None,
            secret: None,
            observer: None,
        }
    }

    /// Sets the key scheme.
    #[must_use]
    pub fn with_scheme(mut self, scheme: KeyScheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// Sets the length, in characters, up to which the [`Reference`](KeyScheme::Reference) scheme
    /// keeps a text verbatim in the key (longer texts are hashed). The reference system's default is
    /// 1000; its factory used 500 for AI caches. Has no effect on the [`Hashed`](KeyScheme::Hashed)
    /// scheme, which always hashes.
    ///
    /// # Errors
    ///
    /// [`KeyError::OutOfRange`] (field `text_hash_threshold`) if `threshold` is outside
    /// [`TEXT_HASH_THRESHOLD_RANGE`] (100 to 10000).
    pub fn with_text_hash_threshold(mut self, threshold: usize) -> Result<Self, KeyError> {
        if !TEXT_HASH_THRESHOLD_RANGE.contains(&threshold) {
            return Err(KeyError::OutOfRange {
                field: "text_hash_threshold",
                value: threshold,
                min: *TEXT_HASH_THRESHOLD_RANGE.start(),
                max: *TEXT_HASH_THRESHOLD_RANGE.end(),
            });
        }
        self.text_hash_threshold = threshold;
        Ok(self)
    }

    /// Sets the maximum text length, in characters; [`key`](Self::key) rejects longer texts. `None`
    /// (the default) accepts any length. The reference system's AI presets used 50000 (development)
    /// and 200000 (production).
    #[must_use]
    pub fn with_max_text_length(mut self, max: Option<usize>) -> Self {
        self.max_text_length = max;
        self
    }

    /// Keys the [`Hashed`](KeyScheme::Hashed) scheme's digests with a 32-byte secret
    /// (`blake3::keyed_hash`). The [`Reference`](KeyScheme::Reference) scheme ignores it.
    ///
    /// Keep the secret stable: changing it makes every existing key unreachable.
    #[must_use]
    pub fn with_secret(mut self, secret: [u8; 32]) -> Self {
        self.secret = Some(Zeroizing::new(secret));
        self
    }

    /// Sets the observer told how long each key generation took.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn KeyGenObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The key scheme.
    pub fn scheme(&self) -> KeyScheme {
        self.scheme
    }

    /// The reference scheme's text hash threshold, in characters.
    pub fn text_hash_threshold(&self) -> usize {
        self.text_hash_threshold
    }

    /// The maximum text length in characters, if any.
    pub fn max_text_length(&self) -> Option<usize> {
        self.max_text_length
    }

    /// Whether a secret is set (it only affects the [`Hashed`](KeyScheme::Hashed) scheme).
    pub fn is_keyed(&self) -> bool {
        self.secret.is_some()
    }

    /// The key of the response to `operation` applied to `text` with `options`.
    ///
    /// # Errors
    ///
    /// - [`KeyError`] with [`KeyPart::Operation`] if `operation` is empty, longer than
    ///   [`MAX_OPERATION_LEN`] bytes, or holds a character outside `[a-z0-9_-]`;
    /// - [`KeyError::TextTooLong`] if `text` has more characters than the
    ///   [`max_text_length`](Self::with_max_text_length).
    pub fn key(&self, text: &str, operation: &str, options: &Map<String, Value>) -> Result<String, KeyError> {
        let start = self.observer.as_ref().map(|_| Instant::now());
        check_operation(operation)?;
        let chars = text.chars().count();
        if let Some(max) = self.max_text_length
            && chars > max
        {
            return Err(KeyError::TextTooLong { chars, max });
        }
        let key = match self.scheme {
            KeyScheme::Reference => reference::key(text, chars, operation, options, self.text_hash_threshold),
            KeyScheme::Hashed => hashed::key(self.secret.as_deref(), text, operation, options),
        };
        if let (Some(observer), Some(start)) = (&self.observer, start) {
            observer.on_key_generated(start.elapsed(), chars);
        }
        Ok(key)
    }

    /// The prefix shared by every key of `operation`: `ai_cache:op:{operation}|` (reference) or
    /// `ai:v1:{operation}:` (hashed).
    ///
    /// # Errors
    ///
    /// [`KeyError`] with [`KeyPart::Operation`] for an invalid operation, as [`key`](Self::key).
    pub fn operation_prefix(&self, operation: &str) -> Result<String, KeyError> {
        check_operation(operation)?;
        Ok(match self.scheme {
            KeyScheme::Reference => reference::operation_prefix(operation),
            KeyScheme::Hashed => hashed::operation_prefix(operation),
        })
    }

    /// The glob pattern matching every key of `operation`, to invalidate it:
    /// `ai_cache:op:{operation}|*` (reference) or `ai:v1:{operation}:*` (hashed). Operations hold no
    /// glob metacharacters, so no escaping is needed.
    ///
    /// # Errors
    ///
    /// [`KeyError`] with [`KeyPart::Operation`] for an invalid operation, as [`key`](Self::key).
    pub fn operation_pattern(&self, operation: &str) -> Result<String, KeyError> {
        let mut pattern = self.operation_prefix(operation)?;
        pattern.push('*');
        Ok(pattern)
    }

    /// The glob pattern matching every key of this scheme: `ai_cache:*` or `ai:v1:*`.
    pub fn pattern_all(&self) -> &'static str {
        match self.scheme {
            KeyScheme::Reference => "ai_cache:*",
            KeyScheme::Hashed => "ai:v1:*",
        }
    }
}

/// Checks an operation name: 1 to [`MAX_OPERATION_LEN`] bytes of `[a-z0-9_-]`.
fn check_operation(operation: &str) -> Result<(), KeyError> {
    check_common(KeyPart::Operation, operation, MAX_OPERATION_LEN)?;
    match operation
        .chars()
        .enumerate()
        .find(|(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        Some((position, character)) => Err(KeyError::InvalidCharacter {
            part: KeyPart::Operation,
            position,
            character,
            rule: "operations may contain only a-z, 0-9, '_' and '-'",
            excerpt: excerpt(operation),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
