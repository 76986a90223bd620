//! End-to-end: the compute cases (`get_or_compute`: single-flight, takeover, errors, bounded
//! waiting, typed values, TTL jitter) and the freshness cases (XFetch, stale-while-revalidate,
//! stale-if-error, plain reads of values stored with the header) over every backend: memory, Redis, and the factory's tiered
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
    let make = async || {
        let cache: SharedCache = Arc::new(MemoryCache::builder().build().unwrap());
        (cache, ())
    };
    stratacache_testkit::compute::run(make).await;
    stratacache_testkit::freshness::run(make).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_compute_cases() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let make = async || {
        let redis = RedisCache::connect(common::redis_config(&server, "compute"))
            .await
            .unwrap();
        let cache: SharedCache = Arc::new(redis);
        (cache, ())
    };
    stratacache_testkit::compute::run(make).await;
    stratacache_testkit::freshness::run(make).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_factorys_tiered_stack_passes_the_compute_cases() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let make = async || {
        let mut config = CacheConfig::web_app();
        config.environment = Environment::Testing;
        config.redis_url = Some(server.url().into());
        config.namespace = unique_namespace("compute");
        let built = CacheFactory::from_config(config).await.unwrap();
        (Arc::clone(&built.cache), built)
    };
    stratacache_testkit::compute::run(make).await;
    stratacache_testkit::freshness::run(make).await;
}

/// Two instances (two caches over one redis-server, as two processes would be) sharing the
/// computation of a key through its lease.
mod across_instances {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::{Duration, Instant};

    use stratacache_compute::{ComputeCache, ComputeConfig};
    use stratacache_core::{Bytes, Cache, Ttl};

    use super::*;

    async fn instance(
        server: &RedisServer,
        namespace: &str,
        config: ComputeConfig,
    ) -> Arc<ComputeCache<RedisCache>> {
        let mut redis_config = common::redis_config(server, "unused");
        redis_config.namespace = namespace.to_owned();
        let redis = RedisCache::connect(redis_config).await.unwrap();
        Arc::new(ComputeCache::with_config(redis, config).unwrap())
    }

