//! The stratacache conformance suite on `CompressionLayer` over `MemoryCache`.
//!
//! The threshold is the lowest accepted (100 bytes), so every suite value above 100 bytes goes
//! through zstd; the test checks afterwards what was compressed.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stratacache_compression::{Compressed, CompressionConfig, CompressionLayer};
use stratacache_core::LayerExt;
use stratacache_memory::MemoryCache;
use stratacache_testkit::conformance::Suite;

fn cache(config: &CompressionConfig, default_ttl: Option<Duration>) -> Arc<Compressed<MemoryCache>> {
    let b = MemoryCache::builder().max_entries(100_000);
    let backend = match default_ttl {
        Some(ttl) => b.default_ttl(ttl),
        None => b,
    }
    .build()
    .unwrap();
    Arc::new(backend.layer(CompressionLayer::new(config.clone()).unwrap()))
}

async fn check(config: CompressionConfig) {
    let built: Arc<Mutex<Vec<Arc<Compressed<MemoryCache>>>>> = Arc::default();
    let report = Suite::new(|default_ttl| {
        let c = cache(&config, default_ttl);
        built.lock().unwrap().push(Arc::clone(&c));
        async move { c }
    })
    .run()
    .await;
    assert!(report.skipped.is_empty(), "the compression layer skips no case");

    // The suite's values are mostly short or pseudo-random (stored raw); its long, repetitive
    // overwrite value goes through zstd.
    let caches = built.lock().unwrap();
    let total = |f: fn(&stratacache_core::CompressionStats) -> u64| -> u64 {
        caches.iter().map(|c| f(&c.compression_stats())).sum()
    };
    assert!(total(|s| s.compressed) >= 1, "a suite value was compressed");
    assert!(total(|s| s.decompressed) >= 1, "and read back");
    assert!(
        total(|s| s.stored_raw) >= 100,
        "short and random values are stored raw"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_over_memory_conforms() {
    let mut config = CompressionConfig::default();
    config.threshold = 100;
    check(config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_in_legacy_mode_at_level_1_conforms() {
    let mut config = CompressionConfig::default();
    config.threshold = 100;
    config.level = 1;
    config.legacy_plain = true;
    check(config).await;
}
