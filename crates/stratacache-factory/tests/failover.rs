//! `FailoverCache` over real `redis-server` fixtures with a `MemoryCache` fallback: conformance on
//! both paths, the circuit opening when the server is stopped or frozen, the return to Redis by
//! itself without stale values, a cache started while Redis was down, and configuration errors.
//!
//! Servers that are stopped, frozen or restarted are local (`RedisServer::builder(..).local()`).
//! "Frozen" is `SIGSTOP`: the server keeps its connections and its data but answers nothing, so
//! every command waits for its timeout; `SIGCONT` thaws it. Servers restarted with their data use
//! an append-only file fsynced at every write.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, ErrorKind, HealthStatus, SharedCache, Ttl};
use stratacache_factory::failover::{FailoverCache, FailoverConfig, FailoverState};
use stratacache_memory::MemoryCache;
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::conformance::Suite;
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};
use stratacache_testkit::redis_server_or_skip;

/// The Redis command and connect timeout of these tests.
const REDIS_TIMEOUT: Duration = Duration::from_millis(300);

/// A configuration for `server` with a namespace of its own.
fn redis_config(server: &RedisServer) -> RedisConfig {
    let mut config = RedisConfig::new(server.url());
    config.namespace = unique_namespace("failover");
    config
}

/// Fast-failing settings: short timeouts, no retries.
fn impatient(mut config: RedisConfig) -> RedisConfig {
    config.connect_timeout = REDIS_TIMEOUT;
    config.command_timeout = REDIS_TIMEOUT;
    config.retry.max_retries = 0;
    config
}

fn memory(default_ttl: Option<Duration>) -> Arc<MemoryCache> {
    let mut builder = MemoryCache::builder().max_entries(10_000);
    if let Some(ttl) = default_ttl {
        builder = builder.default_ttl(ttl);
    }
    Arc::new(builder.build().unwrap())
}

/// Probes every 100 ms, within 200 ms; opens after 3 failures.
fn quick() -> FailoverConfig {
    FailoverConfig::default()
        .with_failure_threshold(3)
        .with_probe_interval(Duration::from_millis(100))
        .with_probe_timeout(Duration::from_millis(200))
}

/// A local server that the test may stop and restart.
fn local_server() -> Option<RedisServer> {
    RedisServer::builder(RedisMode::Plain).local().start_or_skip()
}

