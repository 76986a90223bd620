//! [`MemoryCache`]: the moka-backed [`Cache`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use moka::future::Cache as Moka;
use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy as MokaPolicy;
use stratacache_core::{
    Bytes, Cache, CacheStats, Error, Expiry, Glob, Health, HealthStatus, Result, StatsCounters, Ttl,
    async_trait,
};

use crate::leases::Leases;
use crate::sizes::{Sizes, entry_size};
use crate::tags::TagIndex;
use crate::{EvictionPolicy, MemoryConfig};

/// A stored value and the instant it expires (`None`: never).
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) value: Bytes,
    pub(crate) expires_at: Option<Instant>,
}

impl Entry {
    /// The remaining lifetime, rounded up to whole milliseconds; `None` once expired.
    fn remaining(&self, now: Instant) -> Option<Expiry> {
        match self.expires_at {
            None => Some(Expiry::Never),
            Some(at) if at > now => {
                let left = at - now;
                Some(Expiry::After(Duration::from_millis(
                    left.as_nanos().div_ceil(1_000_000) as u64,
                )))
            }
            Some(_) => None,
        }
    }

    pub(crate) fn is_live(&self) -> bool {
        self.expires_at.is_none_or(|at| at > Instant::now())
    }
}

/// How a byte bound and an entry bound become one moka weigher.
///
/// Every entry is charged at least `ceil(max_bytes / max_entries)` bytes, so a total charge within
/// `max_bytes` implies at most `max_entries` entries. moka weights are `u32`: charges are counted in
/// units of `unit` bytes, chosen so that the whole capacity fits in 31 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ByteBound {
    /// Bytes per weight unit (1 unless `max_bytes` exceeds 2³¹).
    unit: u64,
    /// The minimum charge of an entry, in bytes.
    floor: u64,
    /// moka's capacity, in units.
    capacity: u64,
}

impl ByteBound {
    fn new(max_bytes: u64, max_entries: u64) -> Self {
        let unit = max_bytes.div_ceil(1 << 31).max(1);
        Self {
            unit,
            floor: max_bytes.div_ceil(max_entries),
            capacity: max_bytes / unit,
        }
    }

    /// The weight of an entry of `size` bytes.
    fn weight(self, size: u64) -> u32 {
        u32::try_from(size.max(self.floor).div_ceil(self.unit)).unwrap_or(u32::MAX)
    }

    /// The largest entry that fits on its own.
    fn max_entry_bytes(self) -> u64 {
        self.capacity * self.unit
    }
}

/// Per-entry expiry for moka: each entry carries its own deadline.
///
/// moka calls one of these callbacks for every value it stores, right after storing it: they also
/// count the value in [`Sizes`] (see the `sizes` module for why there).
struct PerEntryExpiry {
    sizes: Arc<Sizes>,
}

impl moka::Expiry<String, Entry> for PerEntryExpiry {
    fn expire_after_create(&self, key: &String, value: &Entry, created_at: Instant) -> Option<Duration> {
        self.sizes.added(key, &value.value);
        value
            .expires_at
            .map(|at| at.saturating_duration_since(created_at))
    }

    fn expire_after_update(
        &self,
        key: &String,
        value: &Entry,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        self.sizes.added(key, &value.value);
        value
            .expires_at
            .map(|at| at.saturating_duration_since(updated_at))
    }
}

/// An in-process cache on [moka](https://docs.rs/moka): bounded by entry count and optionally
/// by bytes, with per-entry TTLs, glob invalidation and read-only hit statistics.
///
/// Cloning is cheap and clones share the same entries. [`close`](Self::close) closes every clone.
///
/// See the [crate documentation](crate) for an example.
#[derive(Clone)]
pub struct MemoryCache {
    cache: Moka<String, Entry>,
    counters: Arc<StatsCounters>,
    /// Entries and bytes in moka's map, kept by the expiry callbacks and the eviction listener.
    sizes: Arc<Sizes>,
    config: Arc<MemoryConfig>,
    /// Largest entry (key + value bytes) accepted, from `max_bytes`.
    max_entry_bytes: Option<u64>,
    /// Set by [`MemoryCache::close`], shared by the clones.
    closed: Arc<AtomicBool>,
    /// Which keys carry which tag.
    pub(crate) tags: Arc<TagIndex>,
    /// The leases in force (apart from the entries).
    leases: Arc<Leases>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("config", &self.config)
            .field("entries", &self.sizes.entries())
            .finish_non_exhaustive()
    }
}

impl MemoryCache {
    /// A cache holding at most `max_entries` entries that never expire by default.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) when
    /// `max_entries` is 0 or above [`MAX_ENTRIES_LIMIT`](crate::MAX_ENTRIES_LIMIT).
    pub fn new(max_entries: u64) -> Result<Self> {
        Self::from_config(MemoryConfig::with_max_entries(max_entries))
    }

