//! The breaker's logic against the testkit's scripted double, its failures switched on and off: counting,
//! tripping, replay, repair, overflow, the task's lifetime. The real-Redis scenarios are in
//! `tests/failover.rs`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, Error, ErrorKind, HealthStatus, SharedCache, Ttl};
use stratacache_memory::MemoryCache;
use stratacache_testkit::double::{Op, Script, ScriptedCache};

use super::*;

/// The primary of these tests: a memory cache behind the testkit's scripted double, named
/// `flaky` in the health it makes up.
fn flaky() -> ScriptedCache {
    ScriptedCache::wrap(MemoryCache::new(10_000).unwrap()).with_name("flaky")
}

/// Every operation of `primary` fails with a temporary (connection) error; health is unhealthy.
fn down(primary: &ScriptedCache) {
    primary.fail_all(ErrorKind::Connection, "connection refused (test double)");
}

/// Every data operation of `primary` fails with a non-temporary (backend) error; health passes.
fn broken(primary: &ScriptedCache) {
    primary.script_all(
        &Op::DATA,
        &Script::fail(ErrorKind::Backend, "unexpected reply (test double)"),
    );
}

/// Removals (`delete`, `delete_many`, `invalidate_pattern`, `clear`) of `primary` fail with a
/// temporary error.
fn refuse_removals(primary: &ScriptedCache) {
    primary.script_all(
        &Op::REMOVALS,
        &Script::fail(ErrorKind::Connection, "connection refused (test double)"),
    );
}

