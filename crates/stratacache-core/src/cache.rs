//! The [`Cache`] trait: the contract every backend and layer implements.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{CacheStats, Expiry, Health, Result, Ttl};

/// A cache shared between tasks and components: what factories return and the admin API holds.
pub type SharedCache = Arc<dyn Cache>;

/// An asynchronous key-value cache over byte values.
///
/// Values are [`Bytes`] at this boundary so that layers (compression, encryption, monitoring) work
/// without knowing the caller's type; typed access is provided on top by
/// [`TypedCacheExt`](crate::TypedCacheExt) and [`Typed`](crate::Typed).
///
/// The trait is object safe: `Arc<dyn Cache>` ([`SharedCache`]) is itself a `Cache`.
///
/// # Semantics every implementation follows
///
/// - A miss, an expired entry and a deleted entry all read as `Ok(None)`; errors (connection lost,
///   decryption failed, ...) are `Err`, never silently a miss.
/// - `set` overwrites. Its [`Ttl`] is resolved with [`Ttl::resolve`] against the cache's default:
///   zero and sub-millisecond TTLs are rejected with [`ErrorKind::InvalidInput`](crate::ErrorKind).
/// - `delete` is idempotent and reports whether an entry was removed.
/// - `exists` does not count as a read (no hit or miss) and does not change recency.
/// - Pattern invalidation uses [`Glob`](crate::Glob) semantics (Redis `MATCH`) on the keys as the
///   caller sees them.
/// - Hits and misses are counted on reads (`get`, `get_many`, `get_with_ttl`) only.
///
/// The conformance suite in `stratacache-testkit` checks all of this for any implementation.
#[async_trait]
pub trait Cache: Send + Sync {
    /// Reads a value; `Ok(None)` when the key is absent or expired.
    ///
    /// # Errors
    ///
    /// Backend failures (connection, timeout, decryption, ...).
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// Writes a value, replacing any previous one, living for `ttl`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for an out-of-range TTL or a
    /// value the backend cannot hold; backend failures.
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()>;