    /// A builder starting from [`MemoryConfig::default`].
    pub fn builder() -> MemoryCacheBuilder {
        MemoryCacheBuilder {
            config: MemoryConfig::default(),
        }
    }

    /// A cache with the given settings.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) listing every
    /// invalid setting (see [`MemoryConfig::validate`]).
    pub fn from_config(config: MemoryConfig) -> Result<Self> {
        config.validate()?;
        let counters = Arc::new(StatsCounters::default());
        let sizes = Arc::new(Sizes::default());
        let listener_counters = Arc::clone(&counters);
        let listener_sizes = Arc::clone(&sizes);
        let tags = Arc::new(TagIndex::default());
        let listener_tags = Arc::clone(&tags);
        let listener = move |key: Arc<String>, entry: Entry, cause: RemovalCause| {
            listener_sizes.removed(&key, &entry.value);
            if cause != RemovalCause::Replaced {
                listener_tags.forget_key(&key);
            }
            match cause {
                RemovalCause::Size => listener_counters.record_eviction(),
                RemovalCause::Expired => listener_counters.record_expiration(),
                // An entry already past its deadline when it was deleted, invalidated or
                // overwritten expired first: count it as such, so every expiry shows up once.
                RemovalCause::Explicit | RemovalCause::Replaced if !entry.is_live() => {
                    listener_counters.record_expiration();
                }
                RemovalCause::Explicit | RemovalCause::Replaced => {}
            }
        };
        let policy = match config.eviction {
            EvictionPolicy::Lru => MokaPolicy::lru(),
            EvictionPolicy::TinyLfu => MokaPolicy::tiny_lfu(),
        };
        let builder = Moka::builder()
            .eviction_policy(policy)
            .expire_after(PerEntryExpiry {
                sizes: Arc::clone(&sizes),
            })
            .eviction_listener(listener);
        let (cache, max_entry_bytes) = match config.max_bytes {
            None => (builder.max_capacity(config.max_entries).build(), None),
            Some(max_bytes) => {
                let bound = ByteBound::new(max_bytes, config.max_entries);
                let weigher = move |key: &String, entry: &Entry| bound.weight(entry_size(key, &entry.value));
                (
                    builder.max_capacity(bound.capacity).weigher(weigher).build(),
                    Some(bound.max_entry_bytes()),
                )
            }
        };
        Ok(Self {
            cache,
            counters,
            sizes,
            config: Arc::new(config),
            max_entry_bytes,
            closed: Arc::new(AtomicBool::new(false)),
            tags,
            leases: Arc::default(),
        })
    }

    /// The settings this cache was built with.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// The moka cache underneath.
    pub(crate) fn moka(&self) -> &Moka<String, Entry> {
        &self.cache
    }

