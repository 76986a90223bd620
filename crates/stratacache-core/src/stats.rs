//! Counters and health reports shared by every backend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A snapshot of a cache's counters, as returned by [`Cache::stats`](crate::Cache::stats).
///
/// Hits and misses count reads only (`get`, `get_many`, `get_with_ttl`), so writes never dilute
/// the hit ratio. Fields a backend cannot know are `None`.
///
/// The struct is `#[non_exhaustive]`: build it with [`CacheStats::new`] and set its public fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CacheStats {
    /// The backend or layer that produced the snapshot (`"memory"`, `"redis"`, `"tiered"`, ...).
    pub backend: String,
    /// Reads that found a live entry.
    pub hits: u64,
    /// Reads that found nothing (absent or expired).
    pub misses: u64,
    /// Entries written (each entry of a `set_many` counts once).
    pub writes: u64,
    /// Entries removed by `delete`, `invalidate_pattern` or `clear`.
    pub removals: u64,
    /// Entries removed to respect a capacity bound (not counting expirations or explicit removals).
    pub evictions: u64,
    /// Entries that reached the end of their TTL and were removed.
    pub expirations: u64,
    /// Operations that returned an error.
    pub errors: u64,
    /// Live entries, when known.
    pub entries: Option<u64>,
    /// Bytes used by keys and values, when known.
    pub bytes: Option<u64>,
    /// Maximum number of entries, when bounded.
    pub max_entries: Option<u64>,
    /// Maximum number of bytes, when bounded.
    pub max_bytes: Option<u64>,
    /// Compression counters, from a compression layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<CompressionStats>,
    /// Encryption counters, from an encryption layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionStats>,
    /// Snapshots of the caches this one is made of (the tiers of a tiered cache, the inner cache of
    /// a layer that keeps its own counters), outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<CacheStats>,
}

/// What an encryption layer did: operations, failures by cause, bytes and time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EncryptionStats {
    /// Values sealed (encrypted) on write.
    pub encrypted: u64,
    /// Values opened (decrypted) on read.
    pub decrypted: u64,
    /// Plaintext bytes sealed.
    pub bytes_encrypted: u64,
    /// Plaintext bytes obtained by opening.
    pub bytes_decrypted: u64,
    /// Total time spent sealing, in nanoseconds.
    pub encrypt_nanos: u64,
    /// Total time spent opening, in nanoseconds.
    pub decrypt_nanos: u64,
    /// Reads that failed authentication: wrong key, tampered data, or a value moved to another key.
    pub failed_authentication: u64,
    /// Reads of envelopes sealed under a key id the key ring does not hold.
    pub failed_unknown_key: u64,
    /// Reads of bytes that are not an envelope (plaintext), refused in strict mode.
    pub failed_not_envelope: u64,
    /// Reads of malformed envelopes (truncated, unknown version).
    pub failed_malformed: u64,
    /// Plaintext values returned in migration mode (each one logged as a warning).
    pub legacy_plaintext_reads: u64,
    /// Reads of envelopes sealed under a key other than the primary (still to be re-encrypted).
    pub old_key_reads: u64,
}

impl EncryptionStats {
    /// All failed reads, whatever the cause.
    pub fn failures(&self) -> u64 {
        self.failed_authentication
            + self.failed_unknown_key
            + self.failed_not_envelope
            + self.failed_malformed
    }
}

/// What a compression layer did to the values written through it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompressionStats {
    /// Values stored compressed.
    pub compressed: u64,
    /// Values stored as they were: below the threshold, or not smaller once compressed.
    pub stored_raw: u64,
    /// Values decompressed on read.
    pub decompressed: u64,
    /// Bytes of the values given to the layer (all writes).
    pub bytes_in: u64,
    /// Bytes handed to the inner cache for those values (headers included).
    pub bytes_stored: u64,
    /// Total time spent compressing, in nanoseconds.
    pub compress_nanos: u64,
    /// Total time spent decompressing, in nanoseconds.
    pub decompress_nanos: u64,
}

impl CompressionStats {
    /// Bytes not stored thanks to compression (`bytes_in - bytes_stored`, never negative).
    pub fn bytes_saved(&self) -> u64 {
        self.bytes_in.saturating_sub(self.bytes_stored)
    }

    /// Saved bytes as a percentage of `bytes_in` (0 when nothing was written).
    pub fn savings_percent(&self) -> f64 {
        if self.bytes_in == 0 {
            0.0
        } else {
            self.bytes_saved() as f64 * 100.0 / self.bytes_in as f64
        }
    }
}

impl CacheStats {
    /// An empty snapshot for `backend`.
    pub fn new(backend: impl Into<String>) -> Self {
        Self {
            backend: backend.into(),
            ..Self::default()
        }
    }

    /// Reads that were counted (`hits + misses`).
    pub fn reads(&self) -> u64 {
        self.hits.saturating_add(self.misses)
    }

    /// Hits divided by reads, as a fraction in `0.0..=1.0`; `None` before the first read.
    pub fn hit_ratio(&self) -> Option<f64> {
        let reads = self.reads();
        (reads > 0).then(|| (self.hits as f64 / reads as f64).min(1.0))
    }

