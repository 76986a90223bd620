//! Behaviour specific to the memory backend: bounds, eviction order, byte accounting, expirations
//! in the statistics and configuration errors.

// Test code: helpers outside `#[test]` functions fail the test by unwrapping too.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use stratacache_core::{Bytes, Cache, ErrorKind, Ttl};
use stratacache_memory::{EvictionPolicy, MAX_ENTRIES_LIMIT, MemoryCache, MemoryConfig};

fn value(len: usize) -> Bytes {
    Bytes::from(vec![b'v'; len])
}

#[tokio::test]
async fn entry_count_bound_evicts() {
    let cache = MemoryCache::new(100).unwrap();
    for i in 0..300 {
        cache.set(&format!("k{i}"), value(10), Ttl::Never).await.unwrap();
    }
    let stats = cache.stats().await;
    let entries = stats.entries.unwrap();
    assert!(entries <= 100, "{entries} entries in a cache bounded to 100");
    assert!(
        stats.evictions > 0,
        "no evictions counted after 300 writes into 100 slots: {stats:?}"
    );
    assert_eq!(stats.writes, 300);
    assert_eq!(
        entries + stats.evictions,
        300,
        "every write is either live or evicted: {stats:?}"
    );
    assert_eq!(stats.max_entries, Some(100));
}

#[tokio::test]
async fn byte_bound_evicts() {
    let max_bytes = 64 * 1024;
    let cache = MemoryCache::builder().max_bytes(max_bytes).build().unwrap();
    for i in 0..200 {
        cache
            .set(&format!("k{i:03}"), value(1024), Ttl::Never)
            .await
            .unwrap();
    }
    let stats = cache.stats().await;
    let (entries, bytes) = (stats.entries.unwrap(), stats.bytes.unwrap());
    assert!(
        bytes <= max_bytes,
        "{bytes} bytes held in a cache bounded to {max_bytes}"
    );
    assert!(
        entries <= max_bytes / 1024,
        "{entries} entries of 1 KiB in {max_bytes} bytes"
    );
    assert!(entries > 0, "the byte bound emptied the cache");
    assert_eq!(
        bytes,
        entries * (4 + 1024),
        "bytes must be the keys and values of the live entries: {stats:?}"
    );
    assert!(stats.evictions > 0, "no evictions counted: {stats:?}");
    assert_eq!(stats.max_bytes, Some(max_bytes));
}

/// With both bounds, the entry bound holds even when `max_bytes / max_entries` is not a whole number
/// of bytes or does not fit moka's 32-bit weights.
#[tokio::test]
async fn entry_bound_holds_alongside_any_byte_bound() {
    for (max_entries, max_bytes) in [(1000, 1999), (10, 1 << 40), (1, 1 << 40)] {
        let cache = MemoryCache::builder()
            .max_entries(max_entries)
            .max_bytes(max_bytes)
            .build()
            .unwrap();
        for i in 0..3 * max_entries {
            cache.set(&format!("k{i}"), value(1), Ttl::Never).await.unwrap();
        }
        let stats = cache.stats().await;
        let entries = stats.entries.unwrap();
        assert!(
            entries <= max_entries,
            "{entries} entries with max_entries {max_entries}, max_bytes {max_bytes}"
        );
        assert!(entries > 0, "the cache kept nothing: {stats:?}");
    }
}

#[tokio::test]
async fn an_entry_larger_than_max_bytes_is_refused() {
    let cache = MemoryCache::builder().max_bytes(4096).build().unwrap();
    cache.set("existing", value(100), Ttl::Never).await.unwrap();
    let err = cache.set("big", value(4096), Ttl::Never).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.message().contains("does not fit"), "{err}");
    assert!(!cache.exists("big").await.unwrap());

    // In a batch, nothing is written.
    let batch = [("small", value(10)), ("big", value(5000))];
    assert_eq!(
        cache.set_many(&batch, Ttl::Never).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert!(!cache.exists("small").await.unwrap());
    assert!(!cache.exists("big").await.unwrap());

    // Overwriting with a too-large value keeps the old one.
    assert!(cache.set("existing", value(5000), Ttl::Never).await.is_err());
    assert_eq!(cache.get("existing").await.unwrap(), Some(value(100)));

    // A value that fits exactly (key + value = max_bytes) is accepted.
    cache.set("fits", value(4096 - 4), Ttl::Never).await.unwrap();
    let stats = cache.stats().await;
    assert_eq!(stats.writes, 2, "refused writes must not count: {stats:?}");
}

