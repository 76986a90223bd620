//! The compute cases: `get_or_compute` ([`ComputeCache`]) over any backend. Concurrent misses
//! compute once; a cancelled leader is taken over; errors reach every waiter and are not cached;
//! waiting is bounded; hits do not compute; typed values round-trip; TTL jitter spreads expiries.
//!
//! [`run`] builds a fresh, empty cache for each case and runs every case of [`case_names`]; like
//! the conformance suite it runs them all and panics once at the end, listing each failure.
//!
//! ```rust,no_run
//! use stratacache_core::SharedCache;
//!
//! async fn check(new_cache: impl Fn() -> SharedCache) {
//!     stratacache_testkit::compute::run(async || (new_cache(), ())).await;
//! }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stratacache_compute::{ComputeCache, ComputeConfig, WaitPolicy};
use stratacache_core::{Bytes, Cache, Error, ErrorKind, Expiry, SharedCache, Ttl};
use tokio::sync::Notify;

use crate::conformance::{Report, run_named};

/// How long one case may run.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a computation of the single-flight cases takes.
const COMPUTE_TIME: Duration = Duration::from_millis(50);

const CASES: &[&str] = &[
    "concurrent_misses_compute_once",
    "a_cancelled_leader_is_taken_over",
    "errors_reach_every_waiter_and_are_not_cached",
    "waiting_is_bounded",
    "a_write_during_a_computation_is_not_overwritten",
    "a_delete_during_a_computation_is_not_undone",
    "hits_do_not_compute",
    "typed_values_round_trip",
    "ttl_jitter_spreads_expiries",
];

/// The names of the compute cases, in running order.
pub fn case_names() -> &'static [&'static str] {
    CASES
}

/// Runs every compute case, each on a fresh empty cache from `make` (with a guard kept alive
/// while the case runs: the built cache, a server handle, or `()`).
///
/// # Panics
///
/// Once, after every case ran, when any failed: the message lists each failed case.
pub async fn run<G>(make: impl AsyncFn() -> (SharedCache, G)) -> Report {
    run_named("compute", CASES, CASE_TIMEOUT, make, |name, cache| {
        Box::pin(case(name, cache.clone()))
    })
    .await
}

async fn case(name: &str, cache: SharedCache) {
    match name {
        "concurrent_misses_compute_once" => concurrent_misses_compute_once(cache).await,
        "a_cancelled_leader_is_taken_over" => a_cancelled_leader_is_taken_over(cache).await,
        "errors_reach_every_waiter_and_are_not_cached" => errors_reach_every_waiter(cache).await,
        "waiting_is_bounded" => waiting_is_bounded(cache).await,
        "a_write_during_a_computation_is_not_overwritten" => a_write_is_not_overwritten(cache).await,
        "a_delete_during_a_computation_is_not_undone" => a_delete_is_not_undone(cache).await,
        "hits_do_not_compute" => hits_do_not_compute(cache).await,
        "typed_values_round_trip" => typed_values_round_trip(cache).await,
        "ttl_jitter_spreads_expiries" => ttl_jitter_spreads_expiries(cache).await,
        other => unreachable!("no compute case {other}"),
    }
}

fn compute_cache(cache: SharedCache, config: ComputeConfig) -> Arc<ComputeCache<SharedCache>> {
    Arc::new(ComputeCache::with_config(cache, config).expect("a valid ComputeConfig"))
}

