//! Regressions from a second review (of 81f4aa8, fce565a, 39392c5): each `no_longer_*` test
//! asserts what the docs promise and failed there on the defect its comment describes (in the
//! present tense of that commit); the `still_*` ones checked claims that held.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use stratacache_compute::{ComputeCache, ComputeConfig, Freshness, Source};
use stratacache_core::{Bytes, Cache, Error, ErrorKind, SharedCache, Ttl};
use stratacache_memory::MemoryCache;
use stratacache_testkit::double::{Gate, Op, Script, ScriptedCache};
use tokio::sync::Notify;

fn mem() -> MemoryCache {
    MemoryCache::builder().build().unwrap()
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn with(freshness: Freshness) -> ComputeConfig {
    ComputeConfig {
        freshness,
        ..ComputeConfig::default()
    }
}

fn sie(window: Duration) -> Freshness {
    Freshness {
        stale_if_error: window,
        ..Freshness::default()
    }
}

async fn failing() -> stratacache_core::Result<Bytes> {
    Err(Error::new(ErrorKind::Unavailable, "model down"))
}

/// Polls `cond` (a counter or a state, not a duration) every millisecond; panics after 10 s so a
/// broken test cannot hang.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < give_up, "never reached: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A computation that blocks until `gate` is notified, then returns `value`.
fn blocked(
    gate: &Arc<Notify>,
    value: &'static str,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = stratacache_core::Result<Bytes>> + Send>>
+ Send
+ 'static {
    let gate = Arc::clone(gate);
    move || {
        Box::pin(async move {
            gate.notified().await;
            Ok(b(value))
        })
    }
}

/// R1 (high): `poll_interval` is accepted from 1 ms to 1 s, but `lease_check` clamps
/// `lease / 10` to `[poll_interval, 50 ms]`: with a poll_interval above 50 ms `Duration::clamp`
/// panics (`min <= max`), so every process that finds another's lease taken panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_a_poll_interval_above_50ms_panics_every_remote_wait() {
    let backend: SharedCache = Arc::new(mem());
    let config = ComputeConfig {
        poll_interval: Duration::from_millis(100),
        ..ComputeConfig::default()
    };
    config.validate().unwrap();
    let a = Arc::new(ComputeCache::with_config(Arc::clone(&backend), config).unwrap());
    let b_proc = Arc::new(ComputeCache::with_config(Arc::clone(&backend), config).unwrap());
    let release = Arc::new(Notify::new());
    let holder = {
        let (a, f) = (Arc::clone(&a), blocked(&release, "from A"));
        tokio::spawn(async move { a.get_or_compute("k", Ttl::secs(60), f).await })
    };
    until("A holds the lease", || a.compute_stats().leases_acquired == 1).await;
    let waiter = {
        let b_proc = Arc::clone(&b_proc);
        tokio::spawn(async move {
            b_proc
                .get_or_compute("k", Ttl::secs(60), || async { Ok(b("from B")) })
                .await
        })
    };
    until("B waits", || {
        b_proc.compute_stats().remote_waits == 1 || waiter.is_finished()
    })
    .await;
    release.notify_one();
    holder.await.unwrap().unwrap();
    let waited = waiter.await;
    println!("process B's wait: {waited:?}");
    assert_eq!(waited.expect("the wait panicked").unwrap(), b("from A"));
}

/// R2 (high): docs/freshness.md, negative caching: "It does not apply [...] to a failed refresh
/// (the value kept is still served)". A refresh computes through `compute_and_store`, whose
/// `store_error` knows nothing of refreshes: under stale-while-revalidate (or XFetch) without
/// stale-if-error and with `negative_ttl` on, one failed refresh overwrites the value that is still
/// being served with the cached error; every caller then gets the error for `negative_ttl`.
#[tokio::test]
async fn no_longer_a_failed_refresh_caches_its_error_over_the_served_value() {
    let config = ComputeConfig {
        negative_ttl: Duration::from_secs(60),
        ..with(Freshness {
            stale_while_revalidate: Duration::from_secs(60),
            ..Freshness::default()
        })
    };
    let compute = ComputeCache::with_config(mem(), config).unwrap();
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v1")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let refresh = compute.fetch("k", ttl, failing).await.unwrap();
    assert_eq!((refresh.value.clone(), refresh.source), (b("v1"), Source::Stale));
    let next = compute.fetch("k", ttl, || async { Ok(b("v2")) }).await;
    let stats = compute.compute_stats();
    println!("after one failed refresh: {next:?}; {stats:?}");
    assert_eq!(stats.negative_stored, 0, "a failed refresh cached its error");
    assert!(next.is_ok(), "the still-served value was replaced by the error");
}

