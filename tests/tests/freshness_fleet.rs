//! Freshness policies over a real redis-server (a regression from the review of b2d54c7): two ComputeCaches on one server
//! stand for two processes.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use stratacache_compute::{ComputeCache, ComputeConfig, Freshness};
use stratacache_core::{Bytes, Cache, Ttl};
use stratacache_redis::RedisCache;
use stratacache_testkit::redis::{RedisMode, RedisServer};

/// A refresh cancelled in process A (its caller's request timed out) leaves the key's lease on
/// Redis: process B's real miss of the key waits for it to run out (`lease`), although A is alive
/// and knows its refresh is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_refresh_does_not_hold_up_the_fleet() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let redis = common::redis_config(&server, "review");
    let config = ComputeConfig {
        lease: Duration::from_secs(3),
        freshness: Freshness {
            stale_while_revalidate: Duration::from_secs(30),
            ..Freshness::default()
        },
        ..ComputeConfig::default()
    };
    let a = ComputeCache::with_config(RedisCache::connect(redis.clone()).await.unwrap(), config).unwrap();
    let b = ComputeCache::with_config(RedisCache::connect(redis).await.unwrap(), config).unwrap();
    let ttl = Ttl::After(Duration::from_millis(200));
    a.get_or_compute("k", ttl, || async { Ok(Bytes::from_static(b"v1")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        a.fetch("k", ttl, || async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Bytes::from_static(b"never"))
        }),
    )
    .await;
    assert!(cancelled.is_err(), "the refresh was cancelled");
    b.delete("k").await.unwrap();
    let started = Instant::now();
    b.get_or_compute("k", ttl, || async { Ok(Bytes::from_static(b"v2")) })
        .await
        .unwrap();
    let waited = started.elapsed();
    println!("B's miss waited {waited:?}; B: {:?}", b.compute_stats());
    assert!(
        waited < Duration::from_millis(1000),
        "B waited {waited:?} for A's dead refresh"
    );
}
