//! The conformance suite on `RedisCache` against real servers in every mode.

mod common;

use stratacache_redis::RedisCache;
use stratacache_testkit::conformance;
use stratacache_testkit::redis::RedisMode;
use stratacache_testkit::redis_server_or_skip;

async fn conforms(mode: RedisMode, pool_size: usize) {
    conforms_publishing(mode, pool_size, false).await;
}

async fn conforms_publishing(mode: RedisMode, pool_size: usize, publish_invalidations: bool) {
    let server = redis_server_or_skip!(mode);
    let server = &server;
    conformance::run(|default_ttl| async move {
        let mut config = common::patient_config_for(server);
        config.default_ttl = default_ttl;
        config.pool_size = pool_size;
        config.publish_invalidations = publish_invalidations;
        RedisCache::connect(config)
            .await
            .expect("connect to the fixture server")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain() {
    conforms(RedisMode::Plain, 4).await;
}

/// Every change is also announced on the fleet invalidation channel (in batches, after it): replies
/// (DEL's count, UNLINK's) and semantics are unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_publishing_invalidations() {
    conforms_publishing(RedisMode::Plain, 4, true).await;
}

/// The suite's 200 concurrent tasks share a pool of 8 connections here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_pool_of_8() {
    conforms(RedisMode::Plain, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password() {
    conforms(RedisMode::Password, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user() {
    conforms(RedisMode::Acl, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_verification() {
    conforms(RedisMode::Tls, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls() {
    conforms(RedisMode::MutualTls, 2).await;
}

/// A bounded memory L1 in front of Redis: the same suite, through both tiers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_memory_over_redis() {
    use stratacache_memory::MemoryCache;
    use stratacache_tiered::{TieredCache, TieredConfig};

    let server = redis_server_or_skip!(RedisMode::Plain);
    let server = &server;
    conformance::run(|default_ttl| async move {
        let l2 = RedisCache::connect(common::patient_config_for(server))
            .await
            .expect("connect to the fixture server");
        let l1 = MemoryCache::builder()
            .max_entries(1_000)
            .max_bytes(8 * 1024 * 1024)
            .build()
            .expect("memory L1");
        let config = TieredConfig::default().with_default_ttl(default_ttl);
        TieredCache::with_config(l1, l2, config).expect("tiered config")
    })
    .await;
}

/// The same over a mutual-TLS server with a tiny L1 that evicts constantly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_small_l1_over_mutual_tls() {
    use std::time::Duration;

    use stratacache_memory::MemoryCache;
    use stratacache_tiered::{TieredCache, TieredConfig};

    let server = redis_server_or_skip!(RedisMode::MutualTls);
    let server = &server;
    conformance::run(|default_ttl| async move {
        let l2 = RedisCache::connect(common::patient_config_for(server))
            .await
            .expect("connect to the fixture server");
        let l1 = MemoryCache::builder().max_entries(16).build().expect("memory L1");
        let config = TieredConfig::default()
            .with_default_ttl(default_ttl)
            .with_l1_ttl(Some(Duration::from_millis(50)));
        TieredCache::with_config(l1, l2, config).expect("tiered config")
    })
    .await;
}

/// `ScanKeys`, with a small SCAN COUNT so that the walk spans many pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_keys() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let mut config = common::patient_config_for(&server);
    config.scan_count = 50;
    let cache = RedisCache::connect(config).await.expect("connect");
    stratacache_testkit::scan_keys::check(&cache).await;
}

/// Two caches on one server and namespace (two processes without a memory tier): every read goes
/// to Redis, so the coherence cases hold without any invalidation message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_caches_on_one_server_are_coherent() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let server = &server;
    let report = stratacache_testkit::coherence::run(async || {
        let mut config = common::patient_config_for(server);
        config.namespace = stratacache_testkit::redis::unique_namespace("coherence");
        let a = RedisCache::connect(config.clone()).await.expect("connect");
        let b = RedisCache::connect(config).await.expect("connect");
        let (a, b): (stratacache_core::SharedCache, stratacache_core::SharedCache) =
            (std::sync::Arc::new(a), std::sync::Arc::new(b));
        (a, b, ())
    })
    .await;
    assert_eq!(
        report.passed.len(),
        stratacache_testkit::coherence::case_names().len()
    );
}
