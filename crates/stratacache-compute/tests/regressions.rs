//! Regressions from a review of the freshness policies as first landed (b2d54c7): each test
//! asserts the behaviour the docs promise (or that a cache should have); each failed there, on the
//! defect its comment describes (in the present tense of that commit), and passes since the fix.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use stratacache_compute::{ComputeCache, ComputeConfig, Freshness, Source, stored};
use stratacache_core::{Bytes, Cache, Error, ErrorKind, SharedCache, Ttl};
use stratacache_memory::MemoryCache;
use stratacache_testkit::double::{Gate, Op, Script, ScriptedCache};

fn mem() -> MemoryCache {
    MemoryCache::builder().build().unwrap()
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn swr(window: Duration) -> Freshness {
    Freshness {
        stale_while_revalidate: window,
        ..Freshness::default()
    }
}

fn sie(window: Duration) -> Freshness {
    Freshness {
        stale_if_error: window,
        ..Freshness::default()
    }
}

fn with(freshness: Freshness) -> ComputeConfig {
    ComputeConfig {
        freshness,
        ..ComputeConfig::default()
    }
}

async fn failing() -> stratacache_core::Result<Bytes> {
    Err(Error::new(ErrorKind::Unavailable, "model down"))
}

/// D1: a background refresh requested before a delete through the ComputeCache stores its value
/// after the delete: the deleted key is back.
#[tokio::test(flavor = "current_thread")]
async fn no_longer_background_refresh_resurrects_a_deleted_key() {
    let compute = ComputeCache::with_config(mem(), with(swr(Duration::from_secs(10)))).unwrap();
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("old")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let served = compute
        .get_or_revalidate("k", ttl, || async { Ok(b("refreshed")) })
        .await
        .unwrap();
    assert_eq!(served.source, Source::Stale);
    // The application deletes the key (say the record was removed) after the call returned.
    compute.delete("k").await.unwrap();
    assert_eq!(compute.get("k").await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = compute.get("k").await.unwrap();
    println!(
        "after delete + background refresh: {after:?}; {:?}",
        compute.compute_stats()
    );
    assert_eq!(after, None, "a key deleted through the ComputeCache came back");
}

/// D1b: without the lease (distributed off, or a cache without leases), the background refresh
/// also stores over a value written through the ComputeCache after it was requested.
#[tokio::test(flavor = "current_thread")]
async fn no_longer_background_refresh_overwrites_a_newer_write_without_leases() {
    let config = ComputeConfig {
        distributed: false,
        ..with(swr(Duration::from_secs(10)))
    };
    let compute = ComputeCache::with_config(mem(), config).unwrap();
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("old")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    compute
        .get_or_revalidate("k", ttl, || async { Ok(b("refreshed from a snapshot")) })
        .await
        .unwrap();
    compute.set("k", b("written"), Ttl::secs(60)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = compute.get("k").await.unwrap();
    println!("after set + background refresh: {after:?}");
    assert_eq!(after, Some(b("written")), "the write was overwritten");
}

/// D2: `get_or_revalidate` promises to answer at once and refresh in the background, but a hit
/// reads the cache twice (and draws XFetch twice): the second draw can run the refresh inline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_get_or_revalidate_refreshes_inline_and_reads_twice() {
    // A seed whose first draw is low (not due) and second is high (due).
    let seed = (0..)
        .find(|s| {
            let mut r = fastrand::Rng::with_seed(*s);
            r.f64() < 0.5 && r.f64() > 0.95
        })
        .unwrap();
    let scripted = ScriptedCache::wrap(mem());
    let policy = Freshness {
        early_refresh: 10.0,
        ..Freshness::default()
    };
    let compute = ComputeCache::builder(scripted.shared())
        .config(with(policy))
        .seed(seed)
        .build()
        .unwrap();
    let ttl = Ttl::After(Duration::from_secs(2));
    let slow = |v: &'static str| {
        move || async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(b(v))
        }
    };
    compute.get_or_compute("k", ttl, slow("v1")).await.unwrap();
    let gets_before = scripted.calls(Op::Get);
    let started = Instant::now();
    let answer = compute.get_or_revalidate("k", ttl, slow("v2")).await.unwrap();
    let took = started.elapsed();
    let gets = scripted.calls(Op::Get) - gets_before;
    println!(
        "get_or_revalidate: {:?} {:?} in {took:?}, {gets} GETs for it; {:?}",
        answer.value,
        answer.source,
        compute.compute_stats()
    );
    assert_ne!(
        answer.source,
        Source::Computed,
        "get_or_revalidate computed inline ({took:?})"
    );
    assert_eq!(gets, 1, "a hit read the cache {gets} times");
}

