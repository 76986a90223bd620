//! [`PerformanceSnapshot`]: the reference system's `get_performance_stats()` document.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratacache_core::{CacheStats, CompressionStats, EncryptionStats, format_timestamp};

use crate::invalidation::InvalidationStats;
use crate::monitor::Monitor;
use crate::window::{KEYGEN, Operation, SeriesAgg, kind_name};

/// The monitor's statistics at one instant, with the reference system's field names (section 7
/// of the reference). Durations are in seconds (`f64`), `null` when nothing was measured.
///
/// Counts, hit ratio and timings cover the retention window (default: the last hour);
/// [`since_start`](Self::since_start) has the totals since the monitor started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PerformanceSnapshot {
    /// When the snapshot was taken, ISO 8601 UTC (`2026-11-21T09:30:00Z`).
    pub timestamp: String,
    /// The retention window, in hours.
    pub retention_hours: f64,
    /// Hits as a PERCENTAGE of reads (`0..=100`; 0 before the first read), as the reference.
    /// Reads are `get`, each key of `get_many`, and `get_with_ttl`: writes never dilute it.
    pub cache_hit_rate: f64,
    /// Hits as a FRACTION of reads (`0..=1`), `null` before the first read.
    pub hit_ratio: Option<f64>,
    /// Cache operations (calls, failed ones included) in the window.
    pub total_cache_operations: u64,
    /// Reads that found an entry, in the window (per key for `get_many`).
    pub cache_hits: u64,
    /// Reads that found nothing, in the window (per key for `get_many`).
    pub cache_misses: u64,
    /// Key generation timings (from [`Monitor`] as a `KeyGenObserver`).
    pub key_generation: KeyGenerationStats,
    /// Cache operation timings, per operation and overall.
    pub cache_operations: CacheOperationStats,
    /// Compression figures of the inner cache's compression layer, `null` without one.
    pub compression: Option<CompressionSection>,
    /// Memory use of the inner cache and Redis, against the thresholds.
    pub memory_usage: MemoryUsage,
    /// Invalidation analytics.
    pub invalidation: InvalidationStats,
    /// The inner cache's encryption counters, `null` without an encryption layer.
    pub encryption: Option<EncryptionStats>,
    /// Totals since the monitor started (not limited to the window).
    pub since_start: SinceStart,
}

/// The `key_generation` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyGenerationStats {
    /// Keys generated in the window.
    pub total_operations: u64,
    /// Mean duration, seconds.
    pub avg_duration: Option<f64>,
    /// Median duration (histogram estimate, within 6.25 %), seconds.
    pub median_duration: Option<f64>,
    /// Longest duration (exact), seconds.
    pub max_duration: Option<f64>,
    /// Shortest duration (exact), seconds.
    pub min_duration: Option<f64>,
    /// Mean text length, in characters.
    pub avg_text_length: Option<f64>,
    /// Longest text, in characters.
    pub max_text_length: u64,
    /// Generations slower than `slow_key_generation_threshold`.
    pub slow_operations: u64,
}

/// The `cache_operations` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CacheOperationStats {
    /// Operations in the window.
    pub total_operations: u64,
    /// Mean duration, seconds.
    pub avg_duration: Option<f64>,
    /// Median duration (histogram estimate), seconds.
    pub median_duration: Option<f64>,
    /// Longest duration (exact), seconds.
    pub max_duration: Option<f64>,
    /// Shortest duration (exact), seconds.
    pub min_duration: Option<f64>,
    /// 50th percentile (same as `median_duration`), seconds.
    pub p50: Option<f64>,
    /// 95th percentile (histogram estimate), seconds.
    pub p95: Option<f64>,
    /// 99th percentile (histogram estimate), seconds.
    pub p99: Option<f64>,
    /// Operations slower than `slow_operation_threshold`.
    pub slow_operations: u64,
    /// Operations that returned an error.
    pub errors: u64,
    /// Per operation (`get`, `set`, ...), only those called in the window.
    pub by_operation_type: BTreeMap<String, OperationStats>,
    /// Errors per [`ErrorKind::as_str`](stratacache_core::ErrorKind::as_str) (only kinds seen).
    pub errors_by_kind: BTreeMap<String, u64>,
}

/// One entry of `by_operation_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OperationStats {
    /// Calls, failed ones included.
    pub count: u64,
    /// Mean duration, seconds.
    pub avg_duration: Option<f64>,
    /// Longest duration, seconds.
    pub max_duration: Option<f64>,
    /// Shortest duration, seconds.
    pub min_duration: Option<f64>,
    /// 50th percentile, seconds.
    pub p50: Option<f64>,
    /// 95th percentile, seconds.
    pub p95: Option<f64>,
    /// 99th percentile, seconds.
    pub p99: Option<f64>,
    /// Calls that returned an error.
    pub errors: u64,
    /// Calls slower than the threshold.
    pub slow_operations: u64,
    /// Hits (reads only).
    pub hits: u64,
    /// Misses (reads only).
    pub misses: u64,
}

