//! The cache registry: build once under contention, failed builds not cached, shutdown with
//! closers (failing, hanging, panicking) and a Redis cache really disconnected.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use stratacache_core::{Error, ErrorKind, SharedCache};
use stratacache_factory::registry::{CacheRegistry, Closer, ShutdownReport};
use stratacache_memory::MemoryCache;

fn memory() -> SharedCache {
    Arc::new(MemoryCache::new(100).unwrap())
}

/// A closer that sets `flag` when it runs.
fn flagging(flag: &Arc<AtomicBool>) -> Closer {
    let flag = Arc::clone(flag);
    Closer::new(move || async move {
        flag.store(true, Ordering::SeqCst);
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_use_builds_once() {
    const TASKS: usize = 50;
    let registry = Arc::new(CacheRegistry::default());
    let builds = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (registry, builds, arrived, barrier) = (
            Arc::clone(&registry),
            Arc::clone(&builds),
            Arc::clone(&arrived),
            Arc::clone(&barrier),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            arrived.fetch_add(1, Ordering::SeqCst);
            registry
                .get_or_try_init("shared", || async {
                    builds.fetch_add(1, Ordering::SeqCst);
                    // Keep building until every task has asked: they all find it unbuilt.
                    while arrived.load(Ordering::SeqCst) < TASKS {
                        tokio::task::yield_now().await;
                    }
                    for _ in 0..10 {
                        tokio::task::yield_now().await;
                    }
                    Ok(memory())
                })
                .await
                .unwrap()
        }));
    }
    let mut caches = Vec::new();
    for task in tasks {
        caches.push(task.await.unwrap());
    }
    assert_eq!(builds.load(Ordering::SeqCst), 1, "built more than once");
    assert!(caches.iter().all(|c| Arc::ptr_eq(c, &caches[0])));
    assert!(Arc::ptr_eq(&registry.get("shared").unwrap(), &caches[0]));
    assert_eq!(registry.names(), ["shared"]);
}

#[tokio::test]
async fn a_failed_build_is_not_cached() {
    let registry = CacheRegistry::default();
    let builds = AtomicUsize::new(0);
    let Err(err) = registry
        .get_or_try_init("redis", || async {
            builds.fetch_add(1, Ordering::SeqCst);
            Err(Error::new(ErrorKind::Connection, "cannot reach redis"))
        })
        .await
    else {
        panic!("the build failed")
    };
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(registry.get("redis").is_none());
    assert!(registry.is_empty());

    let cache = registry
        .get_or_try_init("redis", || async {
            builds.fetch_add(1, Ordering::SeqCst);
            Ok(memory())
        })
        .await
        .unwrap();
    assert_eq!(builds.load(Ordering::SeqCst), 2);
    assert!(Arc::ptr_eq(&cache, &registry.get("redis").unwrap()));
    // Built now: the builder is not called again.
    registry
        .get_or_try_init("redis", || async { panic!("must not build again") })
        .await
        .unwrap();
}

// One thread: the spawned tasks run exactly when this one yields.
#[tokio::test]
async fn a_waiter_builds_after_a_failed_build() {
    let registry = Arc::new(CacheRegistry::default());
    let (started, building) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let first_done = Arc::new(AtomicBool::new(false));
    let first = {
        let (registry, first_done) = (Arc::clone(&registry), Arc::clone(&first_done));
        tokio::spawn(async move {
            registry
                .get_or_try_init("c", || async move {
                    started.send(()).unwrap();
                    released.await.unwrap();
                    first_done.store(true, Ordering::SeqCst);
                    Err(Error::new(ErrorKind::Timeout, "first build fails"))
                })
                .await
        })
    };
    building.await.unwrap();
    let second = {
        let (registry, first_done) = (Arc::clone(&registry), Arc::clone(&first_done));
        tokio::spawn(async move {
            registry
                .get_or_try_init("c", || async move {
                    assert!(
                        first_done.load(Ordering::SeqCst),
                        "a second build started while the first was running"
                    );
                    Ok(memory())
                })
                .await
        })
    };
    // Let the second task run up to its wait for the first build.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        !second.is_finished(),
        "the second task must wait for the first build"
    );
    release.send(()).unwrap();
    let Err(err) = first.await.unwrap() else {
        panic!("the first build failed")
    };
    assert_eq!(
        err.kind(),
        ErrorKind::Timeout,
        "the first builder gets its own error"
    );
    let built = second.await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&built, &registry.get("c").unwrap()));
}

#[tokio::test]
async fn register_get_remove() {
    let registry = CacheRegistry::default();
    let a = memory();
    assert!(registry.register("a", Arc::clone(&a)).is_none());
    assert!(Arc::ptr_eq(&registry.get("a").unwrap(), &a));
    let ran = Arc::new(AtomicBool::new(false));
    let replaced = registry
        .register_with_closer("a", memory(), flagging(&ran))
        .expect("a was registered");
    assert!(Arc::ptr_eq(&replaced.cache, &a));
    assert!(replaced.closer.is_none());
    registry.register("b", memory());
    assert_eq!(registry.names(), ["a", "b"]);
    assert_eq!(registry.len(), 2);

    let removed = registry.remove("a").expect("registered");
    assert!(!ran.load(Ordering::SeqCst), "remove does not run the closer");
    removed
        .closer
        .expect("registered with a closer")
        .close()
        .await
        .unwrap();
    assert!(ran.load(Ordering::SeqCst));
    assert!(registry.remove("a").is_none());
    assert_eq!(registry.names(), ["b"]);
}