    /// Runs moka's pending maintenance (evictions, expirations, listener notifications) now.
    /// [`Cache::stats`] does this before reporting sizes.
    ///
    /// The work is what is pending, not the size of the cache: moka applies its logs of recent
    /// reads and writes (at most a few hundred each), evicts what exceeds the bounds, removes the
    /// expired entries whose timer-wheel slot (about 1.07 s wide) has passed and delivers removal
    /// notifications interrupted by dropped futures; it stops after about 100 ms. Only a mass
    /// expiry (many entries expiring in the same slot) makes one run remove many entries, work
    /// the next write would otherwise do.
    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
    }

    /// Closes the cache (every clone): its entries are dropped, and every later operation fails
    /// at once with an [`ErrorKind::Closed`](stratacache_core::ErrorKind::Closed) error;
    /// [`Cache::health`] reports `Unhealthy`. There is no way to reopen it. Closing twice does
    /// nothing more. [`Cache::close`] does the same.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            // Frees the memory now; moka drops the entries at its next maintenance run.
            self.cache.invalidate_all();
            self.tags.clear();
            self.leases.clear();
        }
    }

    /// How many tags, and how many (tag, key) memberships, the tag index holds: it shrinks as
    /// tagged entries are deleted, expire or are evicted.
    pub fn tag_index_size(&self) -> (usize, usize) {
        self.tags.size()
    }

    /// Whether [`close`](Self::close) was called (on this cache or a clone).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// `Ok` while open; the error of every operation after [`close`](Self::close), counted.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            self.counters.record_error();
            return Err(self.closed_error());
        }
        Ok(())
    }

    fn closed_error(&self) -> Error {
        Error::closed(format_args!(
            "the memory cache (max_entries {})",
            self.config.max_entries
        ))
    }

    fn check_size(&self, key: &str, value: &Bytes) -> Result<()> {
        if let Some(max) = self.max_entry_bytes {
            let size = entry_size(key, value);
            if size > max {
                return Err(Error::invalid_input(format!(
                    "entry of {size} bytes (key and value) does not fit in a memory cache bounded to {max} bytes"
                )));
            }
        }
        Ok(())
    }

    async fn insert(&self, key: &str, value: Bytes, expires_at: Option<Instant>) {
        self.cache
            .insert(key.to_owned(), Entry { value, expires_at })
            .await;
    }

    fn deadline(&self, ttl: Ttl) -> Result<Option<Instant>> {
        Ok(ttl
            .resolve(self.config.default_ttl)?
            .duration()
            .map(|d| Instant::now() + d))
    }

    /// Counts an error result in the stats and passes it on.
    fn counted<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.counters.record_error();
        }
        result
    }

    async fn live_entry(&self, key: &str) -> Option<Entry> {
        self.cache.get(key).await.filter(Entry::is_live)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.check_open()?;
        let value = self.live_entry(key).await.map(|e| e.value);
        self.counters.record_read(value.is_some());
        Ok(value)
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.check_open()?;
        let checked = self.check_size(key, &value).and_then(|()| self.deadline(ttl));
        let expires_at = self.counted(checked)?;
        self.insert(key, value, expires_at).await;
        self.counters.record_writes(1);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.check_open()?;
        let removed = self.cache.remove(key).await.is_some_and(|e| e.is_live());
        self.counters.record_removals(u64::from(removed));
        Ok(removed)
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        self.check_open()?;
        // `contains_key` is not a read for moka: it neither updates recency nor popularity.
        Ok(self.cache.contains_key(key))
    }

    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        self.check_open()?;
        Ok(self
            .cache
            .get(key)
            .await
            .and_then(|e| e.remaining(Instant::now())))
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        self.check_open()?;
        let found = self
            .cache
            .get(key)
            .await
            .and_then(|e| e.remaining(Instant::now()).map(|r| (e.value, r)));
        self.counters.record_read(found.is_some());
        Ok(found)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.check_open()?;
        let mut out = Vec::with_capacity(keys.len());
        let mut hits = 0;
        for key in keys {
            let value = self.live_entry(key).await.map(|e| e.value);
            hits += u64::from(value.is_some());
            out.push(value);
        }
        self.counters.record_reads(hits, keys.len() as u64 - hits);
        Ok(out)
    }

    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        self.check_open()?;
        let expires_at = self.counted(self.deadline(ttl))?;
        for (key, value) in entries {
            self.counted(self.check_size(key, value))?;
        }
        for (key, value) in entries {
            self.insert(key, value.clone(), expires_at).await;
        }
        self.counters.record_writes(entries.len() as u64);
        Ok(())
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.check_open()?;
        let glob = Glob::new(pattern);
        let mut removed = 0;
        if let Some(key) = glob.literal() {
            // One key: removed directly, without walking the entries.
            removed = u64::from(self.delete(&key).await?);
            return Ok(removed);
        }
        let prefix = glob.literal_prefix();
        let matching: Vec<Arc<String>> = self
            .cache
            .iter()
            .filter(|(k, _)| k.starts_with(prefix.as_ref()) && glob.matches(k))
            .map(|(k, _)| k)
            .collect();
        for key in matching {
            if self.cache.remove(key.as_str()).await.is_some_and(|e| e.is_live()) {
                removed += 1;
            }
        }
        self.counters.record_removals(removed);
        Ok(removed)
    }

    async fn add_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        self.check_open()?;
        self.counted(stratacache_core::validate_tags(tags).and_then(|()| ttl.check()))?;
        self.tags.add(key, tags);
        // A key already gone (deleted or expired before it was tagged) carries no tag.
        if !self.cache.contains_key(key) {
            self.tags.forget_key(key);
        }
        Ok(())
    }

    async fn remove_tagged(&self, tag: &str) -> Result<Vec<String>> {
        self.check_open()?;
        self.counted(stratacache_core::validate_tag(tag))?;
        let mut removed = Vec::new();
        for key in self.tags.take(tag) {
            if self.cache.remove(key.as_str()).await.is_some_and(|e| e.is_live()) {
                removed.push(key);
            }
        }
        self.counters.record_removals(removed.len() as u64);
        Ok(removed)
    }

    async fn clear(&self) -> Result<()> {
        self.check_open()?;
        self.tags.clear();
        self.cache.run_pending_tasks().await;
        let live = self.cache.iter().filter(|(_, e)| e.is_live()).count() as u64;
        self.cache.invalidate_all();
        // moka removes invalidated entries in batches, within a time budget per maintenance run:
        // run it until nothing more goes, so that the sizes no longer count them.
        let mut left = u64::MAX;
        loop {
            self.cache.run_pending_tasks().await;
            let now = self.cache.entry_count();
            if now == 0 || now >= left {
                break;
            }
            left = now;
        }
        self.counters.record_removals(live);
        Ok(())
    }

    async fn health(&self) -> Health {
        let start = Instant::now();
        if self.is_closed() {
            return Health::new("memory", HealthStatus::Unhealthy)
                .with_message(self.closed_error().to_string())
                .with_latency(start.elapsed());
        }
        self.cache.run_pending_tasks().await;
        let entries = self.sizes.entries();
        let health = Health::new("memory", HealthStatus::Healthy).with_message(format!(
            "{entries} entries of at most {}",
            self.config.max_entries
        ));
        health.with_latency(start.elapsed())
    }

    /// Counters, plus the entries held and the bytes of their keys and values, in O(1) of the
    /// number of entries: it runs moka's pending maintenance (see
    /// [`run_pending_tasks`](MemoryCache::run_pending_tasks) for what that costs) and reads
    /// counters kept on every write and removal, never walking the entries.
    ///
    /// `entries` and `bytes` include an entry from its write until moka removes it. An expired
    /// entry is never returned by a read, but stays counted until moka's timer wheel reaches its
    /// slot, up to about a second after its deadline (the next `stats` call after that removes
    /// it); from then on the figures are exact again, and `expirations` counts it.
    /// Likewise, a `clear` under heavy concurrent writes may leave entries it hid in moka's map
    /// until moka's maintenance removes them; they take memory and are counted until then.
    async fn stats(&self) -> CacheStats {
        self.cache.run_pending_tasks().await;
        let mut stats = self.counters.snapshot("memory");
        stats.entries = Some(self.sizes.entries());
        stats.bytes = Some(self.sizes.bytes());
        stats.max_entries = Some(self.config.max_entries);
        stats.max_bytes = self.config.max_bytes;
        stats
    }

    /// [`MemoryCache::close`].
    async fn close(&self) -> Result<()> {
        MemoryCache::close(self);
        Ok(())
    }

    /// Leases of this process: they coordinate the tasks sharing this cache (other processes
    /// have their own).
    async fn acquire_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        self.check_open()?;
        self.counted(stratacache_core::validate_lease(holder, duration))?;
        Ok(self.leases.acquire(key, holder, duration, Instant::now()))
    }

    async fn renew_lease(&self, key: &str, holder: &str, duration: Duration) -> Result<bool> {
        self.check_open()?;
        self.counted(stratacache_core::validate_lease(holder, duration))?;
        Ok(self.leases.renew(key, holder, duration, Instant::now()))
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<bool> {
        self.check_open()?;
        Ok(self.leases.release(key, holder, Instant::now()))
    }
}