    /// Takes the data-set figures of `holder`, the cache that holds the entries: `removals`,
    /// `evictions`, `expirations`, `entries`, `bytes`, `max_entries` and `max_bytes`. The call
    /// figures (`hits`, `misses`, `writes`, `errors`) and the rest stay as they are.
    /// For caches made of others (tiered: L2; failover: the active tier) whose callers count
    /// calls themselves.
    ///
    /// ```
    /// use stratacache_core::CacheStats;
    ///
    /// let mut l2 = CacheStats::new("redis");
    /// (l2.hits, l2.entries, l2.evictions) = (7, Some(3), 1);
    /// let mut tiered = CacheStats::new("tiered");
    /// tiered.hits = 10;
    /// tiered.take_data_set_of(&l2);
    /// assert_eq!((tiered.hits, tiered.entries, tiered.evictions), (10, Some(3), 1));
    /// ```
    pub fn take_data_set_of(&mut self, holder: &CacheStats) {
        self.removals = holder.removals;
        self.evictions = holder.evictions;
        self.expirations = holder.expirations;
        self.entries = holder.entries;
        self.bytes = holder.bytes;
        self.max_entries = holder.max_entries;
        self.max_bytes = holder.max_bytes;
    }
}

/// Lock-free counters a backend can embed to produce the common part of [`CacheStats`].
///
/// ```
/// use stratacache_core::StatsCounters;
///
/// let counters = StatsCounters::default();
/// counters.record_read(true);
/// counters.record_read(false);
/// counters.record_writes(3);
/// let stats = counters.snapshot("example");
/// assert_eq!((stats.hits, stats.misses, stats.writes), (1, 1, 3));
/// assert_eq!(stats.hit_ratio(), Some(0.5));
/// ```
#[derive(Debug, Default)]
pub struct StatsCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    removals: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    errors: AtomicU64,
}

impl StatsCounters {
    /// Counts one read: a hit when `hit`, else a miss.
    #[inline]
    pub fn record_read(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` hits and `m` misses at once (batch reads).
    pub fn record_reads(&self, hits: u64, misses: u64) {
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses.fetch_add(misses, Ordering::Relaxed);
    }

    /// Counts `n` written entries.
    #[inline]
    pub fn record_writes(&self, n: u64) {
        self.writes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` explicitly removed entries.
    pub fn record_removals(&self, n: u64) {
        self.removals.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one capacity eviction.
    pub fn record_eviction(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one expiration.
    pub fn record_expiration(&self) {
        self.expirations.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed operation.
    pub fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot with these counters; the caller fills in sizes and bounds.
    pub fn snapshot(&self, backend: impl Into<String>) -> CacheStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            hits: load(&self.hits),
            misses: load(&self.misses),
            writes: load(&self.writes),
            removals: load(&self.removals),
            evictions: load(&self.evictions),
            expirations: load(&self.expirations),
            errors: load(&self.errors),
            ..CacheStats::new(backend)
        }
    }
}

/// Whether a cache can serve requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything works.
    Healthy,
    /// Requests are served, but not as configured (for example from a fallback memory tier).
    Degraded,
    /// Requests fail.
    Unhealthy,
}

impl HealthStatus {
    /// The lower-case name, as it serializes: `"healthy"`, `"degraded"` or `"unhealthy"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of [`Cache::health`](crate::Cache::health).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Health {
    /// The overall verdict.
    pub status: HealthStatus,
    /// The backend or layer reporting (`"memory"`, `"redis"`, ...).
    pub backend: String,
    /// How long the check took.
    #[serde(with = "duration_ms")]
    pub latency: Duration,
    /// Problems and notes, human readable, free of secrets.
    pub messages: Vec<String>,
    /// Reports of the caches this one is made of (tiers), outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<Health>,
}

impl Health {
    /// A report with `status`, no messages and zero latency.
    pub fn new(backend: impl Into<String>, status: HealthStatus) -> Self {
        Self {
            status,
            backend: backend.into(),
            latency: Duration::ZERO,
            messages: Vec::new(),
            inner: Vec::new(),
        }
    }

    /// A healthy report.
    pub fn healthy(backend: impl Into<String>) -> Self {
        Self::new(backend, HealthStatus::Healthy)
    }

    /// Sets the latency.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Adds a message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.messages.push(message.into());
        self
    }

    /// Whether the status is [`HealthStatus::Healthy`].
    pub fn is_healthy(&self) -> bool {
        self.status == HealthStatus::Healthy
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_ratio_counts_reads_only() {
        let c = StatsCounters::default();
        assert_eq!(c.snapshot("m").hit_ratio(), None);
        c.record_writes(100);
        c.record_removals(7);
        c.record_read(true);
        c.record_reads(2, 1);
        let s = c.snapshot("m");
        assert_eq!(s.reads(), 4);
        assert_eq!(s.hit_ratio(), Some(0.75));
        assert_eq!(s.removals, 7);
    }

    #[test]
    fn health_serializes_latency_in_ms() {
        let h = Health::healthy("memory")
            .with_latency(Duration::from_micros(1500))
            .with_message("ok");
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["status"], "healthy");
        assert_eq!(json["latency"], 1.5);
        let back: Health = serde_json::from_value(json).unwrap();
        assert_eq!(back, h);
    }
}