/// D3: a caller that really misses (past the stale-while-revalidate window, or with a strict
/// policy) joins the flight of a refresh; when the refresh fails, the refresh's leader finishes the
/// flight with the OLD value, and the miss receives it as `Source::Shared` (no error, nothing
/// counted as stale), although it is past every window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_a_miss_joining_a_failed_refresh_gets_the_stale_value_as_shared() {
    let compute = Arc::new(ComputeCache::with_config(mem(), with(swr(Duration::from_millis(500)))).unwrap());
    let ttl = Ttl::After(Duration::from_millis(200));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v1")) })
        .await
        .unwrap();
    // Age 300 ms: within the window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refresher = {
        let compute = Arc::clone(&compute);
        tokio::spawn(async move {
            compute
                .fetch("k", ttl, || async {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    failing().await
                })
                .await
        })
    };
    // Age 600 ms: past the 500 ms window; a strict caller too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let strict = compute
        .with_freshness(Freshness::default())
        .fetch("k", ttl, || async { Ok(b("v2")) })
        .await;
    let refreshed = refresher.await.unwrap().unwrap();
    println!(
        "refresher: {refreshed:?}; strict miss: {strict:?}; {:?}",
        compute.compute_stats()
    );
    let strict = strict.unwrap();
    assert!(
        strict.value != b("v1"),
        "a strict miss was answered with the value past its TTL and window, as {:?}",
        strict.source
    );
}

/// D4: a background refresh that panics leaves the key's lease taken: the next real miss of the
/// same process waits for its own dead lease to run out (counted as a remote wait and a lease
/// takeover, as if another process had computed), and the refresh is not counted as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_a_panicking_background_refresh_leaks_its_lease() {
    let config = ComputeConfig {
        lease: Duration::from_secs(2),
        ..with(swr(Duration::from_secs(10)))
    };
    let compute = ComputeCache::with_config(mem(), config).unwrap();
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v1")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    compute
        .get_or_revalidate("k", ttl, || async { panic!("bug in the refresh") })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while compute.compute_stats().refresh_errors == 0 {
        assert!(Instant::now() < deadline, "the panicked refresh is not counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    compute.delete("k").await.unwrap();
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v2")) })
        .await
        .unwrap();
    let stats = compute.compute_stats();
    println!("the miss after the panic: {stats:?}");
    assert_eq!(
        (stats.remote_waits, stats.lease_takeovers),
        (0, 0),
        "the miss waited for a dead lease of this process"
    );
}

/// D4b: the same with an inline refresh whose caller is cancelled (a request timeout): its lease
/// is left to run out, and the key's next miss in this process waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_a_cancelled_refresh_leaks_its_lease() {
    let config = ComputeConfig {
        lease: Duration::from_secs(2),
        ..with(swr(Duration::from_secs(10)))
    };
    let compute = ComputeCache::with_config(mem(), config).unwrap();
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v1")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        compute.fetch("k", ttl, || async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(b("never"))
        }),
    )
    .await;
    assert!(cancelled.is_err());
    compute.delete("k").await.unwrap();
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v2")) })
        .await
        .unwrap();
    let stats = compute.compute_stats();
    println!("the miss after the cancelled refresh: {stats:?}");
    assert_eq!(
        (stats.remote_waits, stats.lease_takeovers),
        (0, 0),
        "the miss waited for a dead lease of this process"
    );
}

