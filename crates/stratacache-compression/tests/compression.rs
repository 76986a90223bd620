//! Round trips, what is stored in the inner cache, statistics and batch reads.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::{compressed, random_bytes, text_bytes, with_threshold};
use stratacache_compression::format::{self, Format, RAW_HEADER_LEN};
use stratacache_compression::{CompressionConfig, CompressionLayer};
use stratacache_core::{Bytes, Cache, ErrorKind, Expiry, LayerExt, Ttl};
use stratacache_memory::MemoryCache;

/// What the inner cache holds for `key`: the header's format and the stored length.
async fn stored<C: Cache>(cache: &stratacache_compression::Compressed<C>, key: &str) -> (Format, usize) {
    let raw = cache
        .inner()
        .get(key)
        .await
        .unwrap()
        .expect("stored in the inner cache");
    let header = format::inspect(&raw).unwrap().expect("stored with a header");
    (header.format, raw.len())
}

#[tokio::test]
async fn threshold_edges() {
    let cache = compressed(with_threshold(1000));
    for (key, len, expected) in [
        ("below", 999, Format::Raw),
        ("at", 1000, Format::Raw),
        ("above", 1001, Format::Zstd),
    ] {
        let value = Bytes::from(text_bytes(len));
        cache.set(key, value.clone(), Ttl::Default).await.unwrap();
        let (format, stored_len) = stored(&cache, key).await;
        assert_eq!(format, expected, "{key}");
        if format == Format::Raw {
            assert_eq!(stored_len, len + RAW_HEADER_LEN, "{key}");
        } else {
            assert!(stored_len < len / 5, "{key}: {stored_len} bytes stored for {len}");
        }
        assert_eq!(cache.get(key).await.unwrap(), Some(value), "{key}");
    }
    let s = cache.compression_stats();
    assert_eq!((s.compressed, s.stored_raw, s.decompressed), (1, 2, 1));
    assert_eq!(s.bytes_in, 999 + 1000 + 1001);
    assert!(s.bytes_saved() > 800, "{s:?}");
}

#[tokio::test]
async fn one_mib_compressible_is_compressed_and_saves_bytes() {
    let cache = compressed(CompressionConfig::default());
    let value = Bytes::from(text_bytes(1 << 20));
    cache.set("big", value.clone(), Ttl::Default).await.unwrap();
    let (format, stored_len) = stored(&cache, "big").await;
    assert_eq!(format, Format::Zstd);
    assert!(stored_len < 10_000, "1 MiB of text stored in {stored_len} bytes");
    assert_eq!(cache.get("big").await.unwrap(), Some(value));

    let s = cache.stats().await.compression.expect("compression stats");
    assert_eq!((s.compressed, s.stored_raw, s.decompressed), (1, 0, 1));
    assert_eq!(s.bytes_in, 1 << 20);
    assert_eq!(s.bytes_stored, stored_len as u64);
    assert!(s.savings_percent() > 99.0, "{s:?}");
    assert!(s.compress_nanos > 0 && s.decompress_nanos > 0, "{s:?}");
}

#[tokio::test]
async fn one_mib_incompressible_is_stored_raw_and_saves_nothing() {
    let cache = compressed(CompressionConfig::default());
    let value = Bytes::from(random_bytes(1 << 20, 7));
    cache.set("noise", value.clone(), Ttl::Default).await.unwrap();
    assert_eq!(
        stored(&cache, "noise").await,
        (Format::Raw, (1 << 20) + RAW_HEADER_LEN)
    );
    assert_eq!(cache.get("noise").await.unwrap(), Some(value));

    let s = cache.compression_stats();
    assert_eq!((s.compressed, s.stored_raw, s.decompressed), (0, 1, 0));
    assert_eq!(s.bytes_saved(), 0);
    assert_eq!(s.savings_percent(), 0.0);
    // Compression was attempted (the value is above the threshold), and that took time.
    assert!(s.compress_nanos > 0);
}

#[tokio::test]
async fn a_value_that_barely_exceeds_the_threshold_and_does_not_shrink_is_raw() {
    let cache = compressed(with_threshold(100));
    let value = Bytes::from(random_bytes(101, 3));
    cache.set("k", value.clone(), Ttl::Default).await.unwrap();
    assert_eq!(stored(&cache, "k").await, (Format::Raw, 101 + RAW_HEADER_LEN));
    assert_eq!(cache.get("k").await.unwrap(), Some(value));
}

#[tokio::test]
async fn empty_and_binary_values_round_trip() {
    let cache = compressed(with_threshold(100));
    let mut binary = vec![0u8; 5000];
    binary.extend(format::MAGIC); // a value may itself contain (or start with) the magic
    for (key, value) in [
        ("empty", Vec::new()),
        ("magic", format::MAGIC.to_vec()),
        ("binary", binary),
    ] {
        let value = Bytes::from(value);
        cache.set(key, value.clone(), Ttl::Default).await.unwrap();
        assert_eq!(cache.get(key).await.unwrap(), Some(value), "{key}");
    }
}