/// R3 (medium): the generation guarding local copies is one counter for all keys: a read of key
/// `a` that races with a write of ANY other key through the ComputeCache deletes `a`'s local copy
/// (the copy it just wrote, and the good one it replaced). Under a steady write load elsewhere
/// the copies are gone exactly when the cache fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_a_write_of_another_key_during_a_read_drops_the_local_copy() {
    let backend = ScriptedCache::wrap(mem());
    let local: SharedCache = Arc::new(mem());
    let compute = Arc::new(
        ComputeCache::builder(backend.shared())
            .config(with(sie(Duration::from_secs(600))))
            .local_copies(Arc::clone(&local))
            .build()
            .unwrap(),
    );
    let ttl = Ttl::secs(60);
    compute
        .get_or_compute("a", ttl, || async { Ok(b("A")) })
        .await
        .unwrap();
    assert!(local.get("a").await.unwrap().is_some(), "a copy was kept");
    // A hit on `a` whose answer is held while `b` (another key) is written.
    let gate = Gate::new();
    backend.script(
        Op::Get,
        Script::for_keys("a", Script::after(Script::Hold(gate.clone()))),
    );
    let reader = {
        let compute = Arc::clone(&compute);
        tokio::spawn(async move { compute.fetch("a", ttl, failing).await })
    };
    backend.wait_held(1).await;
    compute.set("b", b("B"), ttl).await.unwrap();
    gate.open();
    assert_eq!(reader.await.unwrap().unwrap().value, b("A"));
    let copy = local.get("a").await.unwrap();
    backend.pass_all();
    backend.script(Op::Get, Script::fail(ErrorKind::Connection, "Redis is down"));
    let down = compute.fetch("a", ttl, failing).await;
    println!("copy of a: {copy:?}; with the cache down: {down:?}");
    assert!(copy.is_some(), "a write of key b removed key a's local copy");
}

/// R4 (low-medium): the local copy goes back in time through the compute path (D7b fixed it
/// only for reads): a newer value computed without a soft expiry (`Ttl::Never`/`Default` under
/// the same policy, or a call without stale-if-error) neither replaces nor drops the older copy;
/// with the cache down the older value is served while the cache holds the newer one.
#[tokio::test]
async fn no_longer_a_computed_value_without_a_copy_leaves_the_older_copy() {
    let mut older = Vec::new();
    for newer in ["ttl_never", "call_without_policy"] {
        let backend = ScriptedCache::wrap(mem());
        let local: SharedCache = Arc::new(mem());
        let compute = ComputeCache::builder(backend.shared())
            .config(with(sie(Duration::from_secs(600))))
            .local_copies(Arc::clone(&local))
            .build()
            .unwrap();
        let short = Ttl::After(Duration::from_millis(50));
        compute
            .get_or_compute("k", short, || async { Ok(b("v1")) })
            .await
            .unwrap();
        // v1 was deleted (say, by another process); v2 is computed.
        backend.inner().delete("k").await.unwrap();
        match newer {
            "ttl_never" => compute
                .get_or_compute("k", Ttl::Never, || async { Ok(b("v2")) })
                .await
                .unwrap(),
            _ => compute
                .with_freshness(Freshness::default())
                .get_or_compute("k", Ttl::secs(60), || async { Ok(b("v2")) })
                .await
                .unwrap(),
        };
        backend.script(Op::Get, Script::fail(ErrorKind::Connection, "Redis is down"));
        let down = compute.fetch("k", Ttl::secs(60), failing).await;
        println!("{newer}: with the cache down after v2 was computed: {down:?}");
        if down.is_ok_and(|f| f.value == b("v1")) {
            older.push(newer);
        }
    }
    assert!(
        older.is_empty(),
        "{older:?}: served v1, older than the value computed last"
    );
}

/// Starts L1: a computation of `k` holding the lease, blocked until `release` is notified; then a
/// delete through the cache supersedes it (its token goes to the stale map).
async fn superseded_holder(
    compute: &Arc<ComputeCache<SharedCache>>,
    release: &Arc<Notify>,
) -> tokio::task::JoinHandle<stratacache_core::Result<Bytes>> {
    let l1 = {
        let (compute, f) = (Arc::clone(compute), blocked(release, "obsolete"));
        tokio::spawn(async move { compute.get_or_compute("k", Ttl::secs(60), f).await })
    };
    until("L1 holds the lease and computes", || {
        compute.compute_stats().leases_acquired == 1 && compute.compute_stats().computations == 1
    })
    .await;
    compute.delete("k").await.unwrap();
    l1
}

