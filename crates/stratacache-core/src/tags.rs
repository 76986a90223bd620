//! Tags: groups of entries removed together ([`Cache::add_tags`], [`Cache::remove_tagged`]), and
//! what applications call ([`TagsExt`]).

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Cache, Error, ErrorKind, Result, Ttl};

/// The longest tag, in characters (as the admin API's OpenAPI document counts; at most 1 KiB of
/// UTF-8).
pub const MAX_TAG_LEN: usize = 256;
/// The most tags one entry may be given at once.
pub const MAX_TAGS: usize = 64;

/// Checks a tag: 1 to [`MAX_TAG_LEN`] characters, no control characters.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] naming the tag and the rule.
pub fn validate_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN || tag.chars().any(char::is_control) {
        return Err(Error::invalid_input(format!(
            "invalid tag {:?}: a tag is 1 to {MAX_TAG_LEN} characters without control characters",
            tag.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

/// Checks every tag of one entry ([`validate_tag`]) and that there are at most [`MAX_TAGS`].
///
/// # Errors
///
/// As [`validate_tag`]; [`ErrorKind::InvalidInput`] for too many tags.
pub fn validate_tags(tags: &[&str]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid_input(format!(
            "{} tags: an entry may be given at most {MAX_TAGS} at once",
            tags.len()
        )));
    }
    tags.iter().try_for_each(|tag| validate_tag(tag))
}

pub(crate) fn unsupported() -> Error {
    Error::new(ErrorKind::Unsupported, "this cache does not support tags")
}

/// Tagged writes and tag invalidation, for every [`Cache`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
/// # use stratacache_core::{Bytes, Cache, TagsExt, Ttl};
/// # async fn example(cache: &dyn Cache) -> stratacache_core::Result<()> {
/// cache.set_with_tags("user:1:profile", Bytes::from_static(b"..."), Ttl::secs(600), &["user:1"]).await?;
/// cache.set_with_tags("user:1:orders", Bytes::from_static(b"..."), Ttl::secs(600), &["user:1", "orders"]).await?;
/// assert_eq!(cache.invalidate_tag("user:1").await?, 2);
/// # Ok(()) }
/// # Ok(()) }
/// ```
#[async_trait]
pub trait TagsExt: Cache {
    /// Writes `value` under `key` (through every layer, as [`Cache::set`]), then adds `key` to
    /// `tags` ([`Cache::add_tags`]).
    ///
    /// # Errors
    ///
    /// An invalid tag before anything is written; then those of `set` and `add_tags`.
    async fn set_with_tags(&self, key: &str, value: Bytes, ttl: Ttl, tags: &[&str]) -> Result<()> {
        validate_tags(tags)?;
        self.set(key, value, ttl).await?;
        if tags.is_empty() {
            return Ok(());
        }
        self.add_tags(key, tags, ttl).await
    }

    /// Removes every entry tagged `tag` ([`Cache::remove_tagged`]) and returns how many.
    ///
    /// # Errors
    ///
    /// An invalid tag; those of `remove_tagged`.
    async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        validate_tag(tag)?;
        Ok(self.remove_tagged(tag).await?.len() as u64)
    }
}

impl<C: Cache + ?Sized> TagsExt for C {}
