//! Large values are compressed and decompressed on tokio's blocking pool, small ones inline, and
//! values of every size round-trip.
//!
//! Where the work runs is observed through the runtime itself: a `current_thread` runtime starts
//! no thread of its own except for its blocking pool, so its `on_thread_start` hook counts the
//! `spawn_blocking` hand-offs (the first starts a thread; each test uses fresh runtimes).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{compressed, random_bytes, with_threshold, words};
use stratacache_compression::format::{self, Format};
use stratacache_compression::{DEFAULT_MAX_DECOMPRESSED_SIZE, DEFAULT_OFFLOAD_THRESHOLD};
use stratacache_core::{Bytes, Cache, Ttl};
use tokio::runtime::Runtime;

/// A `current_thread` runtime and the number of blocking-pool threads it started so far.
fn counted_runtime() -> (Runtime, Arc<AtomicUsize>) {
    let started = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&started);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .on_thread_start(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    (runtime, started)
}

#[test]
fn large_values_are_compressed_and_decompressed_off_the_executor() {
    let cache = compressed(with_threshold(1000));
    let small = Bytes::from(words(DEFAULT_OFFLOAD_THRESHOLD / 2, 1));
    let large = Bytes::from(words(4 * DEFAULT_OFFLOAD_THRESHOLD, 2));

    // Writes: the small value is compressed inline, the large one on the blocking pool.
    let (runtime, started) = counted_runtime();
    runtime.block_on(async {
        cache.set("small", small.clone(), Ttl::Default).await.unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 0, "a small value stays inline");
        cache.set("large", large.clone(), Ttl::Default).await.unwrap();
        assert!(started.load(Ordering::SeqCst) >= 1, "a large value is offloaded");
        for key in ["small", "large"] {
            let stored = cache.inner().get(key).await.unwrap().unwrap();
            assert_eq!(
                format::inspect(&stored).unwrap().unwrap().format,
                Format::Zstd,
                "{key}"
            );
        }
    });
    drop(runtime);

    // Reads, on a fresh runtime: the same split.
    let (runtime, started) = counted_runtime();
    runtime.block_on(async {
        assert_eq!(cache.get("small").await.unwrap(), Some(small.clone()));
        assert_eq!(started.load(Ordering::SeqCst), 0, "a small value stays inline");
        assert_eq!(cache.get("large").await.unwrap(), Some(large.clone()));
        assert!(started.load(Ordering::SeqCst) >= 1, "a large value is offloaded");
    });
}

#[test]
fn large_values_stored_raw_are_read_inline() {
    // Incompressible: trying to compress it is work (offloaded), reading it back is a copy.
    let cache = compressed(with_threshold(1000));
    let noise = Bytes::from(random_bytes(4 * DEFAULT_OFFLOAD_THRESHOLD, 3));
    let (runtime, started) = counted_runtime();
    runtime
        .block_on(cache.set("noise", noise.clone(), Ttl::Default))
        .unwrap();
    assert!(started.load(Ordering::SeqCst) >= 1);
    drop(runtime);
    let (runtime, started) = counted_runtime();
    let back = runtime.block_on(cache.get("noise")).unwrap();
    assert_eq!(back, Some(noise));
    assert_eq!(started.load(Ordering::SeqCst), 0);
}

#[test]
fn the_offload_threshold_is_configurable() {
    let mut config = with_threshold(1000);
    config.offload_threshold = usize::MAX;
    let never = compressed(config);
    let mut config = with_threshold(1000);
    config.offload_threshold = 0;
    let always = compressed(config);
    let value = Bytes::from(words(4 * DEFAULT_OFFLOAD_THRESHOLD, 4));
    let (runtime, started) = counted_runtime();
    runtime.block_on(async {
        never.set("k", value.clone(), Ttl::Default).await.unwrap();
        assert_eq!(never.get("k").await.unwrap(), Some(value.clone()));
        assert_eq!(started.load(Ordering::SeqCst), 0);
        always
            .set("k", Bytes::from(words(2000, 5)), Ttl::Default)
            .await
            .unwrap();
        assert!(started.load(Ordering::SeqCst) >= 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_of_every_size_round_trip() {
    let cache = compressed(with_threshold(1000));
    let limit = DEFAULT_MAX_DECOMPRESSED_SIZE;
    let cases: Vec<(&str, Bytes, Format)> = vec![
        ("tiny", Bytes::from_static(b"tiny"), Format::Raw),
        ("small", Bytes::from(words(20_000, 6)), Format::Zstd),
        ("1 MiB", Bytes::from(words(1 << 20, 7)), Format::Zstd),
        // Exactly the limit: still compressed.
        ("at the limit", Bytes::from(vec![b'x'; limit]), Format::Zstd),
        // Past the limit: written raw, so it is still read back.
        ("past the limit", Bytes::from(vec![b'y'; limit + 1]), Format::Raw),
        (
            "2 MiB of noise",
            Bytes::from(random_bytes(2 << 20, 8)),
            Format::Raw,
        ),
    ];
    for (key, value, format) in &cases {
        cache.set(key, value.clone(), Ttl::secs(60)).await.unwrap();
        let stored = cache.inner().get(key).await.unwrap().unwrap();
        assert_eq!(
            format::inspect(&stored).unwrap().unwrap().format,
            *format,
            "{key}"
        );
        assert_eq!(cache.get(key).await.unwrap().as_ref(), Some(value), "{key}");
        let (back, _) = cache.get_with_ttl(key).await.unwrap().unwrap();
        assert_eq!(&back, value, "{key}");
    }
    // The batch operations take the same paths.
    let entries: Vec<(&str, Bytes)> = cases
        .iter()
        .map(|(key, value, _)| (*key, value.clone()))
        .collect();
    cache.clear().await.unwrap();
    cache.set_many(&entries, Ttl::secs(60)).await.unwrap();
    let keys: Vec<&str> = cases.iter().map(|(key, ..)| *key).chain(["missing"]).collect();
    let back = cache.get_many(&keys).await.unwrap();
    let expected: Vec<Option<Bytes>> = cases
        .iter()
        .map(|(_, value, _)| Some(value.clone()))
        .chain([None])
        .collect();
    assert!(back == expected, "get_many returned other values");
    let stats = cache.compression_stats();
    assert_eq!(stats.compressed, 6, "{stats:?}");
    assert_eq!(stats.decompressed, 9, "{stats:?}");
}
