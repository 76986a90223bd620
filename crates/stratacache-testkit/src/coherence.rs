//! The coherence cases: two instances of one backend over one store (two processes of a service
//! behind a load balancer, each with its own handle, and its own memory tier when it has one)
//! must agree with the store: what one changes is what the other reads next.
//!
//! [`run`] builds a fresh pair for each case and runs every case of [`case_names`]; like the
//! conformance suite it runs them all and panics once at the end, listing each failure. For a
//! backend without per-instance copies (memory shared by handle, Redis alone) every case holds
//! trivially; for a tiered cache it holds only when the instances invalidate each other's L1
//! (fleet invalidation). The other instance is given [`PATIENCE`] to catch up: far below the
//! 60 s an L1 copy lives by default, so an instance that is never told fails.
//!
//! ```rust,no_run
//! use stratacache_core::SharedCache;
//!
//! /// One cache, two handles: coherent by construction (a memory cache shared in a process).
//! async fn check(new_cache: impl Fn() -> SharedCache) {
//!     stratacache_testkit::coherence::run(async || {
//!         let cache = new_cache();
//!         (cache.clone(), cache, ())
//!     })
//!     .await;
//! }
//! ```

use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, SharedCache, Ttl};

use crate::conformance::{Report, run_named};

/// How long the other instance may take to see a change.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How long one case may run.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

const CASES: &[&str] = &[
    "write_reaches_the_other",
    "set_many_reaches_the_other",
    "delete_reaches_the_other",
    "pattern_reaches_the_other",
    "clear_reaches_the_other",
    "tag_reaches_the_other",
    "own_write_reads_back_at_once",
    "concurrent_writers_converge",
];

/// The names of the coherence cases, in running order.
pub fn case_names() -> &'static [&'static str] {
    CASES
}

/// Runs every coherence case, each on a fresh pair from `make`: two caches `(a, b)` over one
/// empty store (a fresh namespace), and a guard kept alive while the case runs (the built
/// caches, a server handle, or `()`).
///
/// # Panics
///
/// Once, after every case ran, when any failed: the message lists each failed case.
pub async fn run<G>(make: impl AsyncFn() -> (SharedCache, SharedCache, G)) -> Report {
    run_named(
        "coherence",
        CASES,
        CASE_TIMEOUT,
        async || {
            let (a, b, guard) = make().await;
            ((a, b), guard)
        },
        |name, (a, b)| Box::pin(case(name, a, b)),
    )
    .await
}

async fn case(name: &str, a: &SharedCache, b: &SharedCache) {
    match name {
        "write_reaches_the_other" => write_reaches_the_other(a, b).await,
        "set_many_reaches_the_other" => set_many_reaches_the_other(a, b).await,
        "delete_reaches_the_other" => delete_reaches_the_other(a, b).await,
        "pattern_reaches_the_other" => pattern_reaches_the_other(a, b).await,
        "clear_reaches_the_other" => clear_reaches_the_other(a, b).await,
        "tag_reaches_the_other" => tag_reaches_the_other(a, b).await,
        "own_write_reads_back_at_once" => own_write_reads_back_at_once(a, b).await,
        "concurrent_writers_converge" => concurrent_writers_converge(a, b).await,
        other => unreachable!("no coherence case {other}"),
    }
}