/// A local server that keeps its data across `stop()` / `restart()` (append-only file, fsync at
/// every write).
fn persistent_server() -> Option<RedisServer> {
    RedisServer::builder(RedisMode::Plain)
        .local()
        .config("appendonly", "yes")
        .config("appendfsync", "always")
        .start_or_skip()
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Polls `condition` every 20 ms until it holds, for at most `secs` seconds.
async fn eventually(what: &str, secs: u64, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !condition().await {
        assert!(Instant::now() < deadline, "not within {secs}s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Freezes a local server (`SIGSTOP`) until dropped (`SIGCONT`, also on panic).
struct Frozen(u32);

impl Frozen {
    fn new(server: &RedisServer) -> Self {
        let pid = server.pid().expect("a local server has a process");
        signal("-STOP", pid);
        Self(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
}

// ------------------------------------------------------------------------------------------------
// 1. Conformance
// ------------------------------------------------------------------------------------------------

/// On a healthy Redis every operation is served by Redis: the suite passes and no cache it built
/// ever used its fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_over_a_healthy_redis() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let server = &server;
    let built = Mutex::new(Vec::new());
    let built = &built;
    let report = Suite::new(|default_ttl| async move {
        let mut config = redis_config(server);
        config.default_ttl = default_ttl;
        let redis = RedisCache::connect(config).await.expect("connect to the fixture");
        let cache =
            FailoverCache::new(Arc::new(redis), memory(default_ttl), FailoverConfig::default()).unwrap();
        let cache = Arc::new(cache);
        built.lock().unwrap().push(Arc::clone(&cache));
        cache
    })
    .run()
    .await;
    assert!(report.skipped.is_empty());
    let built = built.lock().unwrap();
    assert!(built.len() >= 17, "{} caches", built.len());
    for cache in built.iter() {
        assert_eq!(cache.state(), FailoverState::Primary);
        assert_eq!(cache.counters().fallback_operations, 0, "{:?}", cache.counters());
    }
}

/// A cache whose Redis died: connected, then its server stopped and the circuit opened (by
/// `exists` calls, which count no hit or miss). Everything the suite does is served by memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_on_the_fallback_after_redis_died() {
    let Some(probe) = local_server() else { return };
    drop(probe);
    let built = Mutex::new(Vec::new());
    let built = &built;
    let report = Suite::new(|default_ttl| async move {
        let mut server = RedisServer::builder(RedisMode::Plain).local().start();
        let mut config = impatient(redis_config(&server));
        config.default_ttl = default_ttl;
        let redis = RedisCache::connect(config).await.expect("connect to the fixture");
        let cache = FailoverCache::new(Arc::new(redis), memory(default_ttl), quick()).unwrap();
        server.stop();
        for _ in 0..3 {
            assert!(!cache.exists("trip").await.unwrap());
        }
        assert_eq!(cache.state(), FailoverState::Fallback);
        let cache = Arc::new(cache);
        built.lock().unwrap().push(Arc::clone(&cache));
        cache
    })
    .skip(
        "health",
        "a cache served by its fallback reports itself degraded, by design",
    )
    .run()
    .await;
    assert_eq!(report.skipped.len(), 1);
    let built: Vec<_> = built.lock().unwrap().clone();
    for cache in built {
        assert_eq!(cache.state(), FailoverState::Fallback);
        assert_eq!(cache.counters().recoveries, 0);
        assert_eq!(cache.health().await.status, HealthStatus::Degraded);
    }
}

/// A cache started while Redis was down (`disconnected`), its connector failing all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_on_the_fallback_of_a_disconnected_cache() {
    let Some(mut server) = local_server() else { return };
    server.stop();
    let config = impatient(redis_config(&server));
    let config = &config;
    let built = Mutex::new(Vec::new());
    let built = &built;
    let report = Suite::new(|default_ttl| async move {
        let config = config.clone();
        let connect = move || {
            let config = config.clone();
            async move { Ok(Arc::new(RedisCache::connect(config).await?) as SharedCache) }
        };
        let cache = FailoverCache::disconnected(connect, memory(default_ttl), quick()).unwrap();
        let cache = Arc::new(cache);
        built.lock().unwrap().push(Arc::clone(&cache));
        cache
    })
    .skip(
        "health",
        "a cache served by its fallback reports itself degraded, by design",
    )
    .run()
    .await;
    assert_eq!(report.skipped.len(), 1);
    let built = built.lock().unwrap();
    assert!(
        built.iter().any(|c| c.counters().failed_probes > 0),
        "the connector was tried"
    );
    for cache in built.iter() {
        assert_eq!(cache.state(), FailoverState::Fallback);
        assert!(cache.primary().is_none());
    }
}

// ------------------------------------------------------------------------------------------------
// 2. The circuit opens
// ------------------------------------------------------------------------------------------------

/// The server is stopped: the first operations are served by memory without an error, the third
/// failure opens the circuit, health and stats say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_fails_over_without_errors_and_opens_the_circuit() {
    let Some(mut server) = local_server() else { return };
    let redis = RedisCache::connect(impatient(redis_config(&server)))
        .await
        .unwrap();
    let fallback = memory(None);
    let cache = FailoverCache::new(Arc::new(redis), fallback.clone(), quick()).unwrap();
    cache.set("k", b("v1"), Ttl::Never).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(b("v1")));
    assert_eq!(cache.health().await.status, HealthStatus::Healthy);

    server.stop();
    // Failure 1: a write, served by memory.
    cache.set("k2", b("during"), Ttl::Never).await.unwrap();
    assert_eq!(cache.state(), FailoverState::Primary);
    // Failure 2: a read, answered by memory.
    assert_eq!(cache.get("k2").await.unwrap(), Some(b("during")));
    assert_eq!(cache.state(), FailoverState::Primary);
    // Failure 3: the circuit opens.
    assert!(!cache.delete("k").await.unwrap(), "memory never had k");
    assert_eq!(cache.state(), FailoverState::Fallback);
    let c = cache.counters();
    assert_eq!(
        (c.trips, c.primary_failures, c.fallback_operations),
        (1, 3, 3),
        "{c:?}"
    );

    // Open: everything is served by memory.
    for _ in 0..100 {
        assert_eq!(cache.get("k2").await.unwrap(), Some(b("during")));
    }
    assert_eq!(cache.counters().fallback_operations, 103);
    assert_eq!(cache.counters().primary_failures, 3, "no operation reached Redis");

    eventually("a probe failed", 5, async || cache.counters().failed_probes > 0).await;
    let health = cache.health().await;
    assert_eq!(health.status, HealthStatus::Degraded, "{health:?}");
    assert!(
        health.messages[0].contains("serving from the fallback (memory)"),
        "{health:?}"
    );
    assert_eq!(health.inner.len(), 2, "{health:?}");
    assert_eq!(
        (health.inner[0].backend.as_str(), health.inner[0].status),
        ("redis", HealthStatus::Unhealthy),
        "{health:?}"
    );
    let stats = cache.stats().await;
    assert_eq!(stats.backend, "failover");
    assert_eq!(
        (stats.hits, stats.misses, stats.writes, stats.errors),
        (102, 0, 2, 0)
    );
    assert_eq!(stats.inner[0].backend, "memory");
    assert_eq!(stats.entries, Some(1), "the fallback's entries");
}

/// A frozen server answers nothing: each of the first operations waits for the command timeout,
/// but once the circuit is open 100 reads take less than one command timeout in total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_open_no_operation_waits_for_a_frozen_server() {
    let Some(server) = local_server() else { return };
    let redis = RedisCache::connect(impatient(redis_config(&server)))
        .await
        .unwrap();
    let cache = FailoverCache::new(Arc::new(redis), memory(None), quick()).unwrap();
    cache.set("k", b("v1"), Ttl::Never).await.unwrap();

    let frozen = Frozen::new(&server);
    for i in 0..3 {
        assert_eq!(cache.state(), FailoverState::Primary, "after {i} timeouts");
        assert_eq!(cache.get("k").await.unwrap(), None, "memory does not have k");
    }
    assert_eq!(cache.state(), FailoverState::Fallback);
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();

    let start = Instant::now();
    for _ in 0..100 {
        assert_eq!(cache.get("k").await.unwrap(), Some(b("v2")));
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < REDIS_TIMEOUT,
        "100 reads on an open circuit took {elapsed:?}, more than one command timeout ({REDIS_TIMEOUT:?})"
    );
    drop(frozen);
    eventually("back on Redis after the thaw", 10, async || {
        cache.state() == FailoverState::Primary
    })
    .await;
}