/// Fills an LRU cache of 3, touches the oldest entry with `touch`, then inserts a fourth entry and
/// returns which of the first three survived.
async fn survivors_after_touching_oldest(touch: impl AsyncFnOnce(&MemoryCache)) -> Vec<bool> {
    let cache = MemoryCache::builder()
        .max_entries(3)
        .eviction(EvictionPolicy::Lru)
        .build()
        .unwrap();
    for key in ["k1", "k2", "k3"] {
        cache.set(key, value(1), Ttl::Never).await.unwrap();
        // Separate maintenance runs make the insertion order the recency order.
        cache.run_pending_tasks().await;
    }
    touch(&cache).await;
    cache.run_pending_tasks().await;
    cache.set("k4", value(1), Ttl::Never).await.unwrap();
    cache.run_pending_tasks().await;
    let mut survivors = Vec::new();
    for key in ["k1", "k2", "k3"] {
        survivors.push(cache.exists(key).await.unwrap());
    }
    assert!(cache.exists("k4").await.unwrap(), "LRU admits every write");
    assert_eq!(cache.stats().await.evictions, 1);
    survivors
}

#[tokio::test]
async fn exists_does_not_change_lru_recency() {
    let survivors = survivors_after_touching_oldest(async |cache: &MemoryCache| {
        assert!(cache.exists("k1").await.unwrap());
    })
    .await;
    assert_eq!(
        survivors,
        [false, true, true],
        "exists(k1) must leave k1 the least recently used"
    );
}

#[tokio::test]
async fn get_changes_lru_recency() {
    let survivors = survivors_after_touching_oldest(async |cache: &MemoryCache| {
        assert!(cache.get("k1").await.unwrap().is_some());
    })
    .await;
    assert_eq!(
        survivors,
        [true, false, true],
        "get(k1) must make k2 the least recently used"
    );
}

