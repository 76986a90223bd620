//! Outages of a shared Redis as several instances see them, with real faults: a TCP proxy between
//! one instance and the server that is cut, and a server that is frozen (`SIGSTOP`) or killed.
//!
//! - A degraded instance never deletes what another instance wrote: neither its health checks nor
//!   a full replay record may turn its recovery into a clear of the shared namespace.
//! - A hung Redis holds no caller past the operation deadline (`command_timeout` plus the retry
//!   budget), the failover moves to memory by itself, and callers see no error.
//! - A dead Redis (connection refused) is detected within the retry budget.
//!
//! The tests print what they measured (`cargo test -p stratacache-factory --test outages --
//! --nocapture`). They assert bounds several times the configured deadlines, so that a loaded
//! machine cannot fail them while a stall (seconds, as before these were fixed) always does.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, SharedCache, Ttl};
use stratacache_factory::failover::{FailoverCache, FailoverConfig, FailoverState};
use stratacache_factory::health::HealthCheck;
use stratacache_factory::{BuiltCache, CacheConfig, CacheFactory};
use stratacache_memory::MemoryCache;
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::fault::FaultProxy;
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

/// Several times the default operation deadline (250 ms + 50 ms): no request may take this long.
const LATENCY_BOUND: Duration = Duration::from_secs(1);

fn local_server() -> Option<RedisServer> {
    RedisServer::builder(RedisMode::Plain).local().start_or_skip()
}

fn upstream(server: &RedisServer) -> SocketAddr {
    format!("{}:{}", server.host(), server.port()).parse().unwrap()
}

fn namespace() -> String {
    unique_namespace("outage")
}

/// The testing preset on `url` (database 15) in `namespace`, probing Redis every 100 ms.
async fn instance(url: &str, namespace: &str) -> BuiltCache {
    let mut config = CacheConfig::testing();
    config.redis_url = Some(url.into());
    config.namespace = namespace.to_owned();
    CacheFactory::from_config(config).await.unwrap()
}

/// A plain client of the same database and namespace, outside any failover.
async fn observer(server: &RedisServer, namespace: &str) -> RedisCache {
    let mut config = RedisConfig::new(format!("{}/15", server.url()));
    config.namespace = namespace.to_owned();
    RedisCache::connect(config).await.unwrap()
}

fn value(i: usize) -> Bytes {
    Bytes::from(format!("value {i}"))
}

async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn present(cache: &RedisCache, keys: &[String]) -> usize {
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    cache.get_many(&keys).await.unwrap().iter().flatten().count()
}

/// The reported defect: 10 500 health checks of an instance that lost Redis, then its recovery,
/// deleted every key another instance had written. Health checks of a degraded cache now write
/// nothing, and the replay deletes only what this instance changed during the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_instances_health_checks_and_recovery_keep_other_instances_keys() {
    let Some(server) = local_server() else { return };
    let proxy = FaultProxy::start(upstream(&server));
    let ns = namespace();
    let a = instance(&format!("{}/15", proxy.url()), &ns).await;
    let b = instance(&format!("{}/15", server.url()), &ns).await;
    let raw = observer(&server, &ns).await;

    let theirs: Vec<String> = (0..50).map(|i| format!("b:{i}")).collect();
    for (i, key) in theirs.iter().enumerate() {
        b.cache.set(key, value(i), Ttl::secs(600)).await.unwrap();
    }
    let mine: Vec<String> = (0..3).map(|i| format!("a:{i}")).collect();
    for key in &mine {
        a.cache
            .set(key, Bytes::from_static(b"before"), Ttl::secs(600))
            .await
            .unwrap();
    }

    proxy.cut();
    let failover = a.failover.clone().unwrap();
    eventually("A serves from memory", async || {
        let _ = a.cache.get("probe-the-breaker").await;
        failover.state() == FailoverState::Fallback
    })
    .await;
    let check = HealthCheck::default();
    for _ in 0..10_500 {
        let report = check.check(&*a.cache).await;
        assert!(report.operation_test, "{report:?}");
    }
    // What A itself changes during the outage must still reach Redis on recovery.
    for key in &mine {
        a.cache
            .set(key, Bytes::from_static(b"during"), Ttl::secs(600))
            .await
            .unwrap();
    }
    proxy.pass();
    eventually("A back on Redis", async || {
        failover.state() == FailoverState::Primary
    })
    .await;

    let counters = failover.counters();
    println!("after 10 500 health checks while degraded: {counters:?}");
    assert_eq!(
        present(&raw, &theirs).await,
        50,
        "B's entries survive A's recovery"
    );
    assert_eq!(counters.primary_clears, 0, "{counters:?}");
    assert_eq!(
        counters.unrecorded, 0,
        "health checks recorded nothing: {counters:?}"
    );
    assert_eq!(
        counters.replayed, 3,
        "only A's own three keys were replayed: {counters:?}"
    );
    assert_eq!(
        present(&raw, &mine).await,
        0,
        "A's outdated values were removed from Redis"
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// More changes during an outage than the record holds: the recovery removes the recorded keys
/// only, never the namespace, and counts what it could not record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_replay_record_never_clears_the_shared_namespace() {
    let Some(server) = local_server() else { return };
    let proxy = FaultProxy::start(upstream(&server));
    let ns = namespace();
    let mut config = RedisConfig::new(proxy.url());
    config.namespace.clone_from(&ns);
    let primary = RedisCache::connect(config).await.unwrap();
    let fallback: SharedCache = Arc::new(MemoryCache::new(10_000).unwrap());
    let failover = FailoverConfig::default()
        .with_probe_interval(Duration::from_millis(100))
        .with_max_replay_keys(20);
    let a = FailoverCache::new(Arc::new(primary), fallback, failover).unwrap();
    let mut config = RedisConfig::new(server.url());
    config.namespace.clone_from(&ns);
    let b = RedisCache::connect(config).await.unwrap();

    let theirs: Vec<String> = (0..50).map(|i| format!("b:{i}")).collect();
    let mine: Vec<String> = (0..50).map(|i| format!("a:{i}")).collect();
    for (i, key) in theirs.iter().enumerate() {
        b.set(key, value(i), Ttl::secs(600)).await.unwrap();
    }
    for (i, key) in mine.iter().enumerate() {
        a.set(key, value(i), Ttl::secs(600)).await.unwrap();
    }
    proxy.cut();
    eventually("A serves from memory", async || {
        let _ = a.get("probe-the-breaker").await;
        a.state() == FailoverState::Fallback
    })
    .await;
    for key in &mine {
        a.set(key, Bytes::from_static(b"during"), Ttl::secs(600))
            .await
            .unwrap();
    }
    proxy.pass();
    eventually("A back on Redis", async || a.state() == FailoverState::Primary).await;

    let counters = a.counters();
    println!("a record of 20 for 50 changed keys: {counters:?}");
    assert_eq!(present(&b, &theirs).await, 50, "B's entries survive");
    assert_eq!(counters.primary_clears, 0, "{counters:?}");
    assert_eq!((counters.replayed, counters.unrecorded), (20, 30), "{counters:?}");
    assert_eq!(
        present(&b, &mine).await,
        30,
        "the 20 recorded keys were removed, no more"
    );
}

