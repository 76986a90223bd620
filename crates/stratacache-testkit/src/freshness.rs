//! The freshness cases: [`Freshness`] policies of `get_or_compute` over any backend. XFetch
//! refreshes a fresh value early; stale-while-revalidate serves the old value while one caller
//! refreshes it (inline, or in the background); stale-if-error serves the last value within its
//! window when the computation fails; plain reads see values without their header and treat a
//! value past its TTL as expired; negative caching answers a computation's error without
//! computing until its own TTL.
//!
//! [`run`] builds a fresh, empty cache for each case and runs every case of [`case_names`]; like
//! the conformance suite it runs them all and panics once at the end, listing each failure.
//!
//! ```rust,no_run
//! use stratacache_core::SharedCache;
//!
//! async fn check(new_cache: impl Fn() -> SharedCache) {
//!     stratacache_testkit::freshness::run(async || (new_cache(), ())).await;
//! }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use stratacache_compute::{ComputeCache, ComputeConfig, Freshness, Source, stored};
use stratacache_core::{Bytes, Cache, Error, ErrorKind, SharedCache, Ttl};
use tokio::sync::Semaphore;

use crate::conformance::{Report, run_named};

/// How long one case may run.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

const CASES: &[&str] = &[
    "xfetch_refreshes_before_expiry",
    "stale_while_revalidate_refreshes_once_and_serves_the_old_value",
    "background_revalidation_answers_at_once",
    "stale_if_error_serves_the_last_value_within_its_window",
    "plain_reads_see_the_value_and_its_expiry",
    "negative_caching_answers_the_error_until_its_ttl",
];

/// The names of the freshness cases, in running order.
pub fn case_names() -> &'static [&'static str] {
    CASES
}

/// Runs every freshness case, each on a fresh empty cache from `make` (with a guard kept alive
/// while the case runs).
///
/// # Panics
///
/// Once, after every case ran, when any failed: the message lists each failed case.
pub async fn run<G>(make: impl AsyncFn() -> (SharedCache, G)) -> Report {
    run_named("freshness", CASES, CASE_TIMEOUT, make, |name, cache| {
        Box::pin(case(name, cache.clone()))
    })
    .await
}

async fn case(name: &str, cache: SharedCache) {
    match name {
        "xfetch_refreshes_before_expiry" => xfetch_refreshes_before_expiry(cache).await,
        "stale_while_revalidate_refreshes_once_and_serves_the_old_value" => {
            stale_while_revalidate(cache).await;
        }
        "background_revalidation_answers_at_once" => background_revalidation(cache).await,
        "stale_if_error_serves_the_last_value_within_its_window" => stale_if_error(cache).await,
        "plain_reads_see_the_value_and_its_expiry" => plain_reads(cache).await,
        "negative_caching_answers_the_error_until_its_ttl" => negative_caching(cache).await,
        other => unreachable!("no freshness case {other}"),
    }
}

fn compute_cache(cache: SharedCache, freshness: Freshness, seed: u64) -> Arc<ComputeCache<SharedCache>> {
    let config = ComputeConfig {
        freshness,
        ..ComputeConfig::default()
    };
    let built = ComputeCache::builder(cache).config(config).seed(seed).build();
    Arc::new(built.expect("a valid ComputeConfig"))
}