    /// 50 callers on each of two instances miss one key at once: one computation in all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_compute_a_key_once() {
        let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
            return;
        };
        let namespace = unique_namespace("lease");
        let a = instance(&server, &namespace, ComputeConfig::default()).await;
        let b = instance(&server, &namespace, ComputeConfig::default()).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let mut callers = Vec::new();
        for i in 0..100 {
            let cache = Arc::clone(if i % 2 == 0 { &a } else { &b });
            let runs = Arc::clone(&runs);
            callers.push(tokio::spawn(async move {
                cache
                    .get_or_compute("hot", Ttl::secs(60), || async move {
                        runs.fetch_add(1, SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(Bytes::from_static(b"answer"))
                    })
                    .await
                    .unwrap()
            }));
        }
        for caller in callers {
            assert_eq!(caller.await.unwrap(), "answer");
        }
        assert_eq!(runs.load(SeqCst), 1, "one computation across both instances");
        let (sa, sb) = (a.compute_stats(), b.compute_stats());
        assert_eq!(sa.computations + sb.computations, 1, "{sa:?} {sb:?}");
        assert_eq!(
            sa.remote_waits + sb.remote_waits,
            1,
            "the other instance waited: {sa:?} {sb:?}"
        );
        assert_eq!(
            sa.leases_acquired + sb.leases_acquired,
            1,
            "one lease, taken by the computing instance: {sa:?} {sb:?}"
        );
    }

    /// A holder that died (its lease is never renewed nor released) is taken over once its
    /// lease runs out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_holders_lease_is_taken_over_when_it_runs_out() {
        let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
            return;
        };
        let namespace = unique_namespace("lease");
        let b = instance(&server, &namespace, ComputeConfig::default()).await;
        // The dead process: took the lease for 300 ms, then nothing.
        assert!(
            b.inner()
                .acquire_lease("k", "dead", Duration::from_millis(300))
                .await
                .unwrap()
        );
        let started = Instant::now();
        let value = b
            .get_or_compute("k", Ttl::secs(60), || async {
                Ok(Bytes::from_static(b"taken over"))
            })
            .await
            .unwrap();
        assert_eq!(value, "taken over");
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "waited for the lease: {:?}",
            started.elapsed()
        );
        let stats = b.compute_stats();
        assert_eq!(
            (stats.remote_waits, stats.lease_takeovers, stats.computations),
            (1, 1, 1),
            "{stats:?}"
        );
    }

    /// A computation longer than the lease keeps it (renewed): the other instance waits for its
    /// value rather than computing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_computation_renews_its_lease() {
        let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
            return;
        };
        let namespace = unique_namespace("lease");
        let config = ComputeConfig {
            lease: Duration::from_millis(300),
            ..ComputeConfig::default()
        };
        let a = instance(&server, &namespace, config).await;
        let b = instance(&server, &namespace, config).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let slow = {
            let (a, runs) = (Arc::clone(&a), Arc::clone(&runs));
            tokio::spawn(async move {
                a.get_or_compute("long", Ttl::secs(60), || async move {
                    runs.fetch_add(1, SeqCst);
                    tokio::time::sleep(Duration::from_millis(1200)).await;
                    Ok(Bytes::from_static(b"slow"))
                })
                .await
                .unwrap()
            })
        };
        while runs.load(SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let runs_b = Arc::clone(&runs);
        let value = b
            .get_or_compute("long", Ttl::secs(60), || async move {
                runs_b.fetch_add(1, SeqCst);
                Ok(Bytes::from_static(b"b computed"))
            })
            .await
            .unwrap();
        assert_eq!(value, "slow", "b waited for a's value");
        assert_eq!(slow.await.unwrap(), "slow");
        assert_eq!(
            runs.load(SeqCst),
            1,
            "one computation, its lease renewed 4 times over"
        );
    }

    /// A holder whose computation hangs renews its lease only for `max_wait` (nobody waits
    /// longer for it): then the lease runs out and another instance computes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_holder_is_taken_over_after_max_wait() {
        let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
            return;
        };
        let namespace = unique_namespace("lease");
        let hung = ComputeConfig {
            lease: Duration::from_millis(200),
            max_wait: Duration::from_millis(600),
            ..ComputeConfig::default()
        };
        let a = instance(&server, &namespace, hung).await;
        let b = instance(&server, &namespace, ComputeConfig::default()).await;
        let started = Arc::new(tokio::sync::Notify::new());
        let stuck = {
            let (a, started) = (Arc::clone(&a), Arc::clone(&started));
            tokio::spawn(async move {
                a.get_or_compute("stuck", Ttl::secs(60), || async move {
                    started.notify_one();
                    std::future::pending().await
                })
                .await
            })
        };
        started.notified().await;
        let value = b
            .get_or_compute("stuck", Ttl::secs(60), || async { Ok(Bytes::from_static(b"b")) })
            .await
            .unwrap();
        assert_eq!(value, "b", "b took over the hung holder's lease");
        let stats = b.compute_stats();
        assert_eq!((stats.remote_waits, stats.lease_takeovers), (1, 1), "{stats:?}");
        stuck.abort();
    }

    /// A leader that first waits for another process's lease does not make its own followers
    /// give up and compute too: they wait until it computes, then for its value.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn followers_wait_for_a_leader_that_waited_for_a_lease() {
        let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
            return;
        };
        let namespace = unique_namespace("lease");
        let config = ComputeConfig {
            max_wait: Duration::from_millis(500),
            ..ComputeConfig::default()
        };
        let b = instance(&server, &namespace, config).await;
        // A dead process's lease, 300 ms: b's leader waits for it, then computes for 400 ms;
        // its follower has waited longer than max_wait by then.
        assert!(
            b.inner()
                .acquire_lease("k", "dead", Duration::from_millis(300))
                .await
                .unwrap()
        );
        let runs = Arc::new(AtomicUsize::new(0));
        let mut callers = Vec::new();
        for _ in 0..2 {
            let (b, runs) = (Arc::clone(&b), Arc::clone(&runs));
            callers.push(tokio::spawn(async move {
                b.get_or_compute("k", Ttl::secs(60), || async move {
                    runs.fetch_add(1, SeqCst);
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    Ok(Bytes::from_static(b"once"))
                })
                .await
                .unwrap()
            }));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for caller in callers {
            assert_eq!(caller.await.unwrap(), "once");
        }
        assert_eq!(runs.load(SeqCst), 1, "{:?}", b.compute_stats());
    }
}