// ------------------------------------------------------------------------------------------------
// 3. Back to Redis by itself, without stale values
// ------------------------------------------------------------------------------------------------

/// The server is stopped and restarted with its data (append-only file): what was written or
/// deleted during the outage is not undone by the values Redis kept, keys nobody touched keep
/// their Redis values, and new writes reach Redis again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_used_again_without_shadowing_outage_writes() {
    let Some(mut server) = persistent_server() else {
        return;
    };
    let config = impatient(redis_config(&server));
    let redis = RedisCache::connect(config.clone()).await.unwrap();
    let fallback = memory(None);
    let cache = FailoverCache::new(Arc::new(redis), fallback.clone(), quick()).unwrap();
    for (k, v) in [("k", "v1"), ("d", "x"), ("keep", "y"), ("p:1", "z")] {
        cache.set(k, b(v), Ttl::Never).await.unwrap();
    }

    server.stop();
    for _ in 0..3 {
        cache.exists("trip").await.unwrap();
    }
    assert_eq!(cache.state(), FailoverState::Fallback);
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    assert!(!cache.delete("d").await.unwrap());
    cache.invalidate_pattern("p:*").await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(b("v2")));
    assert_eq!(cache.get("keep").await.unwrap(), None, "memory never had it");

    server.restart();
    // The restarted server kept its data (the replay never touches `keep`).
    let observer = RedisCache::connect(config.clone()).await.unwrap();
    assert_eq!(observer.get("keep").await.unwrap(), Some(b("y")));
    eventually("back on Redis", 10, async || {
        cache.state() == FailoverState::Primary
    })
    .await;

    assert_ne!(
        cache.get("k").await.unwrap(),
        Some(b("v1")),
        "v1 shadows the outage's v2"
    );
    assert_eq!(cache.get("d").await.unwrap(), None, "d came back");
    assert_eq!(cache.get("p:1").await.unwrap(), None, "p:1 came back");
    assert_eq!(
        cache.get("keep").await.unwrap(),
        Some(b("y")),
        "read from Redis again"
    );
    assert_eq!(observer.get("k").await.unwrap(), None);
    let c = cache.counters();
    assert_eq!(
        (c.trips, c.recoveries, c.replayed, c.primary_clears),
        (1, 1, 3, 0),
        "{c:?}"
    );
    eventually("the fallback is cleared", 5, async || {
        fallback.stats().await.entries == Some(0)
    })
    .await;

    cache.set("after", b("redis"), Ttl::Never).await.unwrap();
    assert_eq!(observer.get("after").await.unwrap(), Some(b("redis")));
    assert_eq!(cache.health().await.status, HealthStatus::Healthy);
    assert_eq!(cache.counters().fallback_operations, c.fallback_operations);
}

