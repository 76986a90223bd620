//! Snapshot tests of the performance statistics JSON (insta): the reference field names and
//! shapes. Inputs are deterministic (synthetic latencies, a `ManualClock`); measured latencies
//! (and slow counts) are replaced by `"[measured]"`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stratacache_core::{
    Bytes, Cache, CacheStats, CompressionStats, EncryptionStats, ErrorKind, LayerExt, Ttl,
};
use stratacache_memory::MemoryCache;
use stratacache_monitor::{ManualClock, Monitor, MonitorConfig, MonitoringLayer, Operation};

const START: Duration = Duration::from_secs(1_795_253_400); // 2026-11-21T09:30:00Z

/// Replaces measured durations (non-null) and what depends on them (slow counts) by a placeholder.
fn redact_durations(value: &mut Value) {
    const FIELDS: [&str; 9] = [
        "avg_duration",
        "median_duration",
        "max_duration",
        "min_duration",
        "p50",
        "p95",
        "p99",
        "duration",
        "slow_operations",
    ];
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if FIELDS.contains(&k.as_str()) && !v.is_null() {
                    *v = Value::from("[measured]");
                } else {
                    redact_durations(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_durations),
        _ => {}
    }
}

#[test]
fn synthetic_snapshot() {
    let clock = ManualClock::new(START);
    let m = Monitor::with_clock(MonitorConfig::default(), Arc::new(clock.clone())).unwrap();
    for i in 1..=20u64 {
        m.record_read(
            Operation::Get,
            Duration::from_micros(100 * i),
            u64::from(i % 4 != 0),
            u64::from(i % 4 == 0),
        );
    }
    m.record_latency(Operation::Set, Duration::from_millis(2));
    m.record_latency(Operation::Set, Duration::from_millis(80));
    m.record_error(Operation::Set, Duration::from_millis(1), ErrorKind::InvalidInput);
    m.record_read(Operation::GetMany, Duration::from_micros(300), 3, 1);
    m.record_error(Operation::Get, Duration::from_secs(1), ErrorKind::Timeout);
    m.record_key_generation(Duration::from_micros(40), 120);
    m.record_key_generation(Duration::from_millis(150), 5_000);
    m.record_invalidation("user:*", 12, Duration::from_millis(3), "user_update");
    m.record_invalidation("user:*", 0, Duration::from_millis(1), "");
    m.record_redis_memory(60 * 1024 * 1024);
    clock.advance(Duration::from_secs(90));

    let mut inner = CacheStats::new("tiered");
    let mut l1 = CacheStats::new("memory");
    l1.entries = Some(10);
    l1.bytes = Some(2_048);
    let mut l2 = CacheStats::new("redis");
    l2.entries = Some(25);
    inner.inner = vec![l1, l2];
    let mut c = CompressionStats::default();
    c.compressed = 3;
    c.stored_raw = 1;
    c.decompressed = 2;
    c.bytes_in = 10_000;
    c.bytes_stored = 2_500;
    c.compress_nanos = 400_000;
    c.decompress_nanos = 100_000;
    inner.compression = Some(c);
    let mut e = EncryptionStats::default();
    e.encrypted = 4;
    e.decrypted = 2;
    e.failed_authentication = 1;
    inner.encryption = Some(e);

    insta::assert_json_snapshot!("synthetic", m.snapshot(Some(&inner)));
}

#[tokio::test]
async fn layer_snapshot_over_memory() {
    let clock = ManualClock::new(START);
    let layer = MonitoringLayer::with_clock(MonitorConfig::default(), Arc::new(clock)).unwrap();
    let cache = MemoryCache::new(1_000).unwrap().layer(layer);
    let v = Bytes::from_static(b"0123456789");
    cache.set("user:1", v.clone(), Ttl::Never).await.unwrap();
    cache.set("user:2", v.clone(), Ttl::secs(60)).await.unwrap();
    cache.get("user:1").await.unwrap();
    cache.get("user:3").await.unwrap();
    cache.delete("user:2").await.unwrap();
    assert!(cache.set("x", v, Ttl::After(Duration::ZERO)).await.is_err());
    cache
        .invalidate_pattern_with_context("user:*", "logout")
        .await
        .unwrap();

    let mut json = serde_json::to_value(cache.snapshot().await).unwrap();
    redact_durations(&mut json);
    insta::assert_json_snapshot!("layer_over_memory", json);
}