/// Builds a [`MemoryCache`] setting by setting; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct MemoryCacheBuilder {
    config: MemoryConfig,
}

impl MemoryCacheBuilder {
    /// Maximum number of entries.
    #[must_use]
    pub fn max_entries(mut self, max_entries: u64) -> Self {
        self.config.max_entries = max_entries;
        self
    }

    /// Maximum bytes of keys and values.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.config.max_bytes = Some(max_bytes);
        self
    }

    /// TTL of entries written with [`Ttl::Default`].
    #[must_use]
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.config.default_ttl = Some(ttl);
        self
    }

    /// The eviction policy.
    #[must_use]
    pub fn eviction(mut self, policy: EvictionPolicy) -> Self {
        self.config.eviction = policy;
        self
    }

    /// Validates the settings and builds the cache.
    ///
    /// # Errors
    ///
    /// As [`MemoryCache::from_config`].
    pub fn build(self) -> Result<MemoryCache> {
        MemoryCache::from_config(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::ByteBound;

    /// Both bounds hold for any combination: `n` entries of the minimum charge fit only when
    /// `n <= max_entries`, and the charges of the entries never undercount their bytes.
    #[test]
    fn byte_bound_enforces_both_limits() {
        for (max_bytes, max_entries) in [
            (1999, 1000),
            (1024, 1000),
            (1024, 1),
            (1 << 40, 1),
            (1 << 40, 3),
            (u64::MAX / 2, 7),
            (5000, 3),
        ] {
            let b = ByteBound::new(max_bytes, max_entries);
            let min_weight = u64::from(b.weight(1));
            assert!(
                b.capacity / min_weight <= max_entries,
                "{max_bytes}/{max_entries}: {b:?}"
            );
            assert!(b.capacity * b.unit <= max_bytes, "{b:?}");
            assert!(b.capacity <= 1 << 31, "{b:?}");
            // A charge in units never undercounts the bytes it stands for.
            for size in [1, 100, 4096, b.max_entry_bytes()] {
                assert!(u64::from(b.weight(size)) * b.unit >= size, "{size} {b:?}");
            }
            assert!(
                u64::from(b.weight(b.max_entry_bytes())) <= b.capacity,
                "largest entry fits: {b:?}"
            );
        }
    }
}
