//! What `get_or_compute` does when the cache fails under it (scripted with the testkit's
//! `ScriptedCache` over a memory cache), and with values and errors that do not travel as-is.

#![allow(clippy::unwrap_used)]

use std::error::Error as _;
use std::sync::Arc;

use stratacache_compute::{ComputeCache, Source};
use stratacache_core::{Bytes, Cache, Error, ErrorKind, Ttl};
use stratacache_memory::MemoryCache;
use stratacache_testkit::double::{Op, Script, ScriptedCache};

fn scripted() -> ScriptedCache {
    ScriptedCache::wrap(MemoryCache::builder().build().unwrap())
}

#[tokio::test]
async fn a_cache_that_cannot_be_read_is_a_miss_and_one_that_cannot_store_still_answers() {
    let cache = scripted();
    cache.script(Op::Get, Script::fail(ErrorKind::Connection, "read refused"));
    cache.script(Op::Set, Script::fail(ErrorKind::Connection, "write refused"));
    let compute = ComputeCache::new(cache.shared());
    let fetched = compute
        .fetch("k", Ttl::secs(60), || async { Ok(Bytes::from_static(b"v")) })
        .await
        .unwrap();
    assert_eq!(
        (fetched.value.as_ref(), fetched.source),
        (&b"v"[..], Source::Computed)
    );
    let stats = compute.compute_stats();
    // Three reads (before the flight, the leader's second look, and once it holds the lease),
    // one store.
    assert_eq!(
        (stats.read_errors, stats.store_errors, stats.computations),
        (3, 1, 1),
        "{stats:?}"
    );
    cache.pass_all();
    assert!(!compute.exists("k").await.unwrap(), "nothing was stored");
}

#[tokio::test]
async fn an_invalid_ttl_is_refused_before_anything_is_computed() {
    let compute = ComputeCache::new(MemoryCache::builder().build().unwrap());
    let error = compute
        .get_or_compute("k", Ttl::After(std::time::Duration::ZERO), || async {
            panic!("computed with an invalid TTL")
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(compute.compute_stats().computations, 0);
}

#[tokio::test]
async fn every_caller_gets_the_computations_error_as_the_source() {
    let compute = Arc::new(ComputeCache::new(MemoryCache::builder().build().unwrap()));
    let root = || {
        Error::new(ErrorKind::Backend, "upstream failed")
            .with_source(std::io::Error::other("connection reset"))
    };
    let error = compute
        .get_or_compute("k", Ttl::secs(60), || async move { Err(root()) })
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.message()),
        (ErrorKind::Backend, "upstream failed")
    );
    let original = error.source().expect("the computation's error");
    let io = original.source().expect("its own source, kept");
    assert_eq!(io.to_string(), "connection reset");
}

#[tokio::test]
async fn a_typed_value_that_does_not_read_back_is_refused_and_not_stored() {
    let compute = ComputeCache::new(MemoryCache::builder().build().unwrap());
    // JSON has no NaN: serde_json writes `null`, which does not read back as an f64.
    let error = compute
        .get_or_compute_json("nan", Ttl::secs(60), || async { Ok(f64::NAN) })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Serialization);
    assert!(
        !compute.exists("nan").await.unwrap(),
        "not stored for the next callers"
    );
    let fine: f64 = compute
        .get_or_compute_json("one", Ttl::secs(60), || async { Ok(1.5) })
        .await
        .unwrap();
    assert_eq!(fine, 1.5);
}