#[tokio::test]
async fn expirations_are_counted_and_free_their_bytes() {
    let cache = MemoryCache::new(1000).unwrap();
    for i in 0..5 {
        cache
            .set(&format!("short{i}"), value(100), Ttl::millis(20))
            .await
            .unwrap();
    }
    cache.set("long", value(100), Ttl::secs(60)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Expired entries read as absent at once...
    for i in 0..5 {
        assert!(!cache.exists(&format!("short{i}")).await.unwrap());
    }
    // ...but moka removes them (and so counts them) on its timer wheel's next tick, about a second
    // later (2^30 ns granularity): poll for up to 5 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let stats = loop {
        let stats = cache.stats().await;
        if stats.expirations >= 5 || std::time::Instant::now() > deadline {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stats.expirations, 5, "{stats:?}");
    assert_eq!(
        stats.evictions, 0,
        "expirations are not capacity evictions: {stats:?}"
    );
    assert_eq!(stats.entries, Some(1), "{stats:?}");
    assert_eq!(stats.bytes, Some(4 + 100), "{stats:?}");
}

#[tokio::test]
async fn byte_accounting_follows_overwrites_and_removals() {
    let cache = MemoryCache::new(1000).unwrap();
    let bytes = async || cache.stats().await.bytes.unwrap();
    cache.set("a", value(100), Ttl::Never).await.unwrap();
    assert_eq!(bytes().await, 101);
    cache.set("a", value(50), Ttl::Never).await.unwrap();
    assert_eq!(bytes().await, 51, "an overwrite replaces the old size");
    cache.set("bb", value(10), Ttl::Never).await.unwrap();
    assert_eq!(bytes().await, 63);
    cache.delete("a").await.unwrap();
    assert_eq!(bytes().await, 12);
    cache.set("user:1", value(10), Ttl::Never).await.unwrap();
    assert_eq!(cache.invalidate_pattern("user:*").await.unwrap(), 1);
    assert_eq!(bytes().await, 12);
    cache.clear().await.unwrap();
    assert_eq!(bytes().await, 0);
}

/// A change that makes a configuration invalid, and what the error must say.
type BadSetting = (fn(&mut MemoryConfig), &'static str);

#[test]
fn invalid_configuration_is_refused() {
    let cases: [BadSetting; 5] = [
        (|c| c.max_entries = 0, "max_entries = 0 is out of range"),
        (
            |c| c.max_entries = MAX_ENTRIES_LIMIT + 1,
            "max_entries = 1000000001 is out of range",
        ),
        (
            |c| c.max_bytes = Some(1023),
            "max_bytes = 1023 is out of range (accepted: >= 1024)",
        ),
        (
            |c| c.default_ttl = Some(Duration::ZERO),
            "default_ttl must be at least 1ms",
        ),
        (
            |c| c.default_ttl = Some(Duration::from_secs(200 * 365 * 86_400)),
            "default_ttl must be at most",
        ),
    ];
    for (break_it, expected) in cases {
        let mut config = MemoryConfig::default();
        break_it(&mut config);
        let err = MemoryCache::from_config(config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
        assert!(
            err.message().contains(expected),
            "{err:?} should contain {expected:?}"
        );
    }

    let err = MemoryCache::builder()
        .max_entries(0)
        .max_bytes(10)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(
        err.message().contains("max_entries") && err.message().contains("max_bytes"),
        "{err}"
    );
    assert_eq!(MemoryCache::new(0).unwrap_err().kind(), ErrorKind::Configuration);

    let mut config = MemoryConfig::default();
    config.max_entries = MAX_ENTRIES_LIMIT;
    config.max_bytes = Some(1024);
    config.default_ttl = Some(Duration::from_millis(1));
    MemoryCache::from_config(config).unwrap();
}

#[tokio::test]
async fn a_closed_cache_fails_every_operation_and_drops_its_entries() {
    use stratacache_core::{HealthStatus, ScanKeys, SharedCache};

    let cache = MemoryCache::new(100).unwrap();
    let clone = cache.clone();
    let shared: SharedCache = std::sync::Arc::new(cache.clone());
    cache.set("k", value(10), Ttl::Never).await.unwrap();
    assert!(!cache.is_closed());

    shared.close().await.unwrap();
    assert!(cache.is_closed() && clone.is_closed(), "every clone is closed");
    let results = [
        clone.get("k").await.map(drop),
        clone.set("k", value(1), Ttl::Never).await,
        clone.delete("k").await.map(drop),
        clone.delete_many(&["k"]).await.map(drop),
        clone.exists("k").await.map(drop),
        clone.ttl("k").await.map(drop),
        clone.get_with_ttl("k").await.map(drop),
        clone.get_many(&["k"]).await.map(drop),
        clone.set_many(&[("k", value(1))], Ttl::Never).await,
        clone.invalidate_pattern("k").await.map(drop),
        clone.invalidate_pattern("*").await.map(drop),
        clone.clear().await,
        clone.scan_keys("*", 0).await.map(drop),
        clone.replace_if_unchanged("k", b"v", value(1)).await.map(drop),
    ];
    for (i, result) in results.into_iter().enumerate() {
        let err = result.expect_err("the cache is closed");
        assert_eq!(err.kind(), ErrorKind::Closed, "operation {i}: {err}");
        assert!(err.message().contains("memory cache"), "{err}");
    }
    let health = shared.health().await;
    assert_eq!(health.status, HealthStatus::Unhealthy, "{health:?}");
    assert!(
        health.messages.iter().any(|m| m.contains("was closed")),
        "{health:?}"
    );
    assert_eq!(shared.stats().await.entries, Some(0), "the entries were dropped");
    // Closing again is harmless.
    cache.close();
    shared.close().await.unwrap();
}
