//! The reference system's AI key scheme, reproduced exactly.
//!
//! `ai_cache:op:{operation}|txt:{text_id}[|opts:{8 hex}][|q:{8 hex}]`

use std::borrow::Cow;
use std::fmt::Write as _;

use md5::Md5;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::python;

/// The prefix of every reference-scheme key.
pub(crate) const PREFIX: &str = "ai_cache:";

/// The text's part of the key: the text with `|` and `:` replaced by `_` when it has at most
/// `threshold` characters, otherwise `hash:` and 16 hex digits of
/// SHA-256(text ‖ `len:{chars}` ‖ `words:{words}`).
pub(crate) fn text_id(text: &str, chars: usize, threshold: usize) -> Cow<'_, str> {
    if chars <= threshold {
        if text.contains(['|', ':']) {
            Cow::Owned(text.replace(['|', ':'], "_"))
        } else {
            Cow::Borrowed(text)
        }
    } else {
        let mut hasher = Sha256::new();
        hasher.update(text.as_bytes());
        hasher.update(format!("len:{chars}").as_bytes());
        hasher.update(format!("words:{}", python::word_count(text)).as_bytes());
        let digest = hasher.finalize();
        Cow::Owned(format!("hash:{}", hex::encode(&digest[..8])))
    }
}

/// The first 8 hex digits of the MD5 of `data`.
fn md5_8(data: &str) -> String {
    let digest = Md5::digest(data.as_bytes());
    hex::encode(&digest[..4])
}

/// The full key. `operation` has been validated, `chars` is `text`'s length in characters.
pub(crate) fn key(
    text: &str,
    chars: usize,
    operation: &str,
    options: &Map<String, Value>,
    threshold: usize,
) -> String {
    let text_id = text_id(text, chars, threshold);
    let mut key = String::with_capacity(PREFIX.len() + operation.len() + text_id.len() + 32);
    let _ = write!(key, "{PREFIX}op:{operation}|txt:{text_id}");
    if !options.is_empty() {
        let _ = write!(key, "|opts:{}", md5_8(&python::options_string(options)));
    }
    if let Some(Value::String(question)) = options.get("question")
        && !question.is_empty()
    {
        let _ = write!(key, "|q:{}", md5_8(question));
    }
    key
}

/// The prefix of every key of `operation`: `ai_cache:op:{operation}|`.
pub(crate) fn operation_prefix(operation: &str) -> String {
    format!("{PREFIX}op:{operation}|")
}
