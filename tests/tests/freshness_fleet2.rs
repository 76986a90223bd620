//! Regressions from a second review of stratacache-compute, over a real redis-server: R1 (a
//! `poll_interval` above 50 ms, accepted by `validate`, panicked the process that waited for
//! another's lease) and R2 (a failed refresh cached its error over the served value). Both
//! failed on 39392c5.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use stratacache_compute::{ComputeCache, ComputeConfig, Freshness, Source};
use stratacache_core::{Bytes, Error, ErrorKind, SharedCache, Ttl};
use stratacache_redis::RedisCache;
use stratacache_testkit::redis::{RedisMode, RedisServer};
use tokio::sync::Notify;

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < give_up, "never reached: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_redis_a_poll_interval_above_50ms_panics_every_remote_wait() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let redis_config = common::redis_config(&server, "review2");
    let config = ComputeConfig {
        poll_interval: Duration::from_millis(100),
        ..ComputeConfig::default()
    };
    let a = Arc::new(
        ComputeCache::with_config(RedisCache::connect(redis_config.clone()).await.unwrap(), config).unwrap(),
    );
    let other = Arc::new(
        ComputeCache::with_config(RedisCache::connect(redis_config).await.unwrap(), config).unwrap(),
    );
    let release = Arc::new(Notify::new());
    let holder = {
        let (a, release) = (Arc::clone(&a), Arc::clone(&release));
        tokio::spawn(async move {
            a.get_or_compute("k", Ttl::secs(60), || async move {
                release.notified().await;
                Ok(Bytes::from_static(b"from A"))
            })
            .await
        })
    };
    until("A holds the lease", || a.compute_stats().leases_acquired == 1).await;
    let waiter = {
        let other = Arc::clone(&other);
        tokio::spawn(async move {
            other
                .get_or_compute("k", Ttl::secs(60), || async { Ok(Bytes::from_static(b"from B")) })
                .await
        })
    };
    until("B waits", || {
        other.compute_stats().remote_waits == 1 || waiter.is_finished()
    })
    .await;
    release.notify_one();
    holder.await.unwrap().unwrap();
    let waited = waiter.await;
    println!("process B's wait: {waited:?}");
    assert_eq!(waited.expect("the wait panicked").unwrap(), "from A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_redis_a_failed_refresh_caches_its_error_over_the_served_value() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let config = ComputeConfig {
        negative_ttl: Duration::from_secs(60),
        freshness: Freshness {
            stale_while_revalidate: Duration::from_secs(60),
            ..Freshness::default()
        },
        ..ComputeConfig::default()
    };
    let redis: SharedCache = Arc::new(
        RedisCache::connect(common::redis_config(&server, "review2"))
            .await
            .unwrap(),
    );
    let compute = ComputeCache::with_config(redis, config).unwrap();
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(Bytes::from_static(b"v1")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let refresh = compute
        .fetch("k", ttl, || async {
            Err(Error::new(ErrorKind::Unavailable, "model down"))
        })
        .await
        .unwrap();
    assert_eq!(refresh.source, Source::Stale);
    let next = compute
        .fetch("k", ttl, || async { Ok(Bytes::from_static(b"v2")) })
        .await;
    println!(
        "after one failed refresh: {next:?}; {:?}",
        compute.compute_stats()
    );
    assert!(
        next.is_ok(),
        "the value still served was replaced by the cached error"
    );
}
