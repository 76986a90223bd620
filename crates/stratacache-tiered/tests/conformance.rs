//! The stratacache conformance suite on `TieredCache<MemoryCache, MemoryCache>`, with the default
//! L1 cap, without a cap, and with an L1 too small and short-lived to hold what the suite writes.

// Test code: the factories unwrap the constructors' results.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use stratacache_core::{Cache, SharedCache};
use stratacache_memory::MemoryCache;
use stratacache_testkit::conformance::Suite;
use stratacache_tiered::{TieredCache, TieredConfig};

async fn check<C, F, Fut>(make: F)
where
    C: Cache + 'static,
    F: Fn(Option<Duration>) -> Fut,
    Fut: Future<Output = C>,
{
    let report = Suite::new(make).run().await;
    assert!(report.skipped.is_empty(), "the tiered cache skips no case");
}

/// The L2 has no default TTL of its own: `Ttl::Default` must be resolved by the tiered cache.
fn l2() -> MemoryCache {
    MemoryCache::new(100_000).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_cache_with_default_l1_cap_conforms() {
    check(|default_ttl| async move {
        let config = TieredConfig::default().with_default_ttl(default_ttl);
        TieredCache::with_config(MemoryCache::new(10_000).unwrap(), l2(), config).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_cache_without_l1_cap_conforms() {
    check(|default_ttl| async move {
        let config = TieredConfig::default()
            .with_default_ttl(default_ttl)
            .with_l1_ttl(None);
        TieredCache::with_config(MemoryCache::new(10_000).unwrap(), l2(), config).unwrap()
    })
    .await;
}

/// An L1 of 16 entries and 64 KiB whose copies live 20 ms: most reads fall through to L2, large
/// values are refused by L1, and the tiers are erased behind `SharedCache`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_cache_with_tiny_short_lived_l1_conforms() {
    check(|default_ttl| async move {
        let l1 = MemoryCache::builder()
            .max_entries(16)
            .max_bytes(64 * 1024)
            .build()
            .unwrap();
        let config = TieredConfig::default()
            .with_default_ttl(default_ttl)
            .with_l1_ttl(Some(Duration::from_millis(20)));
        let (l1, l2): (SharedCache, SharedCache) = (Arc::new(l1), Arc::new(l2()));
        TieredCache::with_config(l1, l2, config).unwrap()
    })
    .await;
}
