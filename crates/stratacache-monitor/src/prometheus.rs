//! Prometheus / OpenMetrics text exposition of a [`Monitor`], through `prometheus-client`.
//!
//! Each scrape builds a registry with one custom collector that owns a copy of the monitor's
//! since-start counters (read from its atomics at scrape time), so nothing is registered or
//! updated on the hot path.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use stratacache_core::CacheStats;

use crate::invalidation::AlertLevel;
use crate::monitor::Monitor;
use crate::window::{Agg, KEYGEN, KINDS, Operation, SeriesAgg, kind_name, prom_edges};

/// The `Content-Type` of [`Monitor::render_prometheus`]'s output (OpenMetrics text 1.0, which
/// Prometheus scrapes natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What one scrape reports: copies of the monitor's counters and of the inner cache's stats.
#[derive(Debug)]
struct Scrape {
    total: Agg,
    invalidations: u64,
    invalidated_keys: u64,
    alert_level: AlertLevel,
    inner: Option<CacheStats>,
    redis_memory: Option<u64>,
    auth_failures: u64,
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

fn sample(
    m: &mut MetricEncoder<'_>,
    labels: &Labels<'_>,
    encode: impl FnOnce(&mut MetricEncoder<'_>) -> fmt::Result,
) -> fmt::Result {
    if labels.is_empty() {
        encode(m)
    } else {
        encode(&mut m.encode_family(labels)?)
    }
}

fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[(Labels<'_>, u64)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in samples {
        sample(&mut m, labels, |m| {
            m.encode_counter::<NoLabelSet, u64, u64>(v, None)
        })?;
    }
    Ok(())
}

fn gauge(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[(Labels<'_>, f64)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in samples {
        sample(&mut m, labels, |m| m.encode_gauge(v))?;
    }
    Ok(())
}

fn histogram(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[(Labels<'_>, &SeriesAgg)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, series) in samples {
        // Non-cumulative counts per exported bucket, from the recording histogram (the encoder
        // accumulates them).
        let fine = &series.counts.buckets;
        let mut buckets = Vec::with_capacity(prom_edges().len() + 1);
        let mut below = 0;
        for (le, edge) in prom_edges() {
            buckets.push((le, fine[below..edge].iter().sum::<u64>()));
            below = edge;
        }
        buckets.push((f64::INFINITY, fine[below..].iter().sum()));
        let sum = series.counts.sum_nanos as f64 / 1e9;
        let count: u64 = fine.iter().sum();
        sample(&mut m, labels, |m| {
            m.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
        })?;
    }
    Ok(())
}

fn no_labels() -> Labels<'static> {
    Vec::new()
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let ops = || Operation::ALL.iter().zip(self.total.operations());
        let mut calls = Vec::new();
        for (op, s) in ops() {
            calls.push((
                vec![("op", op.as_str()), ("result", "ok")],
                s.counts.count - s.errors,
            ));
            calls.push((vec![("op", op.as_str()), ("result", "error")], s.errors));
        }
        counter(
            &mut enc,
            "stratacache_operations",
            "Cache operations by result (calls).",
            &calls,
        )?;
        let mut reads = Vec::new();
        for (op, s) in ops().filter(|(op, _)| op.is_read()) {
            reads.push((vec![("op", op.as_str()), ("result", "hit")], s.hits));
            reads.push((vec![("op", op.as_str()), ("result", "miss")], s.misses));
        }
        counter(
            &mut enc,
            "stratacache_reads",
            "Keys read, by hit or miss (per key for get_many).",
            &reads,
        )?;
        let slow: Vec<_> = ops().map(|(op, s)| (vec![("op", op.as_str())], s.slow)).collect();
        counter(
            &mut enc,
            "stratacache_slow_operations",
            "Operations slower than the threshold.",
            &slow,
        )?;
        let errors: Vec<_> = (0..=KINDS.len())
            .map(|i| (vec![("kind", kind_name(i))], self.total.errors_by_kind[i]))
            .collect();
        counter(
            &mut enc,
            "stratacache_errors",
            "Failed operations by error kind.",
            &errors,
        )?;
        let durations: Vec<_> = ops().map(|(op, s)| (vec![("op", op.as_str())], s)).collect();
        histogram(
            &mut enc,
            "stratacache_operation_duration_seconds",
            "Operation latency.",
            &durations,
        )?;
        let (hits, misses) = (self.total.hits(), self.total.misses());
        let ratio = if hits + misses == 0 {
            0.0
        } else {
            hits as f64 / (hits + misses) as f64
        };
        gauge(
            &mut enc,
            "stratacache_hit_ratio",
            "Hits / reads since start (0 before any read).",
            &[(no_labels(), ratio)],
        )?;

        let keygen = &self.total.series[KEYGEN];
        histogram(
            &mut enc,
            "stratacache_key_generation_duration_seconds",
            "AI key generation time.",
            &[(no_labels(), keygen)],
        )?;
        counter(
            &mut enc,
            "stratacache_slow_key_generations",
            "Key generations slower than the threshold.",
            &[(no_labels(), keygen.slow)],
        )?;

        counter(
            &mut enc,
            "stratacache_invalidations",
            "Pattern invalidations.",
            &[(no_labels(), self.invalidations)],
        )?;
        counter(
            &mut enc,
            "stratacache_invalidated_keys",
            "Keys removed by pattern invalidations.",
            &[(no_labels(), self.invalidated_keys)],
        )?;
        let level = match self.alert_level {
            AlertLevel::Normal => 0.0,
            AlertLevel::Warning => 1.0,
            AlertLevel::Critical => 2.0,
        };
        gauge(
            &mut enc,
            "stratacache_invalidation_alert_level",
            "Invalidation rate alert: 0 normal, 1 warning, 2 critical.",
            &[(no_labels(), level)],
        )?;

        if let Some(c) = self.inner.as_ref().and_then(|s| s.compression) {
            let values = [
                (vec![("result", "compressed")], c.compressed),
                (vec![("result", "raw")], c.stored_raw),
            ];
            counter(
                &mut enc,
                "stratacache_compression_values",
                "Values written through the compression layer.",
                &values,
            )?;
            counter(
                &mut enc,
                "stratacache_compression_bytes_in",
                "Bytes given to the compression layer.",
                &[(no_labels(), c.bytes_in)],
            )?;
            counter(
                &mut enc,
                "stratacache_compression_bytes_saved",
                "Bytes not stored thanks to compression.",
                &[(no_labels(), c.bytes_saved())],
            )?;
        }
        if let Some(e) = self.inner.as_ref().and_then(|s| s.encryption) {
            let ops = [
                (vec![("op", "encrypt")], e.encrypted),
                (vec![("op", "decrypt")], e.decrypted),
            ];
            counter(
                &mut enc,
                "stratacache_encryption_operations",
                "Values sealed and opened.",
                &ops,
            )?;
            let failures = [
                (vec![("cause", "authentication")], e.failed_authentication),
                (vec![("cause", "unknown_key")], e.failed_unknown_key),
                (vec![("cause", "not_envelope")], e.failed_not_envelope),
                (vec![("cause", "malformed")], e.failed_malformed),
            ];
            counter(
                &mut enc,
                "stratacache_encryption_failures",
                "Reads that could not be decrypted, by cause.",
                &failures,
            )?;
        }
        let inner = self.inner.as_ref();
        if let Some(n) = inner.and_then(|s| s.entries) {
            gauge(
                &mut enc,
                "stratacache_cache_entries",
                "Live entries of the inner cache.",
                &[(no_labels(), n as f64)],
            )?;
        }
        if let Some(n) = inner.and_then(|s| s.bytes) {
            gauge(
                &mut enc,
                "stratacache_cache_bytes",
                "Bytes of keys and values of the inner cache.",
                &[(no_labels(), n as f64)],
            )?;
        }
        counter(
            &mut enc,
            "stratacache_auth_failures",
            "Requests refused for a missing, empty, malformed or wrong API key.",
            &[(no_labels(), self.auth_failures)],
        )?;
        if let Some(n) = self.redis_memory {
            gauge(
                &mut enc,
                "stratacache_redis_used_memory_bytes",
                "Redis used_memory, as last recorded.",
                &[(no_labels(), n as f64)],
            )?;
        }
        Ok(())
    }
}

impl Monitor {
    /// The monitor's since-start counters in the Prometheus / OpenMetrics text format (serve it
    /// with [`CONTENT_TYPE`]). `inner_stats` adds compression, encryption and size metrics;
    /// [`Monitored::render_prometheus`](crate::Monitored::render_prometheus) passes it for you.
    /// The metrics are listed in the [crate documentation](crate#prometheus-metrics).
    pub fn render_prometheus(&self, inner_stats: Option<&CacheStats>) -> String {
        let merged = self.window.merged(self.now());
        let inv = self.invalidations.snapshot();
        let scrape = Scrape {
            total: merged.total,
            invalidations: inv.total_invalidations,
            invalidated_keys: inv.total_keys_invalidated,
            alert_level: inv.thresholds.current_alert_level,
            inner: inner_stats.cloned(),
            redis_memory: self.redis_memory(),
            auth_failures: self.auth_failures(),
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut out = String::new();
        // Writing to a String cannot fail; an encoder error would leave a partial text.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}