/// R5 (medium): the stale map keeps one token per key and `leave` overwrites it. L1 holds the
/// lease and is superseded (its token T1 remembered); the next flight L2 is superseded too before
/// it asks for the lease: `hold_lease(Some(T2))` leaves T2 over T1, the acquisition is refused,
/// `hold_lease(None)` removes T2, and T1 is forgotten. The key's next flight L3 then waits (a
/// "remote" wait) for the superseded computation, whose value will never be stored: the docs'
/// "a computation superseded by a write does not hold up the key's next one" is broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_a_second_supersede_forgets_the_first_flights_lease() {
    let backend = ScriptedCache::wrap(mem());
    let compute = Arc::new(ComputeCache::new(backend.shared()));
    let release = Arc::new(Notify::new());
    let l1 = superseded_holder(&compute, &release).await;
    // L2: hold its first read, then its second (the leader's look), and supersede it there.
    let (g1, g2) = (Gate::new(), Gate::new());
    backend.script(Op::Get, Script::Hold(g1.clone()));
    let l2 = {
        let compute = Arc::clone(&compute);
        tokio::spawn(async move {
            compute
                .get_or_compute("k", Ttl::secs(60), || async { Ok(b("v2")) })
                .await
        })
    };
    backend.wait_held(1).await;
    backend.script(Op::Get, Script::Hold(g2.clone()));
    g1.open();
    until("L2 leads and reads again", || {
        compute.computing() == 1 && backend.held() == 1
    })
    .await;
    compute.delete("k").await.unwrap();
    backend.pass_all();
    g2.open();
    assert_eq!(l2.await.unwrap().unwrap(), b("v2"));
    let before = compute.compute_stats().remote_waits;
    // L3: should release the superseded L1's lease and compute at once.
    let l3 = {
        let compute = Arc::clone(&compute);
        tokio::spawn(async move {
            compute
                .get_or_compute("k", Ttl::secs(60), || async { Ok(b("v3")) })
                .await
        })
    };
    until("L3 finishes or waits", || {
        l3.is_finished() || compute.compute_stats().remote_waits > before
    })
    .await;
    let waited = compute.compute_stats().remote_waits > before;
    release.notify_one();
    let _ = l1.await;
    assert_eq!(l3.await.unwrap().unwrap(), b("v3"));
    println!("{:?}", compute.compute_stats());
    assert!(
        !waited,
        "L3 waited for the lease of a superseded computation of this process"
    );
}

/// R6 (medium-low): a superseded flight keeps renewing its lease, and a refused renewal takes it
/// again with the same token "unless another holder has it". When the key's next flight L3
/// releases the superseded L1's lease (the stale map) and before its own `acquire_lease` lands,
/// L1's renewal tick re-takes the lease: L3 then waits for a computation that will store nothing
/// (until L1 ends, up to max_wait).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_a_superseded_flight_retakes_the_lease_released_from_under_it() {
    let backend = ScriptedCache::wrap(mem());
    let config = ComputeConfig {
        lease: Duration::from_millis(300),
        ..ComputeConfig::default()
    };
    let compute = Arc::new(ComputeCache::with_config(backend.shared(), config).unwrap());
    let release = Arc::new(Notify::new());
    let l1 = superseded_holder(&compute, &release).await;
    // L3 releases T1 (applied; its reply held back until L1's renewal tick has run).
    let gate = Gate::new();
    backend.script(Op::ReleaseLease, Script::after(Script::Hold(gate.clone())));
    let l3 = {
        let compute = Arc::clone(&compute);
        tokio::spawn(async move {
            compute
                .get_or_compute("k", Ttl::secs(60), || async { Ok(b("v3")) })
                .await
        })
    };
    backend.wait_held(1).await;
    let acquired = backend.calls(Op::AcquireLease);
    // Time for two of L1's renewal ticks (every 100 ms): a superseded flight no longer renews,
    // so it never takes the lease back.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        backend.calls(Op::AcquireLease),
        acquired,
        "the superseded L1 asked for the lease again"
    );
    backend.pass_all();
    gate.open();
    until("L3 finishes or waits", || {
        l3.is_finished() || compute.compute_stats().remote_waits > 0
    })
    .await;
    let waited = compute.compute_stats().remote_waits > 0;
    release.notify_one();
    let _ = l1.await;
    l3.await.unwrap().unwrap();
    println!("{:?}", compute.compute_stats());
    assert!(
        !waited,
        "L3 waited for the superseded L1, which took the released lease back"
    );
}