/// D5: a value that happens to start with the freshness magic, computed or written without any
/// policy, is misread: truncated by 17 bytes on later hits, or recomputed on every call (never
/// cached), or a `get` error.
#[tokio::test]
async fn no_longer_plain_values_starting_with_the_magic_are_misread() {
    let compute = ComputeCache::new(mem());
    let ttl = Ttl::secs(60);
    // Binary values (postcard, bincode, images, user uploads) can start with these bytes.
    let mut zero_until = stored::MAGIC.to_vec();
    zero_until.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    zero_until.extend_from_slice(b"payload");
    let zero_until = Bytes::from(zero_until);
    let first = compute
        .get_or_compute("a", ttl, || {
            let v = zero_until.clone();
            async move { Ok(v) }
        })
        .await
        .unwrap();
    let second = compute
        .get_or_compute("a", ttl, || async { panic!("cached") })
        .await
        .unwrap();
    println!(
        "computed {} bytes, read back {} bytes: {second:?}",
        first.len(),
        second.len()
    );

    let mut past_until = stored::MAGIC.to_vec();
    past_until.push(1);
    past_until.extend_from_slice(&1u64.to_le_bytes());
    past_until.extend_from_slice(&[0; 4]);
    let past_until = Bytes::from(past_until);
    let runs = AtomicUsize::new(0);
    for _ in 0..5 {
        compute
            .get_or_compute("b", ttl, || {
                runs.fetch_add(1, SeqCst);
                let v = past_until.clone();
                async move { Ok(v) }
            })
            .await
            .unwrap();
    }
    println!("5 calls of a cached key computed {} times", runs.load(SeqCst));

    compute
        .set("c", Bytes::from_static(b"\xC1SCF\x07 binary"), ttl)
        .await
        .unwrap();
    let read = compute.get("c").await;
    let many = compute.get_many(&["a", "c"]).await;
    println!("plain set then get: {read:?}; get_many: {many:?}");

    assert_eq!(second, first, "a cached value reads back truncated");
    assert_eq!(
        runs.load(SeqCst),
        1,
        "a cached value was recomputed on every call"
    );
    assert!(read.is_ok(), "a plain set value cannot be read back");
}

/// D6: under stale-if-error with local copies, a value computed with `Ttl::Default` (the docs:
/// "no policy applies to it") keeps a local copy with no soft expiry: it is served long after the
/// backend expired it, as a fresh hit when the backend fails, and as stale-if-error when the
/// backend answers a miss, beyond any window.
#[tokio::test]
async fn no_longer_a_ttl_default_value_is_served_from_the_local_copy_forever() {
    let backend = ScriptedCache::wrap(
        MemoryCache::builder()
            .default_ttl(Duration::from_millis(200))
            .build()
            .unwrap(),
    );
    let local: SharedCache = Arc::new(mem());
    let compute = ComputeCache::builder(backend.shared())
        .config(with(sie(Duration::from_millis(300))))
        .local_copies(local)
        .build()
        .unwrap();
    compute
        .get_or_compute("k", Ttl::Default, || async { Ok(b("v1")) })
        .await
        .unwrap();
    // The backend expired it 1.3 s ago; the stale-if-error window is 0.3 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(backend.inner().get("k").await.unwrap(), None);
    let missed = compute.fetch("k", Ttl::Default, failing).await;
    backend.script(Op::Get, Script::fail(ErrorKind::Connection, "Redis is down"));
    let down = compute.fetch("k", Ttl::Default, || async { Ok(b("v2")) }).await;
    println!("backend miss + failing compute: {missed:?}; backend down: {down:?}");
    assert!(
        missed.is_err(),
        "served a value 1.3 s past its expiry: {missed:?}"
    );
    assert_ne!(
        down.unwrap().value,
        b("v1"),
        "served an expired value as a fresh hit"
    );
}

