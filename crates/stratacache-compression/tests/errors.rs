//! Values the layer must refuse: headerless, corrupted, oversized, from an unknown format.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::{compressed, text_bytes, with_threshold};
use stratacache_compression::format::{self, Format, MAGIC, VERSION, ZSTD_HEADER_LEN};
use stratacache_core::{Bytes, Cache, Error, ErrorKind, Ttl};

fn assert_serialization(result: stratacache_core::Result<Option<Bytes>>, needle: &str) -> Error {
    let err = result.expect_err("an error");
    assert_eq!(err.kind(), ErrorKind::Serialization, "{err}");
    assert!(err.message().contains(needle), "{needle:?} missing from {err}");
    err
}

/// A zstd-format value: our header declaring `declared` bytes, then `frame`.
fn zstd_value(declared: u32, frame: &[u8]) -> Bytes {
    let mut v = MAGIC.to_vec();
    v.extend([VERSION, Format::Zstd.code()]);
    v.extend(declared.to_le_bytes());
    v.extend_from_slice(frame);
    v.into()
}

#[tokio::test]
async fn headerless_values_are_rejected_by_default() {
    let cache = compressed(with_threshold(100));
    cache
        .inner()
        .set(
            "legacy",
            Bytes::from_static(br#"{"written":"without the layer"}"#),
            Ttl::Default,
        )
        .await
        .unwrap();
    let err = assert_serialization(
        cache.get("legacy").await,
        "the value was not written by the compression layer",
    );
    assert!(err.message().contains("\"legacy\""), "the key is named: {err}");
    assert!(
        err.message().contains("legacy_plain"),
        "the way out is named: {err}"
    );
    assert!(std::error::Error::source(&err).is_some());

    cache
        .set("new", text_bytes(500).into(), Ttl::Default)
        .await
        .unwrap();
    let err = cache.get_many(&["new", "legacy"]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(cache.get_with_ttl("legacy").await.is_err());
    assert_eq!(cache.stats().await.errors, 3, "each refused read is counted");
}

#[tokio::test]
async fn legacy_plain_mode_passes_headerless_values_through() {
    let mut config = with_threshold(100);
    config.legacy_plain = true;
    let cache = compressed(config);
    let plain = Bytes::from_static(b"plain value from before the migration");
    cache
        .inner()
        .set("old", plain.clone(), Ttl::Default)
        .await
        .unwrap();
    let big = Bytes::from(text_bytes(5000));
    cache.set("new", big.clone(), Ttl::Default).await.unwrap();

    assert_eq!(cache.get("old").await.unwrap(), Some(plain.clone()));
    assert_eq!(
        cache.get_many(&["old", "new"]).await.unwrap(),
        [Some(plain), Some(big)]
    );
    // Writes still carry the header.
    let stored = cache.inner().get("new").await.unwrap().unwrap();
    assert_eq!(format::inspect(&stored).unwrap().unwrap().format, Format::Zstd);
    // A value with the magic but an unknown version is still an error.
    cache
        .inner()
        .set("odd", Bytes::from_static(b"\xC1SCZ\x09\x00x"), Ttl::Default)
        .await
        .unwrap();
    assert_serialization(cache.get("odd").await, "version 9 is not supported");
}

#[tokio::test]
async fn unknown_versions_and_formats_are_errors() {
    let cache = compressed(with_threshold(100));
    for (stored, needle) in [
        (&b"\xC1SCZ\x02\x00abc"[..], "header version 2 is not supported"),
        (&b"\xC1SCZ\x01\x05abc"[..], "header format 5 is unknown"),
        (&b"\xC1SCZ\x01"[..], "truncated"),
        (&b"\xC1SCZ\x01\x01\x10\x00"[..], "truncated"),
    ] {
        cache
            .inner()
            .set("k", Bytes::from_static(stored), Ttl::Default)
            .await
            .unwrap();
        assert_serialization(cache.get("k").await, needle);
    }
}

#[tokio::test]
async fn corrupted_compressed_values_are_errors_never_wrong_bytes() {
    let cache = compressed(with_threshold(100));
    let value = Bytes::from(text_bytes(3000));
    cache.set("k", value.clone(), Ttl::Default).await.unwrap();
    let good = cache.inner().get("k").await.unwrap().unwrap();
    assert_eq!(format::inspect(&good).unwrap().unwrap().format, Format::Zstd);

    // Every byte inverted, one at a time: always refused (header or frame checks).
    for i in 0..good.len() {
        let mut bad = good.to_vec();
        bad[i] ^= 0xFF;
        cache.inner().set("k", bad.into(), Ttl::Default).await.unwrap();
        let err = cache.get("k").await.expect_err(&format!("byte {i} inverted"));
        assert_eq!(err.kind(), ErrorKind::Serialization, "byte {i}: {err}");
    }
    // Every single-bit flip in the zstd frame: an error, or (if the flip is harmless) exactly
    // the original bytes; the frame checksum rules out anything else.
    for i in ZSTD_HEADER_LEN..good.len() {
        for bit in 0..8 {
            let mut bad = good.to_vec();
            bad[i] ^= 1 << bit;
            cache.inner().set("k", bad.into(), Ttl::Default).await.unwrap();
            match cache.get("k").await {
                Ok(got) => assert_eq!(got, Some(value.clone()), "byte {i} bit {bit}"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::Serialization, "byte {i} bit {bit}: {e}"),
            }
        }
    }
    // Garbage after a valid frame.
    let mut trailing = good.to_vec();
    trailing.extend_from_slice(b"junk");
    cache
        .inner()
        .set("k", trailing.into(), Ttl::Default)
        .await
        .unwrap();
    assert!(cache.get("k").await.is_err());
}

#[tokio::test]
async fn oversized_declared_lengths_are_refused_before_allocating() {
    let cache = compressed(with_threshold(100));
    let frame = zstd::bulk::compress(b"tiny", 3).unwrap();
    // 4 GiB - 1 declared, far above the default 8 MiB limit.
    cache
        .inner()
        .set("bomb", zstd_value(u32::MAX, &frame), Ttl::Default)
        .await
        .unwrap();
    assert_serialization(
        cache.get("bomb").await,
        "declares 4294967295 bytes, above max_decompressed_size = 8388608 bytes",
    );

    // With the largest limit, the lie is caught by the frame's own size field, still before
    // allocating the declared 4 GiB.
    let mut config = with_threshold(100);
    config.max_decompressed_size = u32::MAX as usize;
    let lenient = compressed(config);
    lenient
        .inner()
        .set("bomb", zstd_value(u32::MAX, &frame), Ttl::Default)
        .await
        .unwrap();
    assert_serialization(
        lenient.get("bomb").await,
        "the header declares 4294967295 bytes, the zstd frame 4",
    );
}

#[tokio::test]
async fn frames_without_a_declared_size_or_expanding_further_are_refused() {
    let cache = compressed(with_threshold(100));
    let data = text_bytes(50_000);
    let mut c = zstd::bulk::Compressor::new(3).unwrap();
    c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(false))
        .unwrap();
    let no_size = c.compress(&data).unwrap();
    cache
        .inner()
        .set("k", zstd_value(50_000, &no_size), Ttl::Default)
        .await
        .unwrap();
    assert_serialization(cache.get("k").await, "not a zstd frame with a declared size");

    // Two frames: the first declares the header's size, the second expands past it.
    let mut two = zstd::bulk::compress(&data, 3).unwrap();
    two.extend(zstd::bulk::compress(&data, 3).unwrap());
    cache
        .inner()
        .set("k", zstd_value(50_000, &two), Ttl::Default)
        .await
        .unwrap();
    assert_serialization(cache.get("k").await, "zstd decompression failed");
}

#[tokio::test]
async fn values_above_the_decompression_limit_are_written_raw_and_read_back() {
    let mut config = with_threshold(100);
    config.max_decompressed_size = 64 * 1024;
    let cache = compressed(config);
    let big = Bytes::from(text_bytes(100_000));
    cache.set("big", big.clone(), Ttl::Default).await.unwrap();
    let stored = cache.inner().get("big").await.unwrap().unwrap();
    assert_eq!(format::inspect(&stored).unwrap().unwrap().format, Format::Raw);
    assert_eq!(cache.get("big").await.unwrap(), Some(big.clone()));

    // A compressed value from a layer with a larger limit is refused by this one.
    let writer = compressed(with_threshold(100));
    writer.set("big", big, Ttl::Default).await.unwrap();
    let from_writer = writer.inner().get("big").await.unwrap().unwrap();
    cache.inner().set("big", from_writer, Ttl::Default).await.unwrap();
    assert_serialization(
        cache.get("big").await,
        "above max_decompressed_size = 65536 bytes",
    );
}
