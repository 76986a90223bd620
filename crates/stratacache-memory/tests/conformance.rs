//! The stratacache conformance suite on `MemoryCache`, alone and behind `SharedCache`.

// Test code: the factories unwrap the builder's result.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use stratacache_core::{Cache, SharedCache};
use stratacache_memory::{EvictionPolicy, MemoryCache, MemoryCacheBuilder};
use stratacache_testkit::conformance::Suite;

fn builder(default_ttl: Option<Duration>) -> MemoryCacheBuilder {
    let b = MemoryCache::builder().max_entries(100_000);
    match default_ttl {
        Some(ttl) => b.default_ttl(ttl),
        None => b,
    }
}

async fn check<C, F, Fut>(make: F)
where
    C: Cache + 'static,
    F: Fn(Option<Duration>) -> Fut,
    Fut: Future<Output = C>,
{
    let report = Suite::new(make).run().await;
    assert!(report.skipped.is_empty(), "the memory backend skips no case");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_cache_conforms() {
    check(|default_ttl| async move { builder(default_ttl).build().unwrap() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_cache_behind_shared_cache_conforms() {
    check(|default_ttl| async move { Arc::new(builder(default_ttl).build().unwrap()) as SharedCache }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_cache_with_tiny_lfu_and_byte_bound_conforms() {
    // TinyLFU may refuse admission only when the cache is full: 64 MiB holds everything the suite
    // writes (the largest case writes about 6 MiB).
    check(|default_ttl| async move {
        builder(default_ttl)
            .eviction(EvictionPolicy::TinyLfu)
            .max_bytes(64 * 1024 * 1024)
            .build()
            .unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_cache_scan_keys() {
    stratacache_testkit::scan_keys::check(&builder(None).build().unwrap()).await;
}

/// Two handles on one memory cache (one process): the coherence cases hold by construction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_memory_cache_are_coherent() {
    let report = stratacache_testkit::coherence::run(async || {
        let cache: SharedCache = Arc::new(builder(None).build().unwrap());
        (cache.clone(), cache, ())
    })
    .await;
    assert_eq!(
        report.passed.len(),
        stratacache_testkit::coherence::case_names().len()
    );
}