    /// Removes an entry; `Ok(true)` when it existed. Deleting a missing key is not an error.
    ///
    /// # Errors
    ///
    /// Backend failures.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Removes several entries and returns how many existed. Deleting missing keys is not an
    /// error; an empty slice removes nothing.
    ///
    /// The default implementation calls [`delete`](Cache::delete) for each key in turn; remote
    /// backends override it to remove the whole batch in one round trip (Redis: one `UNLINK`).
    /// Layers forward it, so a batch reaches the backend whole.
    ///
    /// # Errors
    ///
    /// Backend failures. Backends that cannot delete atomically may have removed some of the
    /// keys when an error is returned.
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let mut removed = 0;
        for key in keys {
            removed += u64::from(self.delete(key).await?);
        }
        Ok(removed)
    }

    /// Whether a live entry exists, without reading it, counting a hit or changing its recency.
    ///
    /// # Errors
    ///
    /// Backend failures.
    async fn exists(&self, key: &str) -> Result<bool>;

    /// The remaining lifetime of an entry: `None` when absent, [`Expiry::Never`] when it has no
    /// expiry.
    ///
    /// # Errors
    ///
    /// Backend failures.
    async fn ttl(&self, key: &str) -> Result<Option<Expiry>>;

    /// Reads a value together with its remaining lifetime (used by tiered caches to promote an
    /// entry without extending its life). Counts as a read.
    ///
    /// The default implementation calls [`get`](Cache::get) then [`ttl`](Cache::ttl); backends
    /// that can do both at once should override it (an entry that expires between the two calls
    /// reads as a miss but was counted as a hit by `get`).
    ///
    /// # Errors
    ///
    /// Backend failures.
    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        let Some(value) = self.get(key).await? else {
            return Ok(None);
        };
        Ok(self.ttl(key).await?.map(|expiry| (value, expiry)))
    }

    /// Reads several values; the result has one slot per key, in order.
    ///
    /// # Errors
    ///
    /// Backend failures; no partial result is returned.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }

    /// Writes several values with the same TTL.
    ///
    /// The TTL is validated before anything is written. Backends that cannot write atomically
    /// may have written some entries when a backend error is returned.
    ///
    /// # Errors
    ///
    /// As [`set`](Cache::set).
    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        // Reject a bad explicit TTL even for an empty batch, as backends that resolve it up front do.
        ttl.check()?;
        for (key, value) in entries {
            self.set(key, value.clone(), ttl).await?;
        }
        Ok(())
    }

    /// Removes every entry whose key matches the glob `pattern` (Redis `MATCH` syntax, see
    /// [`Glob`](crate::Glob)) and returns how many were removed.
    ///
    /// # Errors
    ///
    /// Backend failures.
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64>;

    /// Removes every entry of this cache (for a namespaced backend: of its namespace only).
    ///
    /// # Errors
    ///
    /// Backend failures.
    async fn clear(&self) -> Result<()>;

    /// Adds `key` to each of `tags` (an entry written with `ttl`, which the backend may use to
    /// let its tag records expire with their entries). Tags name groups of entries that
    /// [`remove_tagged`](Cache::remove_tagged) removes together; a tag stays on a key until the
    /// key is deleted, expires or is removed. Applications call
    /// [`TagsExt::set_with_tags`](crate::TagsExt::set_with_tags), which writes the entry first.
    ///
    /// How long a tag remembers a key differs by backend, and only after the key's entry is gone
    /// or rewritten: the memory backend forgets a key's tags when its entry is deleted, expires
    /// or is evicted; Redis keeps the key in the tag's set until it is pruned (as keys are added
    /// to the tag) or the set expires with its longest-lived entry as tagged, so an entry written
    /// again under that key without tags may still be removed with the tag, and one rewritten
    /// with a longer lifetime outlives its tag unless tagged again. Tag an entry every time it is
    /// written ([`set_with_tags`](crate::TagsExt::set_with_tags)) to get the same behaviour on
    /// every backend.
    ///
    /// The default refuses: a backend without tag support says so rather than dropping them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) by default; an invalid tag
    /// ([`validate_tag`](crate::validate_tag)) or TTL; backend failures.
    async fn add_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        let _ = (key, tags, ttl);
        Err(crate::tags::unsupported())
    }

    /// Removes every entry tagged `tag` and the tag itself, and returns the keys of the entries
    /// it removed. A [`set_with_tags`](crate::TagsExt::set_with_tags) running at the same time is
    /// either removed or keeps its entry and its tag.
    ///
    /// # Errors
    ///
    /// As [`add_tags`](Cache::add_tags).
    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        let _ = tag;
        Err(crate::tags::unsupported())
    }

    /// Takes the lease `key` for `holder` for `duration`, unless another holder has it; whether
    /// it was taken (`true` too when `holder` already had it: its lease then runs `duration`
    /// from now).
    ///
    /// A lease lets the processes sharing this cache agree on who does something: the caller
    /// that takes it computes a missing value, say, while the others wait for the value
    /// (`stratacache-compute`). It ends after `duration` unless [renewed](Cache::renew_lease),
    /// or when [released](Cache::release_lease). Leases are kept apart from entries: reads,
    /// pattern invalidation, `clear` and key counts never see them, and layers pass them on
    /// untouched (a lease holds no value to compress or encrypt). The key is the caller's, as
    /// for entries (a backend's namespace applies). `holder` is a token unique to the caller
    /// (a random id): only it can renew or release the lease.
    ///
    /// The default refuses: a backend without leases says so, and callers fall back to
    /// coordinating within their process.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) by default; an invalid holder
    /// or duration ([`validate_lease`](crate::validate_lease)); backend failures.
    async fn acquire_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        let _ = (key, holder, duration);
        Err(crate::lease::unsupported())
    }

    /// Extends the lease `key` to `duration` from now if `holder` still holds it; whether it
    /// did (`false`: the lease ran out, and may have been taken by another holder).
    ///
    /// # Errors
    ///
    /// As [`acquire_lease`](Cache::acquire_lease).
    async fn renew_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        let _ = (key, holder, duration);
        Err(crate::lease::unsupported())
    }

    /// Ends the lease `key` if `holder` holds it; whether it did (never another holder's).
    ///
    /// # Errors
    ///
    /// As [`acquire_lease`](Cache::acquire_lease).
    async fn release_lease(&self, key: &str, holder: &str) -> Result<bool> {
        let _ = (key, holder);
        Err(crate::lease::unsupported())
    }

    /// Checks that the cache can serve requests. Never fails: problems are reported in the
    /// returned [`Health`].
    async fn health(&self) -> Health;

    /// A snapshot of the cache's counters.
    ///
    /// Asynchronous because a backend may finish pending bookkeeping first (the memory backend
    /// runs moka's maintenance so that entry and byte counts are exact).
    async fn stats(&self) -> CacheStats;

    /// Closes the cache for good: releases what it opened (connections, background tasks,
    /// entries held in memory) and makes every later operation (reads, writes, removals) fail at
    /// once with an [`ErrorKind::Closed`](crate::ErrorKind::Closed) error; [`health`](Cache::health)
    /// then reports `Unhealthy` and [`stats`](Cache::stats) the counters as they were. Every clone
    /// and every handle of the cache is closed. Closing twice does nothing more.
    ///
    /// Layers forward it to the cache they wrap, and caches made of others (tiered, failover)
    /// close all of them, so closing the outermost layer closes the whole stack.
    ///
    /// The default implementation does nothing, for caches that hold nothing to release.
    ///
    /// # Errors
    ///
    /// When something could not be released (the first such error; the rest is still closed).
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

// Smart pointers to a cache are caches: every method goes to the pointee (its future returned as
// it is, see `#[forward]`).
#[crate::forward(**self)]
#[async_trait]
impl<C: Cache + ?Sized> Cache for Arc<C> {}

#[crate::forward(**self)]
#[async_trait]
impl<C: Cache + ?Sized> Cache for Box<C> {}

#[crate::forward(**self)]
#[async_trait]
impl<C: Cache + ?Sized> Cache for &C {}