/// The same across a partition (the server frozen, then thawed: it never lost its data or its
/// connections). Nothing the cache wrote during the outage was sent to Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_during_a_partition_are_not_shadowed_after_recovery() {
    let Some(server) = local_server() else { return };
    let config = impatient(redis_config(&server));
    let observer = RedisCache::connect(config.clone()).await.unwrap();
    let redis = RedisCache::connect(config).await.unwrap();
    let cache = FailoverCache::new(Arc::new(redis), memory(None), quick()).unwrap();
    for (k, v) in [("k", "v1"), ("d", "x"), ("keep", "y")] {
        cache.set(k, b(v), Ttl::Never).await.unwrap();
    }

    let frozen = Frozen::new(&server);
    for _ in 0..3 {
        cache.exists("trip").await.unwrap();
    }
    assert_eq!(cache.state(), FailoverState::Fallback);
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    cache.delete("d").await.unwrap();
    drop(frozen);

    eventually("back on Redis", 10, async || {
        cache.state() == FailoverState::Primary
    })
    .await;
    assert_ne!(
        cache.get("k").await.unwrap(),
        Some(b("v1")),
        "v1 shadows the outage's v2"
    );
    assert_eq!(cache.get("d").await.unwrap(), None, "d came back");
    assert_eq!(cache.get("keep").await.unwrap(), Some(b("y")));
    assert_eq!(observer.get("k").await.unwrap(), None);
    assert_eq!(observer.get("d").await.unwrap(), None);
}

/// A `clear()` during the outage clears Redis on recovery, in this cache's namespace only. (A
/// record that overflows never clears anything: see `tests/outages.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_during_the_outage_clears_only_this_namespace() {
    let Some(server) = local_server() else { return };
    let ours = impatient(redis_config(&server));
    let neighbour = RedisCache::connect(impatient(redis_config(&server)))
        .await
        .unwrap();
    neighbour.set("n", b("theirs"), Ttl::Never).await.unwrap();
    let observer = RedisCache::connect(ours.clone()).await.unwrap();
    let redis = RedisCache::connect(ours).await.unwrap();
    let cache = FailoverCache::new(Arc::new(redis), memory(None), quick()).unwrap();
    cache.set("keep", b("y"), Ttl::Never).await.unwrap();

    let frozen = Frozen::new(&server);
    for _ in 0..3 {
        cache.exists("trip").await.unwrap();
    }
    cache.clear().await.unwrap();
    drop(frozen);

    eventually("back on Redis", 10, async || {
        cache.state() == FailoverState::Primary
    })
    .await;
    assert_eq!(cache.counters().primary_clears, 1);
    assert_eq!(
        observer.get("keep").await.unwrap(),
        None,
        "our namespace was cleared"
    );
    assert_eq!(neighbour.get("n").await.unwrap(), Some(b("theirs")), "not theirs");
}