/// R7 (low): stale entries are swept once older than `lease`, but a superseded flight renews its
/// lease for up to `max_wait` (30 s by default, 6 leases): once 64 entries accumulate (cancelled
/// leaders of other keys), a still-held lease of a superseded flight is forgotten and the key's
/// next flight waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_the_sweep_forgets_leases_still_renewed() {
    let config = ComputeConfig {
        lease: Duration::from_millis(100),
        ..ComputeConfig::default()
    };
    let compute = Arc::new(ComputeCache::with_config(Arc::new(mem()) as SharedCache, config).unwrap());
    let release = Arc::new(Notify::new());
    let l1 = superseded_holder(&compute, &release).await;
    // Older than a lease (renewed meanwhile: still held).
    tokio::time::sleep(Duration::from_millis(150)).await;
    let never = Arc::new(Notify::new());
    let others: Vec<_> = (0..64)
        .map(|i| {
            let (compute, f) = (Arc::clone(&compute), blocked(&never, "never"));
            tokio::spawn(async move { compute.get_or_compute(&format!("o{i}"), Ttl::secs(60), f).await })
        })
        .collect();
    until("64 other leaders hold leases", || {
        compute.compute_stats().leases_acquired == 65
    })
    .await;
    others.iter().for_each(tokio::task::JoinHandle::abort);
    for other in others {
        let _ = other.await;
    }
    let l3 = {
        let compute = Arc::clone(&compute);
        tokio::spawn(async move {
            compute
                .get_or_compute("k", Ttl::secs(60), || async { Ok(b("v3")) })
                .await
        })
    };
    until("L3 finishes or waits", || {
        l3.is_finished() || compute.compute_stats().remote_waits > 0
    })
    .await;
    let waited = compute.compute_stats().remote_waits > 0;
    release.notify_one();
    let _ = l1.await;
    l3.await.unwrap().unwrap();
    assert!(
        !waited,
        "the sweep forgot a lease its superseded flight still renews"
    );
}

// Claims checked and found true.

/// A dropped leader's release task cannot delete a live flight's lease: the next flight's token
/// is fresh, and `release_lease` only ends the holder's own lease. A leader cancelled while
/// holding the lease: the follower takes over at once (no remote wait), the release task and the
/// stale-map release are both harmless to it, and a second process waiting meanwhile computes
/// nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn still_a_cancelled_leader_hands_over_without_a_double_computation() {
    let backend: SharedCache = Arc::new(mem());
    let a = Arc::new(ComputeCache::new(Arc::clone(&backend)));
    let other = Arc::new(ComputeCache::new(Arc::clone(&backend)));
    let runs = Arc::new(AtomicUsize::new(0));
    let never = Arc::new(Notify::new());
    let leader = {
        let (a, f) = (Arc::clone(&a), blocked(&never, "never"));
        tokio::spawn(async move { a.get_or_compute("k", Ttl::secs(60), f).await })
    };
    until("A's leader holds the lease", || {
        a.compute_stats().leases_acquired == 1
    })
    .await;
    let counted = |value: &'static str| {
        let runs = Arc::clone(&runs);
        move || async move {
            runs.fetch_add(1, SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(b(value))
        }
    };
    let follower = {
        let (a, f) = (Arc::clone(&a), counted("from A"));
        tokio::spawn(async move { a.get_or_compute("k", Ttl::secs(60), f).await })
    };
    let remote = {
        let (other, f) = (Arc::clone(&other), counted("from B"));
        tokio::spawn(async move { other.get_or_compute("k", Ttl::secs(60), f).await })
    };
    until("the follower waits and B waits", || {
        a.waiting() == 1 && other.compute_stats().remote_waits == 1
    })
    .await;
    leader.abort();
    let (x, y) = (follower.await.unwrap().unwrap(), remote.await.unwrap().unwrap());
    println!("A: {:?}\nB: {:?}", a.compute_stats(), other.compute_stats());
    assert_eq!(runs.load(SeqCst), 1, "computed twice");
    assert_eq!(x, y);
}

/// Control for R5: with a single supersede, the key's next flight releases the superseded
/// flight's lease (stale map) and computes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn still_one_supersede_does_not_hold_up_the_next_flight() {
    let backend = ScriptedCache::wrap(mem());
    let compute = Arc::new(ComputeCache::new(backend.shared()));
    let release = Arc::new(Notify::new());
    let l1 = superseded_holder(&compute, &release).await;
    let v = compute
        .get_or_compute("k", Ttl::secs(60), || async { Ok(b("v3")) })
        .await
        .unwrap();
    assert_eq!(v, b("v3"));
    assert_eq!(compute.compute_stats().remote_waits, 0);
    release.notify_one();
    l1.await.unwrap().unwrap();
    assert_eq!(
        compute.get("k").await.unwrap(),
        Some(b("v3")),
        "the superseded value is not stored"
    );
}