/// The `compression` section, derived from the inner cache's [`CompressionStats`] (lifetime
/// counters of the compression layer, not limited to the window).
///
/// A ratio is stored bytes divided by original bytes (lower is better). The layer keeps aggregate
/// counters, not per-value samples, so `median_compression_ratio`, `best_compression_ratio`,
/// `worst_compression_ratio` and `max_compression_time` are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompressionSection {
    /// Values written through the layer (compressed or stored raw).
    pub total_operations: u64,
    /// Values stored compressed.
    pub values_compressed: u64,
    /// Values stored raw (below the threshold or incompressible).
    pub values_stored_raw: u64,
    /// Values decompressed on read.
    pub values_decompressed: u64,
    /// `total_bytes_stored / total_bytes_processed`, `null` before the first write.
    pub avg_compression_ratio: Option<f64>,
    /// Unknown from aggregate counters: `null`.
    pub median_compression_ratio: Option<f64>,
    /// Unknown from aggregate counters: `null`.
    pub best_compression_ratio: Option<f64>,
    /// Unknown from aggregate counters: `null`.
    pub worst_compression_ratio: Option<f64>,
    /// Mean time spent encoding a written value, seconds.
    pub avg_compression_time: Option<f64>,
    /// Unknown from aggregate counters: `null`.
    pub max_compression_time: Option<f64>,
    /// Mean time spent decompressing a value, seconds.
    pub avg_decompression_time: Option<f64>,
    /// Bytes given to the layer.
    pub total_bytes_processed: u64,
    /// Bytes handed to the cache below it.
    pub total_bytes_stored: u64,
    /// `total_bytes_processed - total_bytes_stored`.
    pub total_bytes_saved: u64,
    /// Saved bytes as a percentage of processed bytes.
    pub overall_savings_percent: f64,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn nanos_avg(nanos: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| nanos as f64 / n as f64 / 1e9)
}

impl From<&CompressionStats> for CompressionSection {
    fn from(c: &CompressionStats) -> Self {
        let writes = c.compressed + c.stored_raw;
        Self {
            total_operations: writes,
            values_compressed: c.compressed,
            values_stored_raw: c.stored_raw,
            values_decompressed: c.decompressed,
            avg_compression_ratio: ratio(c.bytes_stored, c.bytes_in),
            median_compression_ratio: None,
            best_compression_ratio: None,
            worst_compression_ratio: None,
            avg_compression_time: nanos_avg(c.compress_nanos, writes),
            max_compression_time: None,
            avg_decompression_time: nanos_avg(c.decompress_nanos, c.decompressed),
            total_bytes_processed: c.bytes_in,
            total_bytes_stored: c.bytes_stored,
            total_bytes_saved: c.bytes_saved(),
            overall_savings_percent: c.savings_percent(),
        }
    }
}

/// The `memory_usage` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryUsage {
    /// Current figures.
    pub current: MemoryCurrent,
    /// The thresholds of `status`.
    pub thresholds: MemoryThresholds,
    /// `normal`, `warning` or `critical` from the largest of `bytes` and
    /// `redis_used_memory_bytes`; `unknown` when neither is known.
    pub status: String,
}

/// Current memory figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryCurrent {
    /// Live entries of the inner cache (summed over its tiers when it reports none itself).
    pub entries: Option<u64>,
    /// Bytes of keys and values of the inner cache (likewise).
    pub bytes: Option<u64>,
    /// Redis `used_memory`, when recorded with [`Monitor::record_redis_memory`].
    pub redis_used_memory_bytes: Option<u64>,
    /// Per tier of the inner cache (its `CacheStats::inner`), outermost first.
    pub tiers: Vec<TierMemory>,
}

/// The memory figures of one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TierMemory {
    /// The tier's backend name.
    pub backend: String,
    /// Its live entries.
    pub entries: Option<u64>,
    /// Its bytes.
    pub bytes: Option<u64>,
}

/// Memory thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryThresholds {
    /// From this many bytes the status is `warning`.
    pub warning_bytes: u64,
    /// From this many bytes the status is `critical`.
    pub critical_bytes: u64,
}

/// Totals since the monitor started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SinceStart {
    /// Cache operations.
    pub operations: u64,
    /// Of which failed.
    pub errors: u64,
    /// Read hits.
    pub hits: u64,
    /// Read misses.
    pub misses: u64,
    /// `hits / (hits + misses)`, `null` before the first read.
    pub hit_ratio: Option<f64>,
    /// Slow cache operations.
    pub slow_operations: u64,
    /// Keys generated.
    pub key_generations: u64,
}

fn secs(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64())
}

