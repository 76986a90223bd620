//! Freshness policies over a real redis-server (a regression from the review of b2d54c7): two ComputeCaches on one server
//! stand for two processes.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use stratacache_compute::{ComputeCache, ComputeConfig, Freshness};
use stratacache_core::{Bytes, Cache, Ttl};
use stratacache_redis::RedisCache;
use stratacache_testkit::redis::{RedisMode, RedisServer};

/// A refresh cancelled in process A (its caller's request timed out) releases the key's lease on
/// Redis at once: process B's real miss of the key does not wait for it to run out (`lease`).
/// (On b2d54c7 it was left to run out.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_refresh_does_not_hold_up_the_fleet() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let redis = common::redis_config(&server, "review");
    let config = ComputeConfig {
        lease: Duration::from_secs(10),
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
    // Released at once (a task spawned as the refresh's leader was dropped), not left to run
    // out: another process can take it long before the lease's 10 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b
        .inner()
        .acquire_lease("k", "probe", Duration::from_secs(1))
        .await
        .unwrap()
    {
        assert!(
            Instant::now() < deadline,
            "A's dead refresh still holds the lease"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(b.inner().release_lease("k", "probe").await.unwrap());
    b.delete("k").await.unwrap();
    b.get_or_compute("k", ttl, || async { Ok(Bytes::from_static(b"v2")) })
        .await
        .unwrap();
    let stats = b.compute_stats();
    assert_eq!((stats.remote_waits, stats.computations), (0, 1), "{stats:?}");
}