/// Load on a factory-built instance while Redis is frozen: the latencies callers saw, the errors
/// they got, and when the failover moved to memory.
#[derive(Debug, Default)]
struct LoadReport {
    requests: u64,
    errors: u64,
    over_bound: u64,
    max: Duration,
}

/// 20 tasks of reads and writes until `stop`; records every request's latency.
async fn load(cache: SharedCache, stop: Arc<AtomicBool>) -> LoadReport {
    let (requests, errors, over, max_us) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut tasks = Vec::new();
    for t in 0..20 {
        let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
        let (requests, errors, over, max_us) = (
            Arc::clone(&requests),
            Arc::clone(&errors),
            Arc::clone(&over),
            Arc::clone(&max_us),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(SeqCst) {
                let key = format!("load:{t}:{}", i % 50);
                let started = Instant::now();
                let outcome = if i.is_multiple_of(4) {
                    cache
                        .set(&key, Bytes::from_static(b"v"), Ttl::secs(60))
                        .await
                        .map(drop)
                } else {
                    cache.get(&key).await.map(drop)
                };
                let took = started.elapsed();
                requests.fetch_add(1, SeqCst);
                if outcome.is_err() {
                    errors.fetch_add(1, SeqCst);
                }
                if took > LATENCY_BOUND {
                    over.fetch_add(1, SeqCst);
                }
                max_us.fetch_max(took.as_micros() as u64, SeqCst);
                i += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    LoadReport {
        requests: requests.load(SeqCst),
        errors: errors.load(SeqCst),
        over_bound: over.load(SeqCst),
        max: Duration::from_micros(max_us.load(SeqCst)),
    }
}

/// The reported defect: with redis-server stopped (`SIGSTOP`) for 8 s, every in-flight request
/// waited about 8 s and the failover moved to memory only 8 s after the stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_holds_no_caller_past_the_deadline() {
    let Some(mut server) = local_server() else { return };
    let built = instance(&format!("{}/15", server.url()), &namespace()).await;
    let failover = built.failover.clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = tokio::spawn(load(Arc::clone(&built.cache), Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.pause();
    let frozen = Instant::now();
    let mut moved = None;
    while frozen.elapsed() < Duration::from_secs(3) {
        if moved.is_none() && failover.state() == FailoverState::Fallback {
            moved = Some(frozen.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.resume();
    eventually("back on Redis", async || {
        failover.state() == FailoverState::Primary
    })
    .await;
    stop.store(true, SeqCst);
    let report = running.await.unwrap();
    println!("redis-server stopped for 3 s under 20 tasks: {report:?}; on memory after {moved:?}");
    let moved = moved.expect("the failover moved to memory while Redis was hung");
    assert!(moved < LATENCY_BOUND, "moved to memory only after {moved:?}");
    assert_eq!(report.errors, 0, "callers are served by the fallback: {report:?}");
    assert_eq!(report.over_bound, 0, "{report:?}");
    assert!(report.max < LATENCY_BOUND && report.requests > 0, "{report:?}");
    built.close().await.unwrap();
}

/// A killed redis-server (connections reset, then refused) is detected by the first requests
/// within the retry budget, not after three backed-off retries each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_is_detected_within_the_retry_budget() {
    let Some(mut server) = local_server() else { return };
    let built = instance(&format!("{}/15", server.url()), &namespace()).await;
    let failover = built.failover.clone().unwrap();
    built
        .cache
        .set("k", Bytes::from_static(b"v"), Ttl::secs(60))
        .await
        .unwrap();

    server.kill9();
    let killed = Instant::now();
    let mut latencies = Vec::new();
    while failover.state() == FailoverState::Primary {
        let started = Instant::now();
        built.cache.get("k").await.unwrap();
        latencies.push(started.elapsed());
        assert!(latencies.len() < 100, "the circuit never opened");
    }
    let detected = killed.elapsed();
    println!("redis-server killed: on memory after {detected:?}; requests meanwhile: {latencies:?}");
    for took in &latencies {
        assert!(*took < LATENCY_BOUND, "{latencies:?}");
    }
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    assert!(slowest < LATENCY_BOUND, "{slowest:?}");
    server.restart();
    eventually("back on Redis", async || {
        failover.state() == FailoverState::Primary
    })
    .await;
    built.close().await.unwrap();
}
