//! The breaker's logic against a test double whose failures are switched on and off: counting,
//! tripping, replay, repair, overflow, the task's lifetime. The real-Redis scenarios are in
//! `tests/failover.rs`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use stratacache_core::{
    Bytes, Cache, CacheStats, Error, ErrorKind, Expiry, Health, HealthStatus, Result, SharedCache, Ttl,
    async_trait,
};
use stratacache_memory::MemoryCache;

use super::*;

/// A memory cache whose operations can be made to fail.
#[derive(Debug)]
struct Flaky {
    inner: MemoryCache,
    /// Every operation fails with a temporary (connection) error; health is unhealthy.
    down: AtomicBool,
    /// `delete`, `invalidate_pattern` and `clear` fail with a temporary error.
    refuse_removals: AtomicBool,
    /// Every operation fails with a non-temporary (backend) error.
    broken: AtomicBool,
    /// Data operations that reached this cache.
    calls: AtomicU64,
    /// `health` calls.
    health_calls: AtomicU64,
}

impl Flaky {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryCache::new(10_000).unwrap(),
            down: AtomicBool::new(false),
            refuse_removals: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            health_calls: AtomicU64::new(0),
        })
    }

    fn enter(&self, removal: bool) -> Result<()> {
        self.calls.fetch_add(1, SeqCst);
        if self.down.load(SeqCst) || (removal && self.refuse_removals.load(SeqCst)) {
            return Err(Error::new(
                ErrorKind::Connection,
                "connection refused (test double)",
            ));
        }
        if self.broken.load(SeqCst) {
            return Err(Error::new(ErrorKind::Backend, "unexpected reply (test double)"));
        }
        Ok(())
    }
}

#[async_trait]
impl Cache for Flaky {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.enter(false)?;
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.enter(false)?;
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.enter(true)?;
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        self.enter(false)?;
        self.inner.exists(key).await
    }
    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        self.enter(false)?;
        self.inner.ttl(key).await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.enter(true)?;
        self.inner.invalidate_pattern(pattern).await
    }
    async fn clear(&self) -> Result<()> {
        self.enter(true)?;
        self.inner.clear().await
    }
    async fn health(&self) -> Health {
        self.health_calls.fetch_add(1, SeqCst);
        if self.down.load(SeqCst) {
            Health::new("flaky", HealthStatus::Unhealthy).with_message("down (test double)")
        } else {
            Health::healthy("flaky")
        }
    }
    async fn stats(&self) -> CacheStats {
        self.inner.stats().await
    }
}

fn config() -> FailoverConfig {
    FailoverConfig::default()
        .with_failure_threshold(3)
        .with_probe_interval(Duration::from_millis(50))
        .with_probe_timeout(Duration::from_millis(200))
}

