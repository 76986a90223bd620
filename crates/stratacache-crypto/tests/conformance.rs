//! The stratacache conformance suite on `EncryptionLayer` over `MemoryCache`, in both plaintext
//! policies, and over a backend that hands out unshared values (decrypted in place).

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Unshared, ring};
use stratacache_core::{Cache, EncryptionStats, LayerExt};
use stratacache_crypto::{EncryptionLayer, KeyRing, PlaintextPolicy};
use stratacache_memory::MemoryCache;
use stratacache_testkit::conformance::Suite;

fn backend(default_ttl: Option<Duration>) -> MemoryCache {
    let b = MemoryCache::builder().max_entries(100_000);
    match default_ttl {
        Some(ttl) => b.default_ttl(ttl),
        None => b,
    }
    .build()
    .unwrap()
}

/// Runs the suite; `stats` reads the layer's counters of every cache built.
async fn check<C: Cache + 'static>(
    make: impl Fn(Option<Duration>) -> Arc<C>,
    stats: impl Fn(&C) -> EncryptionStats,
) {
    let built: Arc<Mutex<Vec<Arc<C>>>> = Arc::default();
    let report = Suite::new(|default_ttl| {
        let c = make(default_ttl);
        built.lock().unwrap().push(Arc::clone(&c));
        async move { c }
    })
    .run()
    .await;
    assert!(report.skipped.is_empty(), "the encryption layer skips no case");

    let caches = built.lock().unwrap();
    let total = |f: fn(&EncryptionStats) -> u64| -> u64 { caches.iter().map(|c| f(&stats(c))).sum() };
    assert!(total(|s| s.encrypted) >= 100, "the suite's writes were sealed");
    assert!(total(|s| s.decrypted) >= 100, "and its reads opened");
    assert_eq!(total(EncryptionStats::failures), 0);
    assert_eq!(total(|s| s.legacy_plaintext_reads), 0);
}

async fn check_policy(ring: KeyRing, policy: PlaintextPolicy) {
    let layer = EncryptionLayer::new(ring).with_plaintext_policy(policy);
    check(
        |ttl| Arc::new(backend(ttl).layer(layer.clone())),
        stratacache_crypto::Encrypted::encryption_stats,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_over_memory_conforms() {
    check_policy(ring(), PlaintextPolicy::Reject).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_in_migration_mode_conforms() {
    check_policy(ring(), PlaintextPolicy::Migrate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_decrypting_in_place_conforms() {
    let layer = EncryptionLayer::new(ring());
    check(
        |ttl| Arc::new(Unshared(backend(ttl)).layer(layer.clone())),
        stratacache_crypto::Encrypted::encryption_stats,
    )
    .await;
}