/// A leader dropped outside any runtime (its runtime shut down) neither panics nor leaks: no task
/// can be spawned, but the stale map hands its lease to the key's next flight (no remote wait).
#[test]
fn check_a_leader_dropped_outside_a_runtime_leaves_its_lease_to_the_next_flight() {
    let compute = Arc::new(ComputeCache::new(Arc::new(mem()) as SharedCache));
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let never = Arc::new(Notify::new());
    let mut fut = Box::pin(compute.get_or_compute("k", Ttl::secs(60), blocked(&never, "never")));
    rt1.block_on(async {
        tokio::select! {
            _ = &mut fut => panic!("never finishes"),
            () = until("the leader holds the lease", || compute.compute_stats().leases_acquired == 1) => {}
        }
    });
    drop(rt1);
    drop(fut);
    let rt2 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let v = rt2
        .block_on(compute.get_or_compute("k", Ttl::secs(60), || async { Ok(b("v")) }))
        .unwrap();
    assert_eq!(v, b("v"));
    assert_eq!(compute.compute_stats().remote_waits, 0);
}

/// Values starting with either magic round-trip through set, set_many, set_with_tags and the
/// typed writes, and read back the same through get, get_many, get_with_ttl and a compute hit.
#[tokio::test]
async fn still_magic_prefixed_values_round_trip_on_every_write_path() {
    use stratacache_core::TagsExt;
    let compute = ComputeCache::new(mem());
    for magic in [stored_magic(), stored_negative_magic()] {
        let mut v = magic.to_vec();
        v.extend_from_slice(b"payload-long-enough-for-a-header");
        let v = Bytes::from(v);
        compute.set("a", v.clone(), Ttl::secs(60)).await.unwrap();
        compute
            .set_many(&[("b", v.clone())], Ttl::secs(60))
            .await
            .unwrap();
        compute
            .set_with_tags("c", v.clone(), Ttl::secs(60), &["t"])
            .await
            .unwrap();
        for key in ["a", "b", "c"] {
            assert_eq!(compute.get(key).await.unwrap(), Some(v.clone()), "{key}");
            assert_eq!(compute.get_with_ttl(key).await.unwrap().unwrap().0, v, "{key}");
            assert!(compute.exists(key).await.unwrap(), "{key}");
            let hit = compute
                .get_or_compute(key, Ttl::secs(60), || async { unreachable!() })
                .await
                .unwrap();
            assert_eq!(hit, v, "{key}");
        }
        let many = compute.get_many(&["a", "b", "c"]).await.unwrap();
        assert!(many.iter().all(|x| x.as_ref() == Some(&v)));
    }
}

fn stored_magic() -> [u8; 4] {
    stratacache_compute::stored::MAGIC
}

fn stored_negative_magic() -> [u8; 4] {
    stratacache_compute::stored::NEGATIVE_MAGIC
}

/// R8 (low): `exists`/`ttl` switch semantics on a per-process flag. A process restarted (or one
/// that only reads) over values written under a policy answers `exists = true` and the stale
/// window's TTL for a value `get` says is gone, until it happens to write a header value itself
/// (any key): two processes with the same configuration disagree.
#[tokio::test]
async fn no_longer_exists_depends_on_what_this_process_wrote_before() {
    let backend: SharedCache = Arc::new(mem());
    let config = with(Freshness {
        stale_while_revalidate: Duration::from_secs(60),
        ..Freshness::default()
    });
    let before_restart = ComputeCache::with_config(Arc::clone(&backend), config).unwrap();
    let ttl = Ttl::After(Duration::from_millis(50));
    before_restart
        .get_or_compute("k", ttl, || async { Ok(b("v")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let restarted = ComputeCache::with_config(Arc::clone(&backend), config).unwrap();
    let seen = (
        restarted.get("k").await.unwrap(),
        restarted.exists("k").await.unwrap(),
        restarted.ttl("k").await.unwrap(),
    );
    restarted
        .get_or_compute("other", ttl, || async { Ok(b("x")) })
        .await
        .unwrap();
    let after_a_write = restarted.exists("k").await.unwrap();
    println!("restarted: get/exists/ttl = {seen:?}; exists after writing another key: {after_a_write}");
    assert_eq!(
        seen.1, after_a_write,
        "exists(k) changed because another key was written"
    );
}