fn value(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Sleeps until `ttl` has passed since `since`, and some.
async fn past(since: Instant, ttl: Duration) {
    let at = since + ttl + Duration::from_millis(50);
    tokio::time::sleep_until(at.into()).await;
}

/// XFetch: a value that took long to compute, read shortly before it expires, is refreshed by
/// that read (deterministic: the draws are seeded), and the read gets the new value; with β 0
/// the same read is a plain hit.
async fn xfetch_refreshes_before_expiry(cache: SharedCache) {
    // A seed whose first draw makes the refresh all but certain: with δ ≥ 100 ms and β 100,
    // any draw ≥ 0.5 refreshes up to 6.9 s before expiry (the TTL is 2 s).
    let seed = (0..)
        .find(|seed| fastrand::Rng::with_seed(*seed).f64() >= 0.5)
        .expect("a seed");
    let policy = Freshness {
        early_refresh: 100.0,
        ..Freshness::default()
    };
    let compute = compute_cache(cache, policy, seed);
    let ttl = Duration::from_secs(2);
    let runs = AtomicUsize::new(0);
    let slow = |v: &'static str| {
        let runs = &runs;
        move || async move {
            runs.fetch_add(1, SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(value(v))
        }
    };
    let started = Instant::now();
    let first = compute
        .fetch("x:hot", Ttl::After(ttl), slow("v1"))
        .await
        .expect("first");
    assert_eq!((first.value, first.source), (value("v1"), Source::Computed));
    let off = compute
        .with_freshness(Freshness::default())
        .fetch("x:hot", Ttl::After(ttl), slow("never"))
        .await
        .expect("off");
    assert_eq!(
        (off.value, off.source),
        (value("v1"), Source::Cache),
        "β 0: a hit"
    );
    let early = compute
        .fetch("x:hot", Ttl::After(ttl), slow("v2"))
        .await
        .expect("early");
    assert!(started.elapsed() < ttl, "the refresh came before expiry");
    assert_eq!((early.value, early.source), (value("v2"), Source::Computed));
    let stats = compute.compute_stats();
    assert_eq!(
        (stats.computations, stats.early_refreshes, runs.load(SeqCst)),
        (2, 1, 2),
        "{stats:?}"
    );
    assert_eq!(compute.get("x:hot").await.expect("get"), Some(value("v2")));
}

/// Past its TTL, within the stale-while-revalidate window: of 20 concurrent callers, one
/// refreshes (and gets the new value) and 19 get the old value without waiting for it (they are
/// answered while the refresh is held); then the new value is fresh.
async fn stale_while_revalidate(cache: SharedCache) {
    let policy = Freshness {
        stale_while_revalidate: Duration::from_secs(30),
        ..Freshness::default()
    };
    let compute = compute_cache(cache, policy, 1);
    let ttl = Duration::from_millis(300);
    let started = Instant::now();
    compute
        .get_or_compute("s:page", Ttl::After(ttl), || async { Ok(value("old")) })
        .await
        .expect("first");
    past(started, ttl).await;
    let gate = Arc::new(Semaphore::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for _ in 0..20 {
        let (compute, gate, runs) = (Arc::clone(&compute), Arc::clone(&gate), Arc::clone(&runs));
        callers.push(tokio::spawn(async move {
            compute
                .fetch("s:page", Ttl::After(ttl), || async move {
                    runs.fetch_add(1, SeqCst);
                    let _permit = gate.acquire().await.expect("open");
                    Ok(value("new"))
                })
                .await
                .expect("fetch")
        }));
    }
    // Every caller but the refreshing one is answered while the refresh is held.
    let deadline = Instant::now() + Duration::from_secs(10);
    while callers.iter().filter(|c| c.is_finished()).count() < 19 {
        assert!(Instant::now() < deadline, "the others waited for the refresh");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gate.add_permits(1);
    let mut sources = Vec::new();
    for caller in callers {
        let fetched = caller.await.expect("caller");
        sources.push((fetched.source, fetched.value));
    }
    let stale = sources
        .iter()
        .filter(|(s, v)| *s == Source::Stale && v == "old")
        .count();
    let fresh = sources
        .iter()
        .filter(|(s, v)| *s == Source::Computed && v == "new")
        .count();
    assert_eq!((stale, fresh, runs.load(SeqCst)), (19, 1, 1), "{sources:?}");
    let after = compute
        .fetch("s:page", Ttl::After(ttl), || async {
            panic!("fresh again: no computation")
        })
        .await
        .expect("after");
    assert_eq!((after.value, after.source), (value("new"), Source::Cache));
    let stats = compute.compute_stats();
    assert_eq!((stats.revalidations, stats.stale_served), (1, 19), "{stats:?}");
}

/// `get_or_revalidate`: past the TTL the caller gets the old value at once, the refresh runs in
/// the background, and its value is read next.
async fn background_revalidation(cache: SharedCache) {
    let policy = Freshness {
        stale_while_revalidate: Duration::from_secs(30),
        ..Freshness::default()
    };
    let compute = compute_cache(cache, policy, 1);
    let ttl = Duration::from_millis(300);
    let started = Instant::now();
    compute
        .get_or_compute("b:page", Ttl::After(ttl), || async { Ok(value("old")) })
        .await
        .expect("first");
    past(started, ttl).await;
    let gate = Arc::new(Semaphore::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let refresh = || {
        let (gate, runs) = (Arc::clone(&gate), Arc::clone(&runs));
        move || async move {
            runs.fetch_add(1, SeqCst);
            let _permit = gate.acquire().await.expect("open");
            Ok(value("new"))
        }
    };
    let answer = compute
        .get_or_revalidate("b:page", Ttl::After(ttl), refresh())
        .await
        .expect("revalidate");
    // Answered although no refresh can finish until the gate opens.
    assert_eq!((answer.value, answer.source), (value("old"), Source::Stale));
    // A second caller meanwhile is answered too, and starts no second refresh (whichever of
    // the two computations runs, one does).
    let again = compute
        .get_or_revalidate("b:page", Ttl::After(ttl), refresh())
        .await
        .expect("again");
    assert_eq!((again.value, again.source), (value("old"), Source::Stale));
    gate.add_permits(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let read = compute.get("b:page").await.expect("get");
        if read == Some(value("new")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the background refresh never stored: {read:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(runs.load(SeqCst), 1, "one refresh");
    let stats = compute.compute_stats();
    assert_eq!(
        (stats.revalidations, stats.computations, stats.stale_served),
        (1, 2, 2),
        "{stats:?}"
    );
}

async fn failing() -> stratacache_core::Result<Bytes> {
    Err(Error::new(ErrorKind::Unavailable, "the model is down"))
}

/// Past its TTL, a failed computation is answered with the last value while within the
/// stale-if-error window, and with the error after it (or under a policy without the window).
async fn stale_if_error(cache: SharedCache) {
    let policy = Freshness {
        stale_if_error: Duration::from_millis(1500),
        ..Freshness::default()
    };
    let compute = compute_cache(cache, policy, 1);
    let ttl = Duration::from_millis(300);
    let started = Instant::now();
    compute
        .get_or_compute("e:answer", Ttl::After(ttl), || async { Ok(value("last")) })
        .await
        .expect("first");
    past(started, ttl).await;
    let served = compute
        .fetch("e:answer", Ttl::After(ttl), failing)
        .await
        .expect("stale");
    assert_eq!((served.value, served.source), (value("last"), Source::Stale));
    let strict = compute
        .with_freshness(Freshness::default())
        .fetch("e:answer", Ttl::After(ttl), failing)
        .await
        .expect_err("no window: the error");
    assert_eq!(strict.kind(), ErrorKind::Unavailable);
    past(started, ttl + policy.stale_if_error).await;
    let late = compute
        .fetch("e:answer", Ttl::After(ttl), failing)
        .await
        .expect_err("past the window: the error");
    assert_eq!(late.message(), "the model is down");
    let stats = compute.compute_stats();
    assert_eq!((stats.stale_if_error, stats.errors), (1, 3), "{stats:?}");
}

/// Under a policy values are stored behind the freshness header; reads through the compute
/// cache strip it, and past the TTL (while the backend still keeps the value for the stale
/// window) they see nothing.
async fn plain_reads(cache: SharedCache) {
    let policy = Freshness {
        stale_while_revalidate: Duration::from_secs(30),
        ..Freshness::default()
    };
    let compute = compute_cache(Arc::clone(&cache), policy, 1);
    let ttl = Duration::from_millis(300);
    let started = Instant::now();
    compute
        .get_or_compute("p:doc", Ttl::After(ttl), || async { Ok(value("body")) })
        .await
        .expect("computed");
    let raw = cache.get("p:doc").await.expect("raw").expect("stored");
    assert!(
        raw.starts_with(&stored::MAGIC),
        "stored behind the header: {raw:?}"
    );
    assert_eq!(compute.get("p:doc").await.expect("get"), Some(value("body")));
    assert_eq!(
        compute.get_many(&["p:doc", "p:none"]).await.expect("get_many"),
        vec![Some(value("body")), None]
    );
    let (read, expiry) = compute
        .get_with_ttl("p:doc")
        .await
        .expect("get_with_ttl")
        .expect("there");
    assert_eq!(read, "body");
    let left = expiry.duration().expect("expires");
    assert!(
        left <= ttl,
        "the expiry is the value's TTL, not the stale window: {left:?}"
    );
    past(started, ttl).await;
    assert!(
        cache.get("p:doc").await.expect("raw").is_some(),
        "kept for the window"
    );
    assert_eq!(
        compute.get("p:doc").await.expect("get"),
        None,
        "expired for readers"
    );
    assert_eq!(compute.get_many(&["p:doc"]).await.expect("get_many"), vec![None]);
    assert_eq!(compute.get_with_ttl("p:doc").await.expect("get_with_ttl"), None);
}

/// With `negative_ttl`, a computation's error is stored and answered (same kind and message)
/// without computing until that TTL; plain reads see no value; then the key computes again.
async fn negative_caching(cache: SharedCache) {
    let ttl = Duration::from_millis(400);
    let config = ComputeConfig {
        negative_ttl: ttl,
        ..ComputeConfig::default()
    };
    let compute = ComputeCache::with_config(cache, config).expect("valid");
    let started = Instant::now();
    let first = compute
        .get_or_compute("n:model", Ttl::secs(60), failing)
        .await
        .expect_err("the computation's error");
    let cached = compute
        .get_or_compute("n:model", Ttl::secs(60), || async {
            panic!("the error is cached: no computation")
        })
        .await
        .expect_err("the cached error");
    assert_eq!((cached.kind(), cached.message()), (first.kind(), first.message()));
    assert_eq!(
        compute.get("n:model").await.expect("get"),
        None,
        "an error is no value"
    );
    assert!(!compute.exists("p:other").await.expect("exists"));
    let stats = compute.compute_stats();
    assert_eq!(
        (stats.negative_stored, stats.negative_hits, stats.computations),
        (1, 1, 1),
        "{stats:?}"
    );
    past(started, ttl).await;
    let value = compute
        .get_or_compute("n:model", Ttl::secs(60), || async { Ok(value("back")) })
        .await
        .expect("computed again");
    assert_eq!(value, "back");
}
