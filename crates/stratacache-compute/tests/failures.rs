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