fn operation_stats(s: &SeriesAgg) -> OperationStats {
    let c = &s.counts;
    OperationStats {
        count: c.count,
        avg_duration: secs(c.mean()),
        max_duration: secs(c.max()),
        min_duration: secs(c.min()),
        p50: secs(c.quantile(0.5)),
        p95: secs(c.quantile(0.95)),
        p99: secs(c.quantile(0.99)),
        errors: s.errors,
        slow_operations: s.slow,
        hits: s.hits,
        misses: s.misses,
    }
}

fn sum_option(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, v) => v,
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, None) => a,
    })
}

fn memory_usage(monitor: &Monitor, inner: Option<&CacheStats>) -> MemoryUsage {
    let config = monitor.config();
    let tiers: Vec<TierMemory> = inner
        .map(|s| {
            s.inner
                .iter()
                .map(|t| TierMemory {
                    backend: t.backend.clone(),
                    entries: t.entries,
                    bytes: t.bytes,
                })
                .collect()
        })
        .unwrap_or_default();
    let entries = inner.and_then(|s| s.entries.or_else(|| sum_option(tiers.iter().map(|t| t.entries))));
    let bytes = inner.and_then(|s| s.bytes.or_else(|| sum_option(tiers.iter().map(|t| t.bytes))));
    let redis = monitor.redis_memory();
    let status = match bytes.max(redis) {
        None => "unknown",
        Some(b) if b >= config.memory_critical_bytes => "critical",
        Some(b) if b >= config.memory_warning_bytes => "warning",
        Some(_) => "normal",
    };
    MemoryUsage {
        current: MemoryCurrent {
            entries,
            bytes,
            redis_used_memory_bytes: redis,
            tiers,
        },
        thresholds: MemoryThresholds {
            warning_bytes: config.memory_warning_bytes,
            critical_bytes: config.memory_critical_bytes,
        },
        status: status.to_owned(),
    }
}

impl Monitor {
    /// The statistics now. `inner_stats` is the wrapped cache's [`CacheStats`] (for compression,
    /// encryption and memory figures); [`Monitored::snapshot`](crate::Monitored::snapshot) passes
    /// it for you.
    pub fn snapshot(&self, inner_stats: Option<&CacheStats>) -> PerformanceSnapshot {
        let now = self.now();
        let merged = self.window.merged(now);
        let w = &merged.window;
        let (hits, misses) = (w.hits(), w.misses());
        let all = w.all_operations();
        let keygen = &w.series[KEYGEN];
        let total = &merged.total;
        let total_all = total.all_operations();
        let by_operation_type = Operation::ALL
            .iter()
            .zip(w.operations())
            .filter(|(_, s)| s.counts.count > 0)
            .map(|(op, s)| (op.as_str().to_owned(), operation_stats(s)))
            .collect();
        let errors_by_kind = w
            .errors_by_kind
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (kind_name(i).to_owned(), *n))
            .collect();
        let hit_ratio = ratio(hits, hits + misses);
        PerformanceSnapshot {
            timestamp: format_timestamp(now),
            retention_hours: self.config.retention.as_secs_f64() / 3_600.0,
            cache_hit_rate: hit_ratio.map_or(0.0, |r| r * 100.0),
            hit_ratio,
            total_cache_operations: all.counts.count,
            cache_hits: hits,
            cache_misses: misses,
            key_generation: KeyGenerationStats {
                total_operations: keygen.counts.count,
                avg_duration: secs(keygen.counts.mean()),
                median_duration: secs(keygen.counts.quantile(0.5)),
                max_duration: secs(keygen.counts.max()),
                min_duration: secs(keygen.counts.min()),
                avg_text_length: ratio(w.text_len_sum, keygen.counts.count),
                max_text_length: w.text_len_max,
                slow_operations: keygen.slow,
            },
            cache_operations: CacheOperationStats {
                total_operations: all.counts.count,
                avg_duration: secs(all.counts.mean()),
                median_duration: secs(all.counts.quantile(0.5)),
                max_duration: secs(all.counts.max()),
                min_duration: secs(all.counts.min()),
                p50: secs(all.counts.quantile(0.5)),
                p95: secs(all.counts.quantile(0.95)),
                p99: secs(all.counts.quantile(0.99)),
                slow_operations: all.slow,
                errors: all.errors,
                by_operation_type,
                errors_by_kind,
            },
            compression: inner_stats
                .and_then(|s| s.compression.as_ref())
                .map(CompressionSection::from),
            memory_usage: memory_usage(self, inner_stats),
            invalidation: self.invalidations.snapshot(),
            encryption: inner_stats.and_then(|s| s.encryption),
            since_start: SinceStart {
                operations: total_all.counts.count,
                errors: total_all.errors,
                hits: total_all.hits,
                misses: total_all.misses,
                hit_ratio: ratio(total_all.hits, total_all.hits + total_all.misses),
                slow_operations: total_all.slow,
                key_generations: total.series[KEYGEN].counts.count,
            },
        }
    }
}