fn memory() -> Arc<MemoryCache> {
    Arc::new(MemoryCache::new(10_000).unwrap())
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Polls `condition` every 10 ms until it holds, for at most 5 s.
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A cache over `primary` that failed over `threshold` reads and is now open.
async fn tripped(primary: &Arc<Flaky>, fallback: &Arc<MemoryCache>, config: FailoverConfig) -> FailoverCache {
    let cache = FailoverCache::new(primary.clone(), fallback.clone(), config).unwrap();
    primary.down.store(true, SeqCst);
    for i in 0..config.failure_threshold {
        assert_eq!(cache.state(), FailoverState::Primary, "after {i} failures");
        assert_eq!(cache.get("trip").await.unwrap(), None);
    }
    assert_eq!(cache.state(), FailoverState::Fallback);
    cache
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failures_fall_back_and_open_the_circuit_at_the_threshold() {
    let (primary, fallback) = (Flaky::new(), memory());
    let cache = FailoverCache::new(primary.clone(), fallback.clone(), config()).unwrap();
    primary.down.store(true, SeqCst);

    // A write, then a read of it: served by the fallback, no error.
    cache.set("k", b("v"), Ttl::Never).await.unwrap();
    assert_eq!(cache.state(), FailoverState::Primary);
    assert_eq!(cache.get("k").await.unwrap(), Some(b("v")));
    assert_eq!(cache.state(), FailoverState::Primary);
    assert!(cache.delete("k").await.unwrap());
    assert_eq!(cache.state(), FailoverState::Fallback);
    let c = cache.counters();
    assert_eq!((c.trips, c.primary_failures, c.fallback_operations), (1, 3, 3));

    // Open: the primary is not called any more.
    let calls = primary.calls.load(SeqCst);
    for _ in 0..100 {
        assert_eq!(cache.get("k").await.unwrap(), None);
    }
    assert_eq!(
        primary.calls.load(SeqCst),
        calls,
        "an open circuit called the primary"
    );
    assert_eq!(cache.counters().fallback_operations, 103);

    let health = cache.health().await;
    assert_eq!(health.status, HealthStatus::Degraded, "{health:?}");
    assert!(
        health.messages[0].contains("serving from the fallback (memory)"),
        "{health:?}"
    );
    assert!(
        health.messages[0].contains("failed 3 times in a row"),
        "{health:?}"
    );
    eventually("a probe ran", async || cache.counters().failed_probes > 0).await;
    let health = cache.health().await;
    assert_eq!(health.inner.len(), 2, "{health:?}");
    assert_eq!(
        (health.inner[0].backend.as_str(), health.inner[0].status),
        ("flaky", HealthStatus::Unhealthy)
    );
    assert_eq!(health.inner[1].backend, "memory");

    let stats = cache.stats().await;
    assert_eq!(stats.backend, "failover");
    assert_eq!(
        (stats.hits, stats.misses, stats.writes, stats.errors),
        (1, 100, 1, 0)
    );
    assert_eq!(stats.inner.len(), 1);
    assert_eq!(stats.inner[0].backend, "memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_errors_are_returned_and_successes_reset_the_count() {
    let (primary, fallback) = (Flaky::new(), memory());
    let cache = FailoverCache::new(primary.clone(), fallback, config()).unwrap();
    primary.broken.store(true, SeqCst);
    for _ in 0..10 {
        let err = cache.get("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend);
    }
    assert_eq!(cache.state(), FailoverState::Primary);
    assert_eq!(cache.stats().await.errors, 10);
    // An invalid TTL is refused before any tier is asked.
    let calls = primary.calls.load(SeqCst);
    let err = cache
        .set("k", b("v"), Ttl::After(Duration::ZERO))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(primary.calls.load(SeqCst), calls);
    primary.broken.store(false, SeqCst);

    for _ in 0..3 {
        primary.down.store(true, SeqCst);
        cache.get("k").await.unwrap();
        cache.get("k").await.unwrap();
        primary.down.store(false, SeqCst);
        cache.get("k").await.unwrap();
    }
    assert_eq!(
        cache.state(),
        FailoverState::Primary,
        "2 failures then a success, 3 times"
    );
    assert_eq!(cache.counters().trips, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_replays_the_outage_then_clears_the_fallback() {
    let (primary, fallback) = (Flaky::new(), memory());
    for (k, v) in [("k", "v1"), ("d", "x"), ("keep", "y"), ("p:1", "z")] {
        primary.inner.set(k, b(v), Ttl::Never).await.unwrap();
    }
    let cache = tripped(&primary, &fallback, config()).await;
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    assert!(!cache.delete("d").await.unwrap());
    assert_eq!(cache.invalidate_pattern("p:*").await.unwrap(), 0);
    assert_eq!(cache.get("k").await.unwrap(), Some(b("v2")));

    primary.down.store(false, SeqCst);
    eventually("back on the primary", async || {
        cache.state() == FailoverState::Primary
    })
    .await;
    let c = cache.counters();
    assert_eq!((c.recoveries, c.replayed, c.primary_clears), (1, 3, 0), "{c:?}");
    // The older value of k is gone from the primary, d stays deleted, the rest is untouched.
    assert_eq!(cache.get("k").await.unwrap(), None);
    assert_eq!(cache.get("d").await.unwrap(), None);
    assert_eq!(cache.get("p:1").await.unwrap(), None);
    assert_eq!(cache.get("keep").await.unwrap(), Some(b("y")));
    eventually("the fallback is cleared", async || {
        fallback.stats().await.entries == Some(0)
    })
    .await;
    assert_eq!(cache.health().await.status, HealthStatus::Healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_replay_keeps_the_circuit_open() {
    let (primary, fallback) = (Flaky::new(), memory());
    primary.inner.set("k", b("v1"), Ttl::Never).await.unwrap();
    let cache = tripped(&primary, &fallback, config()).await;
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    // Healthy again, but deletions fail: the replay cannot complete.
    primary.refuse_removals.store(true, SeqCst);
    primary.down.store(false, SeqCst);
    eventually("two replays failed", async || {
        cache.counters().failed_replays >= 2
    })
    .await;
    assert_eq!(cache.state(), FailoverState::Fallback);
    assert_eq!(
        cache.get("k").await.unwrap(),
        Some(b("v2")),
        "still served by the fallback"
    );
    let health = cache.health().await;
    assert!(health.messages[0].contains("replay: connection"), "{health:?}");

    primary.refuse_removals.store(false, SeqCst);
    eventually("back on the primary", async || {
        cache.state() == FailoverState::Primary
    })
    .await;
    assert_eq!(primary.inner.get("k").await.unwrap(), None);
}

/// Writers that keep recording through the fallback faster than the replay removes keys do not
/// keep the circuit open: after a few passes it closes and the rest is replayed closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_under_constant_writes_closes_the_circuit() {
    use stratacache_testkit::double::{Op, Script, ScriptedCache};

    let (flaky, fallback) = (Flaky::new(), memory());
    let primary = ScriptedCache::new(flaky.clone());
    let cache = Arc::new(FailoverCache::new(primary.shared(), fallback.clone(), config()).unwrap());
    flaky.down.store(true, SeqCst);
    for _ in 0..config().failure_threshold {
        assert_eq!(cache.get("trip").await.unwrap(), None);
    }
    assert_eq!(cache.state(), FailoverState::Fallback);
    // Each replayed batch takes 20 ms; the writer records a fresh key far more often.
    primary.script(Op::DeleteMany, Script::Delay(Duration::from_millis(20)));
    let writer = tokio::spawn({
        let cache = Arc::clone(&cache);
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut i = 0u64;
            while cache.state() == FailoverState::Fallback {
                if Instant::now() > deadline {
                    return None;
                }
                cache.set(&format!("w:{i}"), b("v"), Ttl::Never).await.unwrap();
                i += 1;
                tokio::task::yield_now().await;
            }
            Some(i)
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    flaky.down.store(false, SeqCst);
    let written = writer.await.unwrap();
    assert!(
        written.is_some(),
        "the circuit stayed open for 10 s while a writer kept recording keys"
    );
    assert!(primary.calls(Op::DeleteMany) > 1, "replayed in several passes");
    let c = cache.counters();
    assert_eq!((c.recoveries, c.primary_clears), (1, 0), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_record_removes_only_the_recorded_keys() {
    let (primary, fallback) = (Flaky::new(), memory());
    for k in ["keep", "a", "b", "c"] {
        primary.inner.set(k, b("old"), Ttl::Never).await.unwrap();
    }
    let cache = tripped(&primary, &fallback, config().with_max_replay_keys(2)).await;
    for k in ["a", "b", "c"] {
        cache.set(k, b("v"), Ttl::Never).await.unwrap();
    }
    primary.down.store(false, SeqCst);
    eventually("back on the primary", async || {
        cache.state() == FailoverState::Primary
    })
    .await;
    let c = cache.counters();
    assert_eq!((c.primary_clears, c.replayed, c.unrecorded), (0, 2, 1), "{c:?}");
    assert_eq!(
        primary.inner.get("keep").await.unwrap(),
        Some(b("old")),
        "a key this instance did not change survives a full record"
    );
    let mut left = Vec::new();
    for k in ["a", "b", "c"] {
        if primary.inner.exists(k).await.unwrap() {
            left.push(k);
        }
    }
    assert_eq!(
        left.len(),
        1,
        "two recorded keys removed, the unrecorded one kept: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_failed_over_while_closed_is_repaired() {
    let (primary, fallback) = (Flaky::new(), memory());
    primary.inner.set("k", b("v1"), Ttl::Never).await.unwrap();
    let cache = FailoverCache::new(primary.clone(), fallback.clone(), config()).unwrap();
    primary.down.store(true, SeqCst);
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    primary.down.store(false, SeqCst);
    assert_eq!(cache.state(), FailoverState::Primary);
    eventually("the primary forgot v1", async || {
        primary.inner.get("k").await.unwrap().is_none()
    })
    .await;
    assert_eq!(cache.get("k").await.unwrap(), None);
    assert_eq!(cache.counters().replayed, 1);
    assert_eq!(cache.state(), FailoverState::Primary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_the_primary_remove_older_values_from_the_fallback() {
    let (primary, fallback) = (Flaky::new(), memory());
    let cache = FailoverCache::new(primary.clone(), fallback.clone(), config()).unwrap();
    primary.down.store(true, SeqCst);
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    cache.set("p:1", b("v2"), Ttl::Never).await.unwrap();
    primary.down.store(false, SeqCst);
    cache.set("k", b("v3"), Ttl::Never).await.unwrap();
    cache.invalidate_pattern("p:*").await.unwrap();
    assert_eq!(fallback.get("k").await.unwrap(), None);
    assert_eq!(fallback.get("p:1").await.unwrap(), None);
    // A read that fails over now misses rather than returning v2.
    primary.down.store(true, SeqCst);
    assert_eq!(cache.get("k").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_cache_stops_the_probes() {
    let (primary, fallback) = (Flaky::new(), memory());
    let cache = tripped(&primary, &fallback, config()).await;
    eventually("probes run", async || primary.health_calls.load(SeqCst) >= 2).await;
    drop(cache);
    // The task held no strong reference: the state, and with it the primary, are released.
    eventually("the primary is released", async || {
        Arc::strong_count(&primary) == 1
    })
    .await;
    // Nothing to poll for: that no probe comes is checked over 6 probe intervals.
    let probes = primary.health_calls.load(SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(primary.health_calls.load(SeqCst), probes, "probed after the drop");

    let cache = tripped(&primary, &fallback, config()).await;
    cache.close().await.unwrap();
    assert!(
        cache.is_closed() && fallback.is_closed(),
        "the fallback is closed too"
    );
    let probes = primary.health_calls.load(SeqCst);
    primary.down.store(false, SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(primary.health_calls.load(SeqCst), probes, "probed after close()");
    assert_eq!(
        cache.state(),
        FailoverState::Fallback,
        "a closed cache stays where it is"
    );
    let calls = primary.calls.load(SeqCst);
    for result in [
        cache.get("k").await.map(drop),
        cache.set("k", b("v"), Ttl::Never).await,
        cache.delete("k").await.map(drop),
        cache.invalidate_pattern("*").await.map(drop),
        cache.clear().await,
    ] {
        let err = result.expect_err("closed");
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
        assert!(err.message().contains("failover cache"), "{err}");
    }
    assert_eq!(
        primary.calls.load(SeqCst),
        calls,
        "an operation reached the primary"
    );
    assert_eq!(cache.health().await.status, HealthStatus::Unhealthy);

    // Stopping the recovery only: the cache stays on the fallback and keeps serving.
    let (primary, fallback) = (Flaky::new(), memory());
    let cache = tripped(&primary, &fallback, config()).await;
    cache.stop_recovery();
    let probes = primary.health_calls.load(SeqCst);
    primary.down.store(false, SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        primary.health_calls.load(SeqCst),
        probes,
        "probed after stop_recovery()"
    );
    assert_eq!(cache.state(), FailoverState::Fallback);
    cache.set("k", b("v"), Ttl::Never).await.unwrap();
    assert_eq!(
        cache.get("k").await.unwrap(),
        Some(b("v")),
        "served by the fallback"
    );
    assert!(!cache.is_closed() && !fallback.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_while_connecting_abandons_the_attempt() {
    let primary = Arc::new(MemoryCache::new(100).unwrap());
    let (entered, release) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let connector = {
        let (primary, entered, release) = (primary.clone(), entered.clone(), release.clone());
        move || {
            let (primary, entered, release) = (primary.clone(), entered.clone(), release.clone());
            async move {
                entered.store(true, SeqCst);
                // A connection attempt that succeeds once released, after the close.
                tokio::task::spawn_blocking(move || {
                    while !release.load(SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
                .await
                .unwrap();
                Ok(primary as SharedCache)
            }
        }
    };
    let cache = FailoverCache::disconnected(connector, memory(), config()).unwrap();
    eventually("connecting", async || entered.load(SeqCst)).await;
    cache.close().await.unwrap();
    release.store(true, SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(cache.primary().is_none(), "connected after close");
    assert_eq!(
        Arc::strong_count(&primary),
        2,
        "the attempt was dropped, its primary not kept"
    );
    assert_eq!(cache.get("k").await.unwrap_err().kind(), ErrorKind::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_cache_connects_through_its_connector() {
    let primary = Flaky::new();
    primary.inner.set("k", b("v1"), Ttl::Never).await.unwrap();
    let attempts = Arc::new(AtomicU64::new(0));
    let connector = {
        let (primary, attempts) = (primary.clone(), attempts.clone());
        move || {
            let (primary, attempts) = (primary.clone(), attempts.clone());
            async move {
                if attempts.fetch_add(1, SeqCst) < 2 {
                    Err(Error::new(ErrorKind::Connection, "refused (test double)"))
                } else {
                    Ok(primary as SharedCache)
                }
            }
        }
    };
    let fallback = memory();
    let cache = FailoverCache::disconnected(connector, fallback.clone(), config()).unwrap();
    assert_eq!(cache.state(), FailoverState::Fallback);
    assert!(cache.primary().is_none());
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(b("v2")));
    let health = cache.health().await;
    assert_eq!(health.status, HealthStatus::Degraded);
    assert!(health.messages[0].contains("not connected"), "{health:?}");

    eventually("connected", async || cache.state() == FailoverState::Primary).await;
    assert_eq!(attempts.load(SeqCst), 3);
    assert!(cache.primary().is_some());
    let c = cache.counters();
    assert_eq!(
        (c.trips, c.recoveries, c.failed_probes, c.replayed),
        (0, 1, 2, 1),
        "{c:?}"
    );
    assert_eq!(
        cache.get("k").await.unwrap(),
        None,
        "v1 was removed from the primary"
    );
}

#[test]
fn disconnected_needs_a_runtime() {
    let connector = || async { Err::<SharedCache, _>(Error::new(ErrorKind::Connection, "x")) };
    let err = FailoverCache::disconnected(connector, memory(), FailoverConfig::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
    let err = FailoverCache::new(
        memory(),
        memory(),
        FailoverConfig::default().with_failure_threshold(0),
    )
    .unwrap_err();
    assert!(err.to_string().contains("failure_threshold = 0"), "{err}");
}