#[tokio::test]
async fn a_cache_registered_during_the_build_wins() {
    let registry = CacheRegistry::default();
    let by_hand = memory();
    let ours_closed = Arc::new(AtomicBool::new(false));
    let got = registry
        .get_or_try_init_with_closer("x", || async {
            registry.register("x", Arc::clone(&by_hand));
            Ok((memory(), flagging(&ours_closed)))
        })
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&got, &by_hand));
    assert!(ours_closed.load(Ordering::SeqCst), "the unused cache was closed");
    assert!(Arc::ptr_eq(&registry.get("x").unwrap(), &by_hand));
}

#[tokio::test]
async fn shutdown_runs_closers_and_reports() {
    let registry = CacheRegistry::default();
    let (ran_a, ran_b, ran_c) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let held = memory();
    registry.register_with_closer("a-held", Arc::clone(&held), flagging(&ran_a));
    // This closer holds the cache itself: it is dropped once run, so the cache still counts as
    // dead (only the registry referenced it).
    let b = memory();
    let b_closer = {
        let ran_b = Arc::clone(&ran_b);
        let b = Arc::clone(&b);
        Closer::new(move || async move {
            b.clear().await?;
            ran_b.store(true, Ordering::SeqCst);
            Ok(())
        })
    };
    registry.register_with_closer("b-dropped", b, b_closer);
    registry.register("c-no-closer", memory());
    registry
        .get_or_try_init_with_closer("d-built", || async { Ok((memory(), flagging(&ran_c))) })
        .await
        .unwrap();
    registry.register_with_closer(
        "e-failing",
        memory(),
        Closer::new(|| async { Err(Error::new(ErrorKind::Backend, "flush refused")) }),
    );

    let report = registry.shutdown().await;
    assert_eq!(
        report,
        ShutdownReport {
            total_entries: 5,
            active_caches: 1,
            dead_references: 4,
            disconnected_caches: 3,
            errors: vec!["e-failing: backend: flush refused".to_owned()],
        }
    );
    assert!(ran_a.load(Ordering::SeqCst) && ran_b.load(Ordering::SeqCst) && ran_c.load(Ordering::SeqCst));
    assert_eq!(Arc::strong_count(&held), 1, "the registry let go of the cache");
    assert!(registry.is_empty() && registry.get("a-held").is_none());

    assert_eq!(registry.shutdown().await, ShutdownReport::default());

    // Usable again afterwards.
    registry.register("again", memory());
    assert_eq!(registry.shutdown().await.total_entries, 1);

    let json = serde_json::to_value(&report).unwrap();
    let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "active_caches",
            "dead_references",
            "disconnected_caches",
            "errors",
            "total_entries"
        ]
    );
}

#[tokio::test]
async fn a_hanging_closer_is_cut_by_the_timeout() {
    let registry = CacheRegistry::with_close_timeout(Duration::from_millis(100));
    assert_eq!(registry.close_timeout(), Duration::from_millis(100));
    let ran = Arc::new(AtomicBool::new(false));
    registry.register_with_closer(
        "hangs",
        memory(),
        Closer::new(std::future::pending::<stratacache_core::Result<()>>),
    );
    registry.register_with_closer("panics", memory(), Closer::new(|| async { panic!("boom") }));
    registry.register_with_closer("fine", memory(), flagging(&ran));

    let start = Instant::now();
    let report = registry.shutdown().await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(ran.load(Ordering::SeqCst), "the other closers still ran");
    assert_eq!(report.total_entries, 3);
    assert_eq!(report.disconnected_caches, 1);
    assert_eq!(
        report.errors,
        [
            "hangs: the closer did not finish within 100ms",
            "panics: the closer panicked"
        ]
    );
    assert!(registry.is_empty());
}

#[test]
fn default_close_timeout_is_five_seconds() {
    assert_eq!(CacheRegistry::default().close_timeout(), Duration::from_secs(5));
    let debug = format!("{:?}", CacheRegistry::default());
    assert!(debug.contains("CacheRegistry"), "{debug}");
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_redis_cache_is_disconnected_at_shutdown() {
    use stratacache_core::{Bytes, Cache, Ttl};
    use stratacache_redis::deadpool_redis::redis;
    use stratacache_redis::{RedisCache, RedisConfig};
    use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

    // A server of its own: the client count must be this test's only.
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let mut observer = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut count_clients = async || {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut observer)
            .await
            .unwrap();
        list.lines().filter(|l| !l.trim().is_empty()).count() - 1 // not the observer
    };

    let mut config = RedisConfig::new(server.url());
    config.namespace = unique_namespace("registry");
    config.pool_size = 2;
    let cache = RedisCache::connect(config).await.unwrap();
    let registry = CacheRegistry::default();
    registry.register_with_closer("redis", Arc::new(cache.clone()), Closer::redis(cache));
    let held = registry.get("redis").unwrap();
    held.set("k", Bytes::from_static(b"v"), Ttl::Never).await.unwrap();
    assert_eq!(count_clients().await, 2);

    let report = registry.shutdown().await;
    assert_eq!(
        report,
        ShutdownReport {
            total_entries: 1,
            active_caches: 1,
            dead_references: 0,
            disconnected_caches: 1,
            errors: Vec::new(),
        }
    );
    let err = held.get("k").await.expect_err("closed at shutdown");
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    assert!(err.message().contains("was closed"), "{err}");

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = count_clients().await;
    while left > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = count_clients().await;
    }
    assert_eq!(left, 0, "connections still open after shutdown");
}
