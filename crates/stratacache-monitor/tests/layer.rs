//! `MonitoringLayer` over `MemoryCache`: read-only hit ratios, errors by kind, invalidation
//! context, key generation, concurrent recording and the conformance suite.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use stratacache_core::{Bytes, Cache, ErrorKind, LayerExt, Ttl};
use stratacache_keys::AiKeyBuilder;
use stratacache_memory::MemoryCache;
use stratacache_monitor::{ManualClock, MonitorConfig, Monitored, MonitoringLayer};
use stratacache_testkit::double::{Op, Script, ScriptedCache};

fn clock() -> ManualClock {
    ManualClock::new(Duration::from_secs(1_795_253_400))
}

fn monitored(clock: &ManualClock) -> Monitored<MemoryCache> {
    let layer = MonitoringLayer::with_clock(MonitorConfig::default(), Arc::new(clock.clone())).unwrap();
    MemoryCache::new(10_000).unwrap().layer(layer)
}

#[tokio::test]
async fn hit_ratio_counts_reads_only() {
    let cache = monitored(&clock());
    let v = Bytes::from_static(b"v");
    // 4 writes, 1 delete, 1 exists, 1 ttl: none of them is a read.
    cache.set("a", v.clone(), Ttl::Never).await.unwrap();
    cache.set("b", v.clone(), Ttl::Never).await.unwrap();
    cache
        .set_many(&[("c", v.clone()), ("d", v.clone())], Ttl::Never)
        .await
        .unwrap();
    assert!(cache.delete("d").await.unwrap());
    assert!(cache.exists("a").await.unwrap());
    assert!(cache.ttl("a").await.unwrap().is_some());
    // Errors: a zero TTL is InvalidInput; failed calls are not reads either.
    assert!(
        cache
            .set("e", v.clone(), Ttl::After(Duration::ZERO))
            .await
            .is_err()
    );
    assert!(
        cache
            .set_many(&[("e", v.clone())], Ttl::After(Duration::ZERO))
            .await
            .is_err()
    );
    // Reads: get hit, get miss, get_with_ttl hit, get_many 2 hits + 2 misses.
    assert!(cache.get("a").await.unwrap().is_some());
    assert!(cache.get("zz").await.unwrap().is_none());
    assert!(cache.get_with_ttl("b").await.unwrap().is_some());
    let many = cache.get_many(&["a", "c", "d", "x"]).await.unwrap();
    assert_eq!(many.iter().filter(|v| v.is_some()).count(), 2);

    let s = cache.snapshot().await;
    assert_eq!((s.cache_hits, s.cache_misses), (4, 3));
    assert_eq!(s.hit_ratio, Some(4.0 / 7.0));
    assert!(
        (s.cache_hit_rate - 400.0 / 7.0).abs() < 1e-9,
        "percent view: {}",
        s.cache_hit_rate
    );
    // 3 set + 2 set_many + delete + exists + ttl + get×2 + get_with_ttl + get_many = 12 calls.
    assert_eq!(s.total_cache_operations, 12);
    let ops = &s.cache_operations.by_operation_type;
    assert_eq!(ops["set"].count, 3);
    assert_eq!(ops["set"].errors, 1);
    assert_eq!(ops["set_many"].errors, 1);
    assert_eq!(ops["get_many"].count, 1);
    assert_eq!((ops["get_many"].hits, ops["get_many"].misses), (2, 2));
    assert_eq!(s.cache_operations.errors, 2);
    assert_eq!(s.cache_operations.errors_by_kind.get("invalid_input"), Some(&2));
    assert_eq!(s.cache_operations.errors_by_kind.len(), 1);
    assert_eq!(s.since_start.hit_ratio, s.hit_ratio);
    // The memory backend's own counters agree on reads.
    let inner = cache.inner().stats().await;
    assert_eq!((inner.hits, inner.misses), (4, 3));
    assert_eq!(s.memory_usage.current.entries, Some(3));
    assert_eq!(s.memory_usage.status, "normal");
}

#[tokio::test]
async fn invalidations_reach_the_tracker_with_their_context() {
    let cache = monitored(&clock());
    for k in ["user:1", "user:2", "item:1"] {
        cache.set(k, Bytes::from_static(b"v"), Ttl::Never).await.unwrap();
    }
    assert_eq!(
        cache
            .invalidate_pattern_with_context("user:*", "user_update")
            .await
            .unwrap(),
        2
    );
    assert_eq!(cache.invalidate_pattern("nothing:*").await.unwrap(), 0);
    let s = cache.snapshot().await;
    assert_eq!(s.invalidation.total_invalidations, 2);
    assert_eq!(s.invalidation.total_keys_invalidated, 2);
    assert_eq!(s.cache_operations.by_operation_type["invalidate"].count, 2);
    let json = serde_json::to_value(&s.invalidation).unwrap();
    assert!(json.to_string().contains("user_update"), "{json}");
}