fn v(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// Waits until `cache` reads `expected` for `key`, or panics after [`PATIENCE`] with what it
/// read last.
async fn reads(cache: &SharedCache, key: &str, expected: Option<&str>, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = cache.get(key).await.expect("get");
        if got.as_deref() == expected.map(str::as_bytes) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the other instance still reads {got:?} for {key:?} after {PATIENCE:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// B holds a copy (it read it), A overwrites: B reads A's value.
async fn write_reaches_the_other(a: &SharedCache, b: &SharedCache) {
    a.set("k", v("1"), Ttl::Never).await.unwrap();
    reads(b, "k", Some("1"), "first write").await;
    a.set("k", v("2"), Ttl::Never).await.unwrap();
    reads(b, "k", Some("2"), "overwrite").await;
    b.set("k", v("3"), Ttl::Never).await.unwrap();
    reads(a, "k", Some("3"), "the other way").await;
}

async fn set_many_reaches_the_other(a: &SharedCache, b: &SharedCache) {
    let keys: Vec<String> = (0..20).map(|i| format!("many:{i}")).collect();
    let old: Vec<(&str, Bytes)> = keys.iter().map(|k| (k.as_str(), v("old"))).collect();
    a.set_many(&old, Ttl::Never).await.unwrap();
    for key in &keys {
        reads(b, key, Some("old"), "set_many").await;
    }
    let new: Vec<(&str, Bytes)> = keys.iter().map(|k| (k.as_str(), v("new"))).collect();
    a.set_many(&new, Ttl::Never).await.unwrap();
    for key in &keys {
        reads(b, key, Some("new"), "set_many overwrite").await;
    }
}

async fn delete_reaches_the_other(a: &SharedCache, b: &SharedCache) {
    for key in ["one", "two", "three"] {
        a.set(key, v("x"), Ttl::Never).await.unwrap();
        reads(b, key, Some("x"), "before the deletion").await;
    }
    assert!(a.delete("one").await.unwrap());
    reads(b, "one", None, "delete").await;
    assert_eq!(a.delete_many(&["two", "three"]).await.unwrap(), 2);
    reads(b, "two", None, "delete_many").await;
    reads(b, "three", None, "delete_many").await;
}

async fn pattern_reaches_the_other(a: &SharedCache, b: &SharedCache) {
    for key in ["user:1", "user:2", "order:1"] {
        a.set(key, v(key), Ttl::Never).await.unwrap();
        reads(b, key, Some(key), "before the invalidation").await;
    }
    assert_eq!(a.invalidate_pattern("user:*").await.unwrap(), 2);
    reads(b, "user:1", None, "pattern").await;
    reads(b, "user:2", None, "pattern").await;
    reads(b, "order:1", Some("order:1"), "a key the pattern does not match").await;
}

async fn clear_reaches_the_other(a: &SharedCache, b: &SharedCache) {
    for key in ["p", "q"] {
        a.set(key, v(key), Ttl::Never).await.unwrap();
        reads(b, key, Some(key), "before the clear").await;
    }
    a.clear().await.unwrap();
    reads(b, "p", None, "clear").await;
    reads(b, "q", None, "clear").await;
}

/// B holds copies of tagged entries; A invalidates the tag: B misses them, and keeps the others.
async fn tag_reaches_the_other(a: &SharedCache, b: &SharedCache) {
    use stratacache_core::TagsExt as _;
    for (key, tags) in [
        ("t:1", &["grp"][..]),
        ("t:2", &["grp", "other"]),
        ("t:3", &["other"]),
    ] {
        a.set_with_tags(key, v(key), Ttl::Never, tags).await.unwrap();
        reads(b, key, Some(key), "before the tag invalidation").await;
    }
    assert_eq!(a.invalidate_tag("grp").await.unwrap(), 2);
    reads(b, "t:1", None, "tag").await;
    reads(b, "t:2", None, "tag").await;
    reads(b, "t:3", Some("t:3"), "an entry without the tag").await;
    // And the other way: B's tag invalidation reaches A's copies.
    reads(a, "t:3", Some("t:3"), "A's copy").await;
    assert_eq!(b.invalidate_tag("other").await.unwrap(), 1);
    reads(a, "t:3", None, "B's tag invalidation").await;
}

/// A writer reads its own value at once and keeps reading it (its own announcement does not
/// take it away); the other instance reads it too.
async fn own_write_reads_back_at_once(a: &SharedCache, b: &SharedCache) {
    for i in 0..20 {
        let value = format!("{i}");
        a.set("mine", v(&value), Ttl::Never).await.unwrap();
        assert_eq!(
            a.get("mine").await.unwrap(),
            Some(v(&value)),
            "the writer's own read"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(a.get("mine").await.unwrap(), Some(v("19")));
    reads(b, "mine", Some("19"), "the other instance").await;
}

/// Both instances write one key at the same time (each reading it between writes): afterwards
/// both read the same value, the one the store holds.
async fn concurrent_writers_converge(a: &SharedCache, b: &SharedCache) {
    let writer = async |cache: &SharedCache, name: &str| {
        for i in 0..50 {
            cache
                .set("contended", v(&format!("{name}{i}")), Ttl::Never)
                .await
                .unwrap();
            cache.get("contended").await.unwrap();
        }
    };
    tokio::join!(writer(a, "a"), writer(b, "b"));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (x, y) = (
            a.get("contended").await.unwrap(),
            b.get("contended").await.unwrap(),
        );
        if x == y
            && let Some(last) = x
        {
            assert!(
                last == v("a49") || last == v("b49"),
                "a last write wins, got {last:?}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the instances disagree after {PATIENCE:?}: {x:?} and {y:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