/// Data operations that reached `primary`.
fn data_calls(primary: &ScriptedCache) -> u64 {
    primary.calls_of(&Op::DATA)
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
async fn tripped(
    primary: &ScriptedCache,
    fallback: &Arc<MemoryCache>,
    config: FailoverConfig,
) -> FailoverCache {
    let cache = FailoverCache::new(primary.shared(), fallback.clone(), config).unwrap();
    down(primary);
    for i in 0..config.failure_threshold {
        assert_eq!(cache.state(), FailoverState::Primary, "after {i} failures");
        assert_eq!(cache.get("trip").await.unwrap(), None);
    }
    assert_eq!(cache.state(), FailoverState::Fallback);
    cache
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failures_fall_back_and_open_the_circuit_at_the_threshold() {
    let (primary, fallback) = (flaky(), memory());
    let cache = FailoverCache::new(primary.shared(), fallback.clone(), config()).unwrap();
    down(&primary);

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
    let calls = data_calls(&primary);
    for _ in 0..100 {
        assert_eq!(cache.get("k").await.unwrap(), None);
    }
    assert_eq!(data_calls(&primary), calls, "an open circuit called the primary");
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
    let (primary, fallback) = (flaky(), memory());
    let cache = FailoverCache::new(primary.shared(), fallback, config()).unwrap();
    broken(&primary);
    for _ in 0..10 {
        let err = cache.get("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend);
    }
    assert_eq!(cache.state(), FailoverState::Primary);
    assert_eq!(cache.stats().await.errors, 10);
    // An invalid TTL is refused before any tier is asked.
    let calls = data_calls(&primary);
    let err = cache
        .set("k", b("v"), Ttl::After(Duration::ZERO))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(data_calls(&primary), calls);
    primary.pass_all();

    for _ in 0..3 {
        down(&primary);
        cache.get("k").await.unwrap();
        cache.get("k").await.unwrap();
        primary.pass_all();
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
    let (primary, fallback) = (flaky(), memory());
    for (k, v) in [("k", "v1"), ("d", "x"), ("keep", "y"), ("p:1", "z")] {
        primary.inner().set(k, b(v), Ttl::Never).await.unwrap();
    }
    let cache = tripped(&primary, &fallback, config()).await;
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    assert!(!cache.delete("d").await.unwrap());
    assert_eq!(cache.invalidate_pattern("p:*").await.unwrap(), 0);
    assert_eq!(cache.get("k").await.unwrap(), Some(b("v2")));

    primary.pass_all();
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
    let (primary, fallback) = (flaky(), memory());
    primary.inner().set("k", b("v1"), Ttl::Never).await.unwrap();
    let cache = tripped(&primary, &fallback, config()).await;
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    // Healthy again, but deletions fail: the replay cannot complete.
    primary.pass_all();
    refuse_removals(&primary);
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

    primary.pass_all();
    eventually("back on the primary", async || {
        cache.state() == FailoverState::Primary
    })
    .await;
    assert_eq!(primary.inner().get("k").await.unwrap(), None);
}

/// Writers that keep recording through the fallback faster than the replay removes keys do not
/// keep the circuit open: after a few passes it closes and the rest is replayed closed.
///
/// The writer records two batches' worth of fresh keys for each batch the replay removes, so
/// each open pass leaves twice as much for the next one, however fast the machine: without the
/// bound on open passes the circuit would never close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_under_constant_writes_closes_the_circuit() {
    let (primary, fallback) = (flaky(), memory());
    let cache = Arc::new(FailoverCache::new(primary.shared(), fallback.clone(), config()).unwrap());
    down(&primary);
    for _ in 0..config().failure_threshold {
        assert_eq!(cache.get("trip").await.unwrap(), None);
    }
    assert_eq!(cache.state(), FailoverState::Fallback);
    let per_batch = 2 * probe::REPLAY_BATCH as u64;
    let writer = tokio::spawn({
        let (cache, primary) = (Arc::clone(&cache), primary.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut i = 0u64;
            while cache.state() == FailoverState::Fallback {
                if Instant::now() > deadline {
                    return None;
                }
                let target = (primary.calls(Op::DeleteMany) + 1) * per_batch;
                while i < target && cache.state() == FailoverState::Fallback {
                    cache.set(&format!("w:{i}"), b("v"), Ttl::Never).await.unwrap();
                    i += 1;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Some(i)
        }
    });
    // Up again; each replayed batch takes 20 ms, time for the writer to record its two batches.
    while fallback.stats().await.writes < per_batch {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    primary.pass_all();
    primary.script(Op::DeleteMany, Script::Delay(Duration::from_millis(20)));
    let written = writer.await.unwrap();
    assert!(
        written.is_some(),
        "the circuit stayed open for 30 s while a writer kept recording keys"
    );
    let batches = primary.calls(Op::DeleteMany);
    assert!(batches > 4, "replayed in several passes: {batches} batches");
    let c = cache.counters();
    assert_eq!((c.recoveries, c.primary_clears), (1, 0), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_record_removes_only_the_recorded_keys() {
    let (primary, fallback) = (flaky(), memory());
    for k in ["keep", "a", "b", "c"] {
        primary.inner().set(k, b("old"), Ttl::Never).await.unwrap();
    }
    let cache = tripped(&primary, &fallback, config().with_max_replay_keys(2)).await;
    for k in ["a", "b", "c"] {
        cache.set(k, b("v"), Ttl::Never).await.unwrap();
    }
    primary.pass_all();
    eventually("back on the primary", async || {
        cache.state() == FailoverState::Primary
    })
    .await;
    let c = cache.counters();
    assert_eq!((c.primary_clears, c.replayed, c.unrecorded), (0, 2, 1), "{c:?}");
    assert_eq!(
        primary.inner().get("keep").await.unwrap(),
        Some(b("old")),
        "a key this instance did not change survives a full record"
    );
    let mut left = Vec::new();
    for k in ["a", "b", "c"] {
        if primary.inner().exists(k).await.unwrap() {
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
    let (primary, fallback) = (flaky(), memory());
    primary.inner().set("k", b("v1"), Ttl::Never).await.unwrap();
    let cache = FailoverCache::new(primary.shared(), fallback.clone(), config()).unwrap();
    down(&primary);
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    primary.pass_all();
    assert_eq!(cache.state(), FailoverState::Primary);
    eventually("the primary forgot v1", async || {
        primary.inner().get("k").await.unwrap().is_none()
    })
    .await;
    assert_eq!(cache.get("k").await.unwrap(), None);
    assert_eq!(cache.counters().replayed, 1);
    assert_eq!(cache.state(), FailoverState::Primary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_the_primary_remove_older_values_from_the_fallback() {
    let (primary, fallback) = (flaky(), memory());
    let cache = FailoverCache::new(primary.shared(), fallback.clone(), config()).unwrap();
    down(&primary);
    cache.set("k", b("v2"), Ttl::Never).await.unwrap();
    cache.set("p:1", b("v2"), Ttl::Never).await.unwrap();
    primary.pass_all();
    cache.set("k", b("v3"), Ttl::Never).await.unwrap();
    cache.invalidate_pattern("p:*").await.unwrap();
    assert_eq!(fallback.get("k").await.unwrap(), None);
    assert_eq!(fallback.get("p:1").await.unwrap(), None);
    // A read that fails over now misses rather than returning v2.
    down(&primary);
    assert_eq!(cache.get("k").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_cache_stops_the_probes() {
    let (primary, fallback) = (flaky(), memory());
    let cache = tripped(&primary, &fallback, config()).await;
    eventually("probes run", async || primary.calls(Op::Health) >= 2).await;
    drop(cache);
    // The task held no strong reference: the state, and with it the primary, are released.
    eventually("the primary is released", async || {
        Arc::strong_count(primary.inner()) == 1
    })
    .await;
    // Nothing to poll for: that no probe comes is checked over 6 probe intervals.
    let probes = primary.calls(Op::Health);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(primary.calls(Op::Health), probes, "probed after the drop");

    let cache = tripped(&primary, &fallback, config()).await;
    cache.close().await.unwrap();
    assert!(
        cache.is_closed() && fallback.is_closed(),
        "the fallback is closed too"
    );
    let probes = primary.calls(Op::Health);
    primary.pass_all();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(primary.calls(Op::Health), probes, "probed after close()");
    assert_eq!(
        cache.state(),
        FailoverState::Fallback,
        "a closed cache stays where it is"
    );
    let calls = data_calls(&primary);
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
    assert_eq!(data_calls(&primary), calls, "an operation reached the primary");
    assert_eq!(cache.health().await.status, HealthStatus::Unhealthy);

    // Stopping the recovery only: the cache stays on the fallback and keeps serving.
    let (primary, fallback) = (flaky(), memory());
    let cache = tripped(&primary, &fallback, config()).await;
    cache.stop_recovery();
    let probes = primary.calls(Op::Health);
    primary.pass_all();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(primary.calls(Op::Health), probes, "probed after stop_recovery()");
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
    let primary = flaky();
    primary.inner().set("k", b("v1"), Ttl::Never).await.unwrap();
    let attempts = Arc::new(AtomicU64::new(0));
    let connector = {
        let (primary, attempts) = (primary.clone(), attempts.clone());
        move || {
            let (primary, attempts) = (primary.clone(), attempts.clone());
            async move {
                if attempts.fetch_add(1, SeqCst) < 2 {
                    Err(Error::new(ErrorKind::Connection, "refused (test double)"))
                } else {
                    Ok(primary.shared())
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