#[tokio::test]
async fn key_generation_is_observed() {
    let layer = MonitoringLayer::new(MonitorConfig::default()).unwrap();
    let monitor = layer.monitor();
    let keys = AiKeyBuilder::new().with_observer(monitor.clone());
    for text in ["short", "a somewhat longer text to summarize"] {
        keys.key(text, "summarize", &serde_json::Map::new()).unwrap();
    }
    let s = monitor.snapshot(None);
    let k = &s.key_generation;
    assert_eq!(k.total_operations, 2);
    assert_eq!(k.max_text_length, 35);
    assert_eq!(k.avg_text_length, Some(20.0));
    assert!(k.max_duration.unwrap() >= k.min_duration.unwrap());
    assert_eq!(k.slow_operations, 0);
    assert_eq!(s.since_start.key_generations, 2);
    // Key generation is not a cache operation.
    assert_eq!(s.total_cache_operations, 0);
}

#[test]
fn concurrent_recording_is_exact() {
    let clock = clock();
    let cache = Arc::new(monitored(&clock));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    const TASKS: usize = 16;
    const PER_TASK: usize = 500;
    rt.block_on(async {
        cache
            .set("hit", Bytes::from_static(b"v"), Ttl::Never)
            .await
            .unwrap();
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move {
                    for i in 0..PER_TASK {
                        let key = if (t + i) % 2 == 0 { "hit" } else { "miss" };
                        cache.get(key).await.unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        let s = cache.snapshot().await;
        let reads = (TASKS * PER_TASK) as u64;
        assert_eq!(s.cache_hits + s.cache_misses, reads);
        assert_eq!(s.cache_hits, reads / 2);
        assert_eq!(s.cache_operations.by_operation_type["get"].count, reads);
        assert_eq!(s.total_cache_operations, reads + 1);
        assert_eq!(s.since_start.operations, reads + 1);
    });
}

#[test]
fn invalid_configuration_is_rejected() {
    let config = MonitorConfig {
        slots: 0,
        memory_warning_bytes: 200 * 1024 * 1024,
        ..MonitorConfig::default()
    };
    let err = MonitoringLayer::new(config).unwrap_err();
    assert!(err.message().contains("slots"), "{err}");
    assert!(err.message().contains("memory thresholds"), "{err}");
    let config = MonitorConfig {
        slots: 1_440,
        retention: Duration::from_secs(60),
        ..MonitorConfig::default()
    };
    assert!(MonitoringLayer::new(config).is_err());
}

#[tokio::test]
async fn conformance_suite_passes() {
    let layer = MonitoringLayer::new(MonitorConfig::default()).unwrap();
    let make = |default_ttl: Option<Duration>| {
        let layer = layer.clone();
        async move {
            let b = MemoryCache::builder().max_entries(100_000);
            let b = match default_ttl {
                Some(ttl) => b.default_ttl(ttl),
                None => b,
            };
            b.build().unwrap().layer(layer)
        }
    };
    stratacache_testkit::conformance::run(make).await;
    let s = layer.monitor().snapshot(None);
    assert!(s.total_cache_operations > 100, "the suite went through the layer");
}

/// A memory cache whose single-key reads of keys starting with `"down"` fail with a timeout.
fn failing_reads() -> ScriptedCache {
    let cache = ScriptedCache::wrap(MemoryCache::new(100).unwrap());
    cache.script_all(
        &[Op::Get, Op::GetWithTtl],
        &Script::for_keys("down*", Script::fail(ErrorKind::Timeout, "simulated timeout")),
    );
    cache
}

/// Single-key reads derive their hits from calls, errors and misses: failed reads interleaved
/// with hits, misses and writes must count as neither.
#[tokio::test]
async fn failed_reads_are_neither_hits_nor_misses() {
    let layer = MonitoringLayer::with_clock(MonitorConfig::default(), Arc::new(clock())).unwrap();
    let cache = failing_reads().layer(layer);
    let v = Bytes::from_static(b"v");
    cache.set("a", v.clone(), Ttl::Never).await.unwrap();
    cache.set("down1", v.clone(), Ttl::Never).await.unwrap();
    // get: 3 hits, 2 misses, 2 errors; get_with_ttl: 1 hit, 1 miss, 1 error.
    for _ in 0..3 {
        assert!(cache.get("a").await.unwrap().is_some());
        assert!(cache.delete("nothing").await.is_ok());
    }
    assert!(cache.get("b").await.unwrap().is_none());
    assert!(cache.get("down1").await.is_err());
    assert!(cache.get("c").await.unwrap().is_none());
    assert!(cache.get("down2").await.is_err());
    assert!(cache.get_with_ttl("a").await.unwrap().is_some());
    assert!(cache.get_with_ttl("b").await.unwrap().is_none());
    assert!(cache.get_with_ttl("down1").await.is_err());

    let s = cache.snapshot().await;
    let ops = &s.cache_operations.by_operation_type;
    assert_eq!((ops["get"].count, ops["get"].errors), (7, 2));
    assert_eq!((ops["get"].hits, ops["get"].misses), (3, 2));
    assert_eq!((ops["get_with_ttl"].hits, ops["get_with_ttl"].misses), (1, 1));
    assert_eq!((s.cache_hits, s.cache_misses), (4, 3));
    assert_eq!(s.hit_ratio, Some(4.0 / 7.0));
    assert_eq!(s.cache_operations.errors_by_kind.get("timeout"), Some(&3));
}