/// D7: a read through the ComputeCache that is in flight while the key is deleted writes its
/// (pre-delete) value as the local copy after the delete removed the copies: the deleted value is
/// then served when the backend fails (as a fresh hit) or misses and the computation fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_a_read_racing_a_delete_resurrects_the_local_copy() {
    let backend = ScriptedCache::wrap(mem());
    let local: SharedCache = Arc::new(mem());
    let compute = Arc::new(
        ComputeCache::builder(backend.shared())
            .config(with(sie(Duration::from_secs(60))))
            .local_copies(Arc::clone(&local))
            .build()
            .unwrap(),
    );
    let ttl = Ttl::secs(30);
    compute
        .get_or_compute("k", ttl, || async { Ok(b("secret")) })
        .await
        .unwrap();
    // A read that reached the backend before the delete, whose answer arrives after it.
    let gate = Gate::new();
    backend.script(Op::Get, Script::after(Script::Hold(gate.clone())));
    let reader = {
        let compute = Arc::clone(&compute);
        tokio::spawn(async move { compute.fetch("k", ttl, failing).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    compute.delete("k").await.unwrap();
    gate.open();
    reader.await.unwrap().unwrap();
    backend.pass_all();
    assert_eq!(compute.get("k").await.unwrap(), None, "deleted");
    let copy = local.get("k").await.unwrap();
    let after = compute.fetch("k", ttl, failing).await;
    backend.script(Op::Get, Script::fail(ErrorKind::Connection, "Redis is down"));
    let down = compute.fetch("k", ttl, failing).await;
    println!("copy: {copy:?}\nmiss + failing compute: {after:?}\nbackend down: {down:?}");
    assert!(copy.is_none(), "the local copy came back after the delete");
}

/// D8: stale-if-error serves the value captured before the computation, even when the key was
/// written (or deleted) through the ComputeCache while it ran: a newer value is in the cache,
/// yet the caller gets the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_stale_if_error_serves_a_value_replaced_during_the_computation() {
    let compute = Arc::new(ComputeCache::with_config(mem(), with(sie(Duration::from_secs(60)))).unwrap());
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("old")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let caller = {
        let compute = Arc::clone(&compute);
        tokio::spawn(async move {
            compute
                .fetch("k", ttl, || async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    failing().await
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    compute.set("k", b("new"), Ttl::secs(60)).await.unwrap();
    let served = caller.await.unwrap().unwrap();
    let now = compute.get("k").await.unwrap();
    println!("served {served:?} while the cache holds {now:?}");
    assert_eq!(served.value, b("new"), "stale-if-error served a replaced value");
}

/// D10: `exists` and `ttl` disagree with `get` under a policy: past its TTL the value reads as
/// absent, yet exists and has the stale window still to live (the Cache contract: "a miss, an
/// expired entry and a deleted entry all read as Ok(None)"; exists: "whether a live entry
/// exists").
#[tokio::test]
async fn no_longer_exists_and_ttl_disagree_with_get_under_a_policy() {
    let compute = ComputeCache::with_config(mem(), with(swr(Duration::from_secs(30)))).unwrap();
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v")) })
        .await
        .unwrap();
    let fresh_ttl = compute.ttl("k").await.unwrap();
    let (_, fresh_expiry) = compute.get_with_ttl("k").await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (get, exists, left) = (
        compute.get("k").await.unwrap(),
        compute.exists("k").await.unwrap(),
        compute.ttl("k").await.unwrap(),
    );
    println!(
        "fresh: ttl() {fresh_ttl:?} vs get_with_ttl {fresh_expiry:?}; past TTL: get {get:?}, exists {exists}, ttl {left:?}"
    );
    assert_eq!((get.is_some(), exists, left.is_some()), (false, false, false));
}

/// D11: an XFetch refresh that computes is counted as a hit ("calls answered from the cache,
/// without computing") as well as a computation.
#[tokio::test]
async fn no_longer_an_early_refresh_is_counted_as_a_hit() {
    let seed = (0..).find(|s| fastrand::Rng::with_seed(*s).f64() > 0.99).unwrap();
    let policy = Freshness {
        early_refresh: 100.0,
        ..Freshness::default()
    };
    let compute = ComputeCache::builder(mem())
        .config(with(policy))
        .seed(seed)
        .build()
        .unwrap();
    let ttl = Ttl::After(Duration::from_secs(2));
    let slow = |v: &'static str| {
        move || async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(b(v))
        }
    };
    compute.get_or_compute("k", ttl, slow("v1")).await.unwrap();
    let fetched = compute.fetch("k", ttl, slow("v2")).await.unwrap();
    let stats = compute.compute_stats();
    println!("{fetched:?}; {stats:?}");
    assert_eq!(fetched.source, Source::Computed);
    assert_eq!(stats.hits, 0, "a call that computed is counted as a hit");
}

/// D2b: a plain fresh hit through `get_or_revalidate` (no policy due) reads the backend twice.
#[tokio::test]
async fn no_longer_a_fresh_hit_through_get_or_revalidate_reads_twice() {
    let scripted = ScriptedCache::wrap(mem());
    let compute = ComputeCache::builder(scripted.shared())
        .config(with(swr(Duration::from_secs(10))))
        .build()
        .unwrap();
    let ttl = Ttl::secs(60);
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v")) })
        .await
        .unwrap();
    let before = scripted.calls(Op::Get);
    compute.fetch("k", ttl, || async { Ok(b("x")) }).await.unwrap();
    let fetch_gets = scripted.calls(Op::Get) - before;
    let before = scripted.calls(Op::Get);
    compute
        .get_or_revalidate("k", ttl, || async { Ok(b("x")) })
        .await
        .unwrap();
    let revalidate_gets = scripted.calls(Op::Get) - before;
    println!("GETs per fresh hit: fetch {fetch_gets}, get_or_revalidate {revalidate_gets}");
    assert_eq!(revalidate_gets, fetch_gets);
}

/// D12: without a lease (distributed off, a cache without leases, a failed lease call) a refresh
/// does not look whether the value changed since its caller read it: a caller whose read of the
/// old value was answered after another caller's refresh had stored runs a second refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_longer_without_a_lease_a_late_reader_refreshes_again() {
    let scripted = ScriptedCache::wrap(mem());
    let config = ComputeConfig {
        distributed: false,
        ..with(swr(Duration::from_secs(10)))
    };
    let compute = Arc::new(
        ComputeCache::builder(scripted.shared())
            .config(config)
            .build()
            .unwrap(),
    );
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v1")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let refresh = || {
        let runs = Arc::clone(&runs);
        move || async move {
            runs.fetch_add(1, SeqCst);
            Ok(b("v2"))
        }
    };
    // Caller B's read of the stale value is answered late.
    let gate = Gate::new();
    scripted.script(Op::Get, Script::after(Script::Hold(gate.clone())));
    let late = {
        let (compute, refresh) = (Arc::clone(&compute), refresh());
        tokio::spawn(async move { compute.fetch("k", ttl, refresh).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    scripted.pass_all();
    // Caller A refreshes meanwhile.
    let first = compute.fetch("k", ttl, refresh()).await.unwrap();
    gate.open();
    let second = late.await.unwrap().unwrap();
    println!(
        "A: {first:?}; B: {second:?}; refreshes run: {}",
        runs.load(SeqCst)
    );
    assert_eq!(runs.load(SeqCst), 1, "the value was refreshed twice");
}

/// D7b: a process that read a newer value written without the header (a plain `set`, by another
/// process or through this cache) keeps its older local copy: when the cache fails, it answers
/// the older value as a fresh hit, going back in time.
#[tokio::test]
async fn no_longer_the_local_copy_goes_back_in_time() {
    let backend = ScriptedCache::wrap(mem());
    let local: SharedCache = Arc::new(mem());
    let compute = ComputeCache::builder(backend.shared())
        .config(with(sie(Duration::from_secs(60))))
        .local_copies(local)
        .build()
        .unwrap();
    let ttl = Ttl::secs(30);
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v1")) })
        .await
        .unwrap();
    // Another process writes v2 (a plain write through its ComputeCache).
    backend.inner().set("k", b("v2"), ttl).await.unwrap();
    let read = compute.fetch("k", ttl, failing).await.unwrap();
    assert_eq!(read.value, b("v2"));
    backend.script(Op::Get, Script::fail(ErrorKind::Connection, "Redis is down"));
    // v2 has no soft expiry, so no copy of it is kept, and v1's is gone: the error.
    let down = compute.fetch("k", ttl, failing).await;
    println!("read {read:?}, then with the cache down: {down:?}");
    assert!(down.is_err(), "answered {down:?}, older than the value last read");
}

// Claims checked and found true (these pass).

/// With the lease, the refresh looks again before computing: a late reader does not refresh a
/// second time, and a plain write made after the background refresh was requested is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_a_lease_a_refresh_reads_again_first() {
    let scripted = ScriptedCache::wrap(mem());
    let compute = Arc::new(
        ComputeCache::builder(scripted.shared())
            .config(with(swr(Duration::from_secs(10))))
            .build()
            .unwrap(),
    );
    let ttl = Ttl::After(Duration::from_millis(100));
    compute
        .get_or_compute("k", ttl, || async { Ok(b("v1")) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let refresh = || {
        let runs = Arc::clone(&runs);
        move || async move {
            runs.fetch_add(1, SeqCst);
            Ok(b("v2"))
        }
    };
    let gate = Gate::new();
    scripted.script(Op::Get, Script::after(Script::Hold(gate.clone())));
    let late = {
        let (compute, refresh) = (Arc::clone(&compute), refresh());
        tokio::spawn(async move { compute.fetch("k", ttl, refresh).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    scripted.pass_all();
    compute.fetch("k", ttl, refresh()).await.unwrap();
    gate.open();
    let second = late.await.unwrap().unwrap();
    assert_eq!((runs.load(SeqCst), second.source), (1, Source::Shared));

    tokio::time::sleep(Duration::from_millis(150)).await;
    compute.get_or_revalidate("k", ttl, refresh()).await.unwrap();
    compute.set("k", b("written"), Ttl::secs(60)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(compute.get("k").await.unwrap(), Some(b("written")));
}

/// A write or delete through the ComputeCache while a refresh computes is not overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_a_change_during_a_refresh_supersedes_it() {
    let compute = Arc::new(ComputeCache::with_config(mem(), with(swr(Duration::from_secs(10)))).unwrap());
    let ttl = Ttl::After(Duration::from_millis(100));
    for change in ["set", "delete"] {
        compute
            .get_or_compute("k", ttl, || async { Ok(b("v1")) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        compute
            .get_or_revalidate("k", ttl, || async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(b("refreshed"))
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if change == "set" {
            compute.set("k", b("written"), Ttl::secs(60)).await.unwrap();
        } else {
            compute.delete("k").await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let expected = (change == "set").then(|| b("written"));
        assert_eq!(compute.get("k").await.unwrap(), expected, "{change}");
        compute.delete("k").await.unwrap();
    }
}

/// The longest TTL with the longest window is clamped, not overflowed; hostile policies are
/// refused per call.
#[tokio::test]
async fn check_extreme_ttls_and_policies() {
    let policy = Freshness {
        early_refresh: 100.0,
        stale_while_revalidate: stratacache_compute::MAX_STALE_WINDOW,
        stale_if_error: stratacache_compute::MAX_STALE_WINDOW,
    };
    let compute = ComputeCache::with_config(mem(), with(policy)).unwrap();
    let v = compute
        .get_or_compute("k", Ttl::After(stratacache_core::MAX_TTL), || async {
            Ok(b("v"))
        })
        .await
        .unwrap();
    assert_eq!(v, b("v"));
    assert_eq!(compute.get("k").await.unwrap(), Some(b("v")));
    for bad in [f64::NAN, f64::INFINITY, -0.5, 100.5] {
        let e = compute
            .with_freshness(Freshness {
                early_refresh: bad,
                ..Freshness::default()
            })
            .get_or_compute("k2", Ttl::secs(1), || async { panic!("computed") })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
}