// ------------------------------------------------------------------------------------------------
// 4. Started while Redis was down
// ------------------------------------------------------------------------------------------------

/// `disconnected`: served by memory while the server is down, on Redis once it is up (same port),
/// and the value Redis kept for a key written meanwhile does not shadow that write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_cache_returns_to_redis_when_the_server_starts() {
    let Some(mut server) = persistent_server() else {
        return;
    };
    let config = impatient(redis_config(&server));
    RedisCache::connect(config.clone())
        .await
        .unwrap()
        .set("k", b("v1"), Ttl::Never)
        .await
        .unwrap();
    server.stop();

    let start = Instant::now();
    let err = RedisCache::connect(config.clone()).await.unwrap_err();
    assert!(err.is_temporary(), "{err}");
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    let connect = {
        let config = config.clone();
        move || {
            let config = config.clone();
            async move { Ok(Arc::new(RedisCache::connect(config).await?) as SharedCache) }
        }
    };
    let cache = FailoverCache::disconnected(connect, memory(None), quick()).unwrap();
    assert_eq!(cache.state(), FailoverState::Fallback);
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    cache.set("m", b("memory"), Ttl::Never).await.unwrap();
    assert_eq!(cache.get("m").await.unwrap(), Some(b("memory")));
    let health = cache.health().await;
    assert_eq!(health.status, HealthStatus::Degraded, "{health:?}");
    assert!(health.messages[0].contains("not connected"), "{health:?}");
    eventually("a connection attempt failed", 5, async || {
        cache.counters().failed_probes > 0
    })
    .await;
    assert_eq!(cache.state(), FailoverState::Fallback);

    server.restart();
    eventually("connected to Redis", 10, async || {
        cache.state() == FailoverState::Primary
    })
    .await;
    assert!(cache.primary().is_some());
    assert_ne!(cache.get("k").await.unwrap(), Some(b("v1")), "v1 shadows v2");
    cache.set("after", b("redis"), Ttl::Never).await.unwrap();
    let observer = RedisCache::connect(config).await.unwrap();
    assert_eq!(observer.get("after").await.unwrap(), Some(b("redis")));
    assert_eq!(observer.get("k").await.unwrap(), None);
    let c = cache.counters();
    assert_eq!((c.trips, c.recoveries), (0, 1), "{c:?}");
    assert_eq!(cache.health().await.status, HealthStatus::Healthy);
}

// ------------------------------------------------------------------------------------------------
// 5. Configuration
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_configuration_names_field_value_and_range() {
    let config = FailoverConfig::default()
        .with_failure_threshold(0)
        .with_probe_interval(Duration::from_millis(10))
        .with_probe_timeout(Duration::ZERO)
        .with_max_replay_keys(5_000_000);
    let err = FailoverCache::new(memory(None), memory(None), config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let msg = err.to_string();
    for expected in [
        "failure_threshold = 0 is out of range (accepted: 1..=100)",
        "probe_interval = 10ms is out of range (accepted: 50ms..=60s)",
        "probe_timeout = 0ns is out of range (accepted: 10ms..=60s)",
        "max_replay_keys = 5000000 is out of range (accepted: 0..=1000000)",
    ] {
        assert!(msg.contains(expected), "{expected:?} not in {msg}");
    }
    let connect = || async { Err::<SharedCache, _>(stratacache_core::Error::configuration("unused")) };
    let err = FailoverCache::disconnected(connect, memory(None), config).unwrap_err();
    assert!(err.to_string().contains("failure_threshold = 0"), "{err}");

    let config: FailoverConfig =
        serde_json::from_str(r#"{"failure_threshold": 5, "probe_interval": 0.5, "probe_timeout": 0.1}"#)
            .unwrap();
    assert_eq!(config.probe_interval, Duration::from_millis(500));
    config.validate().unwrap();
    let config: FailoverConfig = serde_json::from_str(r#"{"probe_interval": 120}"#).unwrap();
    let err = config.validate().unwrap_err();
    assert!(
        err.to_string()
            .contains("probe_interval = 120s is out of range (accepted: 50ms..=60s)"),
        "{err}"
    );
}
