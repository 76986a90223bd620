//! End-to-end: the compute cases (`get_or_compute`: single-flight, takeover, errors, bounded
//! waiting, typed values, TTL jitter) over every backend: memory, Redis, and the factory's tiered
//! stack (memory L1 over Redis, with encryption and compression).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use stratacache_core::SharedCache;
use stratacache_factory::{CacheConfig, CacheFactory, Environment};
use stratacache_memory::MemoryCache;
use stratacache_redis::RedisCache;
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_passes_the_compute_cases() {
    stratacache_testkit::compute::run(async || {
        let cache: SharedCache = Arc::new(MemoryCache::builder().build().unwrap());
        (cache, ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_compute_cases() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    stratacache_testkit::compute::run(async || {
        let redis = RedisCache::connect(common::redis_config(&server, "compute"))
            .await
            .unwrap();
        let cache: SharedCache = Arc::new(redis);
        (cache, ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_factorys_tiered_stack_passes_the_compute_cases() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    stratacache_testkit::compute::run(async || {
        let mut config = CacheConfig::web_app();
        config.environment = Environment::Testing;
        config.redis_url = Some(server.url().into());
        config.namespace = unique_namespace("compute");
        let built = CacheFactory::from_config(config).await.unwrap();
        (Arc::clone(&built.cache), built)
    })
    .await;
}