fn stale_if_error(window: std::time::Duration) -> stratacache_compute::ComputeConfig {
    stratacache_compute::ComputeConfig {
        freshness: stratacache_compute::Freshness {
            stale_if_error: window,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Stale-if-error with local copies: while the cache cannot be read, this process's copy of a
/// value it computed answers (fresh, then stale within the window), without computing; a key
/// deleted through the compute cache has no copy left to serve.
#[tokio::test]
async fn a_cache_that_fails_is_answered_from_the_local_copy_within_the_window() {
    use std::time::Duration;

    let cache = scripted();
    let local: stratacache_core::SharedCache = Arc::new(MemoryCache::builder().build().unwrap());
    let compute = ComputeCache::builder(cache.shared())
        .config(stale_if_error(Duration::from_millis(600)))
        .local_copies(Arc::clone(&local))
        .build()
        .unwrap();
    let ttl = Ttl::After(Duration::from_millis(200));
    let v = || async { Ok(Bytes::from_static(b"v")) };
    compute.get_or_compute("kept", ttl, v).await.unwrap();
    compute.get_or_compute("gone", ttl, v).await.unwrap();
    compute.delete("gone").await.unwrap();
    assert_eq!(
        local.get("gone").await.unwrap(),
        None,
        "a delete removes the copy"
    );

    cache.script(Op::Get, Script::fail(ErrorKind::Connection, "Redis is down"));
    let fresh = compute
        .fetch("kept", ttl, || async {
            panic!("the copy is fresh: no computation")
        })
        .await
        .unwrap();
    assert_eq!((fresh.value.as_ref(), fresh.source), (&b"v"[..], Source::Cache));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stale = compute
        .fetch("kept", ttl, || async {
            panic!("within the window: no computation")
        })
        .await
        .unwrap();
    assert_eq!((stale.value.as_ref(), stale.source), (&b"v"[..], Source::Stale));
    let deleted = compute
        .fetch("gone", ttl, || async {
            Err(Error::new(ErrorKind::Unavailable, "model down"))
        })
        .await
        .unwrap_err();
    assert_eq!(deleted.kind(), ErrorKind::Unavailable, "no copy of a deleted key");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let late = compute
        .fetch("kept", ttl, || async { Ok(Bytes::from_static(b"recomputed")) })
        .await
        .unwrap();
    assert_eq!(
        (late.value.as_ref(), late.source),
        (&b"recomputed"[..], Source::Computed),
        "past the window the copy is not served"
    );
    let stats = compute.compute_stats();
    assert_eq!((stats.stale_if_error, stats.hits), (1, 1), "{stats:?}");
}

/// A cache that answers a miss (a failover's empty fallback) while the computation fails: the
/// local copy answers, within the window.
#[tokio::test]
async fn a_miss_and_a_failed_computation_are_answered_from_the_local_copy() {
    use std::time::Duration;

    let cache: stratacache_core::SharedCache = Arc::new(MemoryCache::builder().build().unwrap());
    let local: stratacache_core::SharedCache = Arc::new(MemoryCache::builder().build().unwrap());
    let compute = ComputeCache::builder(Arc::clone(&cache))
        .config(stale_if_error(Duration::from_secs(60)))
        .local_copies(local)
        .build()
        .unwrap();
    let ttl = Ttl::After(Duration::from_millis(200));
    compute
        .get_or_compute("k", ttl, || async { Ok(Bytes::from_static(b"last")) })
        .await
        .unwrap();
    // The cache lost it (a fallback that starts empty, an eviction).
    cache.clear().await.unwrap();
    let served = compute
        .fetch("k", ttl, || async {
            Err(Error::new(ErrorKind::Unavailable, "model down"))
        })
        .await
        .unwrap();
    assert_eq!(
        (served.value.as_ref(), served.source),
        (&b"last"[..], Source::Stale)
    );
}

/// A cache that refuses leases for want of permission (an ACL rule without the lease keys) is
/// asked once, not on every miss: the next misses coalesce within the process without asking.
#[tokio::test]
async fn a_lease_refused_for_want_of_permission_is_not_asked_for_on_every_miss() {
    let cache = scripted();
    cache.script(
        Op::AcquireLease,
        Script::fail(
            ErrorKind::Authentication,
            "NOPERM this user has no permissions to access one of the keys",
        ),
    );
    let compute = ComputeCache::new(cache.shared());
    for key in ["a", "b", "c"] {
        let value = compute
            .get_or_compute(key, Ttl::secs(60), || async { Ok(Bytes::from_static(b"v")) })
            .await
            .unwrap();
        assert_eq!(value, "v", "computed without the lease");
    }
    assert_eq!(cache.calls(Op::AcquireLease), 1, "asked once");
    let stats = compute.compute_stats();
    assert_eq!((stats.lease_errors, stats.computations), (1, 3), "{stats:?}");
}

/// A process waiting for another's lease looks for the value with one read per poll, and asks
/// for the lease again only every tenth of the lease (at most every 50 ms): far fewer lease
/// scripts than reads.
#[tokio::test]
async fn a_waiting_process_reads_each_poll_and_asks_for_the_lease_seldom() {
    use std::time::Duration;

    let cache = scripted();
    assert!(
        cache
            .inner()
            .acquire_lease("k", "another-process", Duration::from_secs(60))
            .await
            .unwrap()
    );
    let config = stratacache_compute::ComputeConfig {
        max_wait: Duration::from_millis(300),
        on_wait_timeout: stratacache_compute::WaitPolicy::Fail,
        ..Default::default()
    };
    let compute = ComputeCache::with_config(cache.shared(), config).unwrap();
    cache.reset_calls();
    let error = compute
        .get_or_compute("k", Ttl::secs(60), || async {
            panic!("the lease is held elsewhere")
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    let (reads, leases) = (cache.calls(Op::Get), cache.calls(Op::AcquireLease));
    assert!(
        leases <= 8,
        "{leases} lease calls in 300 ms (one per 50 ms expected)"
    );
    assert!(reads >= 3 * leases, "{reads} reads for {leases} lease calls");
}