/// Waits until `cache` computes `n` keys at once (a leader is running).
async fn computing(cache: &ComputeCache<SharedCache>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.computing() != n {
        assert!(Instant::now() < deadline, "never {n} computations in flight");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits until `n` callers of `cache` wait for another's computation.
async fn waiting(cache: &ComputeCache<SharedCache>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.waiting() != n {
        assert!(
            Instant::now() < deadline,
            "never {n} callers waiting ({} are)",
            cache.waiting()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// 100 concurrent misses of one key: one computation, every caller gets its value, which is
/// stored.
async fn concurrent_misses_compute_once(cache: SharedCache) {
    let compute = compute_cache(cache, ComputeConfig::default());
    let runs = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for _ in 0..100 {
        let (compute, runs) = (Arc::clone(&compute), Arc::clone(&runs));
        callers.push(tokio::spawn(async move {
            compute
                .get_or_compute("c:hot", Ttl::secs(60), || async move {
                    runs.fetch_add(1, SeqCst);
                    tokio::time::sleep(COMPUTE_TIME).await;
                    Ok(Bytes::from_static(b"answer"))
                })
                .await
        }));
    }
    for caller in callers {
        assert_eq!(caller.await.expect("caller").expect("get_or_compute"), "answer");
    }
    assert_eq!(runs.load(SeqCst), 1, "one computation for 100 concurrent misses");
    let stats = compute.compute_stats();
    assert_eq!(stats.computations, 1, "{stats:?}");
    assert_eq!(stats.coalesced + stats.hits, 99, "{stats:?}");
    assert_eq!(
        compute.get("c:hot").await.expect("get").as_deref(),
        Some(&b"answer"[..])
    );
    assert_eq!(compute.computing(), 0, "no flight left behind");
}

/// The computing caller is cancelled: one waiting caller computes instead, and every waiting
/// caller gets its value.
async fn a_cancelled_leader_is_taken_over(cache: SharedCache) {
    let compute = compute_cache(cache, ComputeConfig::default());
    let leader = {
        let compute = Arc::clone(&compute);
        tokio::spawn(async move {
            compute
                .get_or_compute("c:cancel", Ttl::secs(60), std::future::pending)
                .await
        })
    };
    computing(&compute, 1).await;
    let takeovers = Arc::new(AtomicUsize::new(0));
    let mut followers = Vec::new();
    for _ in 0..10 {
        let (compute, takeovers) = (Arc::clone(&compute), Arc::clone(&takeovers));
        followers.push(tokio::spawn(async move {
            compute
                .get_or_compute("c:cancel", Ttl::secs(60), || async move {
                    takeovers.fetch_add(1, SeqCst);
                    tokio::time::sleep(COMPUTE_TIME).await;
                    Ok(Bytes::from_static(b"taken over"))
                })
                .await
        }));
    }
    // Once the followers wait for the leader's flight, cancel it.
    waiting(&compute, 10).await;
    leader.abort();
    assert!(leader.await.expect_err("aborted").is_cancelled());
    for follower in followers {
        assert_eq!(
            follower.await.expect("follower").expect("get_or_compute"),
            "taken over"
        );
    }
    assert_eq!(takeovers.load(SeqCst), 1, "exactly one follower took over");
    let stats = compute.compute_stats();
    assert_eq!(stats.takeovers, 1, "one flight taken over: {stats:?}");
    // The cancelled leader's lease (on a backend with leases) was handed over, not waited for.
    assert_eq!((stats.remote_waits, stats.lease_takeovers), (0, 0), "{stats:?}");
    assert_eq!(compute.computing(), 0);
}

/// A failed computation is returned to every caller that waited for it, is not cached, and the
/// next call computes again.
async fn errors_reach_every_waiter(cache: SharedCache) {
    let compute = compute_cache(cache, ComputeConfig::default());
    let runs = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for _ in 0..10 {
        let (compute, runs) = (Arc::clone(&compute), Arc::clone(&runs));
        callers.push(tokio::spawn(async move {
            let waiter = Arc::clone(&compute);
            compute
                .get_or_compute("c:err", Ttl::secs(60), || async move {
                    runs.fetch_add(1, SeqCst);
                    // Fails once every other caller waits for it (errors are not cached: a
                    // caller that came later would compute again).
                    waiting(&waiter, 9).await;
                    Err(Error::new(ErrorKind::Backend, "the model is down"))
                })
                .await
        }));
    }
    for caller in callers {
        let error = caller
            .await
            .expect("caller")
            .expect_err("the computation's error");
        assert_eq!(error.kind(), ErrorKind::Backend);
        assert_eq!(error.message(), "the model is down");
    }
    assert_eq!(runs.load(SeqCst), 1, "one computation, its error shared");
    assert!(
        !compute.exists("c:err").await.expect("exists"),
        "errors are not cached"
    );
    let value = compute
        .get_or_compute("c:err", Ttl::secs(60), || async {
            Ok(Bytes::from_static(b"back"))
        })
        .await
        .expect("computed again");
    assert_eq!(value, "back");
    assert_eq!(compute.compute_stats().errors, 1);
}

/// A caller waits at most `max_wait` for another's computation: then it fails with a timeout,
/// or computes itself.
async fn waiting_is_bounded(cache: SharedCache) {
    let release = Arc::new(Notify::new());
    for policy in [WaitPolicy::Fail, WaitPolicy::ComputeSelf] {
        let config = ComputeConfig {
            max_wait: Duration::from_millis(100),
            on_wait_timeout: policy,
            ..ComputeConfig::default()
        };
        let compute = compute_cache(cache.clone(), config);
        let key = format!("c:slow:{policy:?}");
        let leader = {
            let (compute, key, release) = (Arc::clone(&compute), key.clone(), Arc::clone(&release));
            tokio::spawn(async move {
                compute
                    .get_or_compute(&key, Ttl::secs(60), || async move {
                        release.notified().await;
                        Ok(Bytes::from_static(b"late"))
                    })
                    .await
            })
        };
        computing(&compute, 1).await;
        let started = Instant::now();
        let outcome = compute
            .get_or_compute(&key, Ttl::secs(60), || async { Ok(Bytes::from_static(b"mine")) })
            .await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(100),
            "{policy:?}: waited {waited:?}"
        );
        match policy {
            WaitPolicy::Fail => {
                assert_eq!(outcome.expect_err("timed out").kind(), ErrorKind::Timeout);
            }
            _ => assert_eq!(outcome.expect("computed itself"), "mine"),
        }
        assert_eq!(compute.compute_stats().wait_timeouts, 1);
        release.notify_one();
        assert_eq!(leader.await.expect("leader").expect("leader's value"), "late");
        if policy == WaitPolicy::ComputeSelf {
            // The slow computation was replaced: its late value is not stored over the new one.
            assert_eq!(
                compute.get(&key).await.expect("get").as_deref(),
                Some(&b"mine"[..])
            );
            assert_eq!(compute.compute_stats().superseded, 1);
        }
    }
}

/// A leader of `key` whose computation has started and returns `value` once `release` is
/// notified: its task and `release`.
async fn computing_until_released(
    compute: &Arc<ComputeCache<SharedCache>>,
    key: &'static str,
    value: &'static [u8],
) -> (
    tokio::task::JoinHandle<stratacache_core::Result<Bytes>>,
    Arc<Notify>,
) {
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let leader = {
        let (compute, started, release) = (Arc::clone(compute), Arc::clone(&started), Arc::clone(&release));
        tokio::spawn(async move {
            compute
                .get_or_compute(key, Ttl::secs(60), || async move {
                    started.notify_one();
                    release.notified().await;
                    Ok(Bytes::from_static(value))
                })
                .await
        })
    };
    // Once the computation runs (before that, the leader reads the cache once more and would
    // find the change).
    started.notified().await;
    (leader, release)
}

/// A key written through the cache while it is being computed keeps what was written: the
/// computation (which began before the write) is returned to its callers but not stored.
async fn a_write_is_not_overwritten(cache: SharedCache) {
    let compute = compute_cache(cache, ComputeConfig::default());
    let (leader, release) = computing_until_released(&compute, "c:raced", b"computed before the write").await;
    compute
        .set("c:raced", Bytes::from_static(b"written"), Ttl::secs(60))
        .await
        .expect("set");
    release.notify_one();
    assert_eq!(
        leader.await.expect("leader").expect("value"),
        "computed before the write"
    );
    assert_eq!(
        compute.get("c:raced").await.expect("get").as_deref(),
        Some(&b"written"[..]),
        "the write survives the computation"
    );
    assert_eq!(compute.compute_stats().superseded, 1);
}

/// A key deleted through the cache while it is being computed stays deleted, and a caller that
/// asks after the delete gets a computation of its own, not the one that began before.
async fn a_delete_is_not_undone(cache: SharedCache) {
    let compute = compute_cache(cache, ComputeConfig::default());
    let (leader, release) = computing_until_released(&compute, "c:deleted", b"before the delete").await;
    compute.delete("c:deleted").await.expect("delete");
    let after = compute
        .get_or_compute("c:deleted", Ttl::secs(60), || async {
            Ok(Bytes::from_static(b"after the delete"))
        })
        .await
        .expect("a computation of its own");
    assert_eq!(after, "after the delete");
    release.notify_one();
    assert_eq!(leader.await.expect("leader").expect("value"), "before the delete");
    assert_eq!(
        compute.get("c:deleted").await.expect("get").as_deref(),
        Some(&b"after the delete"[..]),
        "the computation that began before the delete is not stored"
    );
    // The superseded flight's lease did not hold up the flight after the delete.
    let stats = compute.compute_stats();
    assert_eq!((stats.remote_waits, stats.lease_takeovers), (0, 0), "{stats:?}");
}

/// A cached value is returned without computing.
async fn hits_do_not_compute(cache: SharedCache) {
    let compute = compute_cache(cache, ComputeConfig::default());
    compute
        .set("c:there", Bytes::from_static(b"cached"), Ttl::secs(60))
        .await
        .expect("set");
    let value = compute
        .get_or_compute("c:there", Ttl::secs(60), || async {
            panic!("computed although the value was cached")
        })
        .await
        .expect("get_or_compute");
    assert_eq!(value, "cached");
    let stats = compute.compute_stats();
    assert_eq!((stats.hits, stats.computations), (1, 0), "{stats:?}");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Answer {
    text: String,
    tokens: u32,
}

/// A typed value is computed once, then decoded from the cache.
async fn typed_values_round_trip(cache: SharedCache) {
    let compute = compute_cache(cache, ComputeConfig::default());
    let answer = Answer {
        text: "forty-two".to_owned(),
        tokens: 3,
    };
    let computed = compute
        .get_or_compute_json("c:typed", Ttl::secs(60), || async { Ok(answer.clone()) })
        .await
        .expect("computed");
    assert_eq!(computed, answer);
    let cached: Answer = compute
        .get_or_compute_json("c:typed", Ttl::secs(60), || async {
            panic!("computed although the value was cached")
        })
        .await
        .expect("cached");
    assert_eq!(cached, answer);
}

/// With jitter, entries computed together get TTLs spread below the one asked for.
async fn ttl_jitter_spreads_expiries(cache: SharedCache) {
    let config = ComputeConfig {
        ttl_jitter: 0.5,
        ..ComputeConfig::default()
    };
    let compute = compute_cache(cache, config);
    let asked = Duration::from_secs(100);
    let mut ttls = Vec::new();
    for i in 0..40 {
        let key = format!("c:jitter:{i}");
        compute
            .get_or_compute(&key, Ttl::After(asked), || async { Ok(Bytes::from_static(b"v")) })
            .await
            .expect("get_or_compute");
        let Some(Expiry::After(ttl)) = compute.ttl(&key).await.expect("ttl") else {
            panic!("{key} has no expiry");
        };
        assert!(ttl <= asked, "{key}: {ttl:?} is longer than asked");
        assert!(
            ttl >= Duration::from_secs(49),
            "{key}: {ttl:?} is cut by more than half"
        );
        ttls.push(ttl);
    }
    let (min, max) = (ttls.iter().min().expect("40"), ttls.iter().max().expect("40"));
    assert!(
        *max - *min >= Duration::from_secs(10),
        "spread: {min:?} to {max:?}"
    );
}