#[tokio::test]
async fn stats_keep_the_inner_snapshot_and_add_compression() {
    let cache = compressed(with_threshold(100));
    cache
        .set("a", text_bytes(5000).into(), Ttl::Default)
        .await
        .unwrap();
    cache
        .set("b", Bytes::from_static(b"tiny"), Ttl::Default)
        .await
        .unwrap();
    cache.get("a").await.unwrap();
    cache.get("b").await.unwrap();
    cache.get("missing").await.unwrap();
    let stats = cache.stats().await;
    assert_eq!(stats.backend, "memory");
    assert_eq!((stats.hits, stats.misses, stats.writes), (2, 1, 2));
    assert_eq!(stats.entries, Some(2));
    let c = stats.compression.expect("compression stats");
    assert_eq!(c, cache.compression_stats());
    assert_eq!((c.compressed, c.stored_raw, c.decompressed), (1, 1, 1));
    assert_eq!(c.bytes_in, 5004);
}

#[tokio::test]
async fn batches_mix_compressed_raw_and_missing() {
    let cache = compressed(with_threshold(100));
    let big = Bytes::from(text_bytes(4000));
    let small = Bytes::from_static(b"small");
    let noise = Bytes::from(random_bytes(3000, 11));
    cache
        .set_many(
            &[
                ("big", big.clone()),
                ("small", small.clone()),
                ("noise", noise.clone()),
            ],
            Ttl::secs(60),
        )
        .await
        .unwrap();
    assert_eq!(stored(&cache, "big").await.0, Format::Zstd);
    assert_eq!(stored(&cache, "small").await.0, Format::Raw);
    assert_eq!(stored(&cache, "noise").await.0, Format::Raw);

    let got = cache
        .get_many(&["noise", "missing", "big", "small", "big"])
        .await
        .unwrap();
    assert_eq!(
        got,
        [
            Some(noise),
            None,
            Some(big.clone()),
            Some(small),
            Some(big.clone())
        ]
    );

    let (value, expiry) = cache.get_with_ttl("big").await.unwrap().expect("present");
    assert_eq!(value, big);
    assert!(
        matches!(expiry, Expiry::After(d) if d.as_secs() <= 60),
        "{expiry:?}"
    );
    assert_eq!(cache.get_with_ttl("missing").await.unwrap(), None);

    let s = cache.compression_stats();
    assert_eq!((s.compressed, s.stored_raw, s.decompressed), (1, 2, 3));
}

#[tokio::test]
async fn forwarded_operations() {
    let cache = compressed(with_threshold(100));
    cache
        .set("user:1", text_bytes(2000).into(), Ttl::Never)
        .await
        .unwrap();
    cache
        .set("user:2", text_bytes(10).into(), Ttl::Never)
        .await
        .unwrap();
    cache
        .set("other", text_bytes(10).into(), Ttl::Never)
        .await
        .unwrap();
    assert!(cache.exists("user:1").await.unwrap());
    assert_eq!(cache.ttl("user:1").await.unwrap(), Some(Expiry::Never));
    assert_eq!(cache.invalidate_pattern("user:*").await.unwrap(), 2);
    assert!(cache.delete("other").await.unwrap());
    assert!(cache.health().await.is_healthy());
    cache.set("x", text_bytes(10).into(), Ttl::Never).await.unwrap();
    cache.clear().await.unwrap();
    assert_eq!(cache.get("x").await.unwrap(), None);
}

#[tokio::test]
async fn a_bad_ttl_writes_nothing_and_counts_nothing() {
    let cache = compressed(with_threshold(100));
    let err = cache
        .set(
            "k",
            text_bytes(5000).into(),
            Ttl::After(std::time::Duration::ZERO),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = cache
        .set_many(
            &[("k", text_bytes(5000).into())],
            Ttl::After(std::time::Duration::ZERO),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(cache.inner().get("k").await.unwrap(), None);
    assert_eq!(cache.compression_stats(), Default::default());
}

#[tokio::test]
async fn levels_trade_size_for_speed() {
    let value = Bytes::from(common::words(300_000, 42));
    let mut sizes = Vec::new();
    for level in [1, 9] {
        let layer = CompressionLayer::builder().level(level).build().unwrap();
        let cache = MemoryCache::new(10).unwrap().layer(layer);
        cache.set("k", value.clone(), Ttl::Default).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), Some(value.clone()));
        sizes.push(cache.compression_stats().bytes_stored);
    }
    assert!(
        sizes[1] < sizes[0],
        "level 9 ({}) smaller than level 1 ({})",
        sizes[1],
        sizes[0]
    );
}

#[test]
fn builder_reports_every_invalid_setting() {
    let err = CompressionLayer::builder()
        .threshold(50)
        .level(12)
        .max_decompressed_size(100)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let msg = err.message();
    for needle in [
        "threshold (compression_threshold) = 50 is out of range (accepted: 100..=100000 bytes)",
        "level (compression_level) = 12 is out of range (accepted: 1..=9)",
        "max_decompressed_size = 100 is out of range (accepted: 1024..=4294967295 bytes)",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from {msg}");
    }
    let layer = CompressionLayer::default();
    assert_eq!(layer.config(), &CompressionConfig::default());
}
