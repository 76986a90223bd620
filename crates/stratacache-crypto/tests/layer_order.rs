//! Compression belongs above encryption: ciphertext does not compress.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ring, text_bytes};
use stratacache_compression::CompressionLayer;
use stratacache_compression::format::{self, Format, RAW_HEADER_LEN};
use stratacache_core::{Bytes, Cache, LayerExt, Ttl};
use stratacache_crypto::EncryptionLayer;
use stratacache_crypto::envelope::{self, OVERHEAD};
use stratacache_memory::MemoryCache;

fn compression() -> CompressionLayer {
    CompressionLayer::builder().threshold(1000).build().unwrap()
}

#[tokio::test]
async fn compress_then_encrypt_saves_bytes() {
    // Right: `.layer(encryption).layer(compression)` puts compression outermost.
    let cache = MemoryCache::new(100)
        .unwrap()
        .layer(EncryptionLayer::new(ring()))
        .layer(compression());
    let value = Bytes::from(text_bytes(100_000));
    cache.set("doc", value.clone(), Ttl::Default).await.unwrap();
    assert_eq!(cache.get("doc").await.unwrap(), Some(value));

    let stats = cache.stats().await;
    let c = stats.compression.unwrap();
    let e = stats.encryption.unwrap();
    assert_eq!((c.compressed, c.stored_raw), (1, 0));
    assert!(c.savings_percent() > 99.0, "{c:?}");
    assert_eq!((e.encrypted, e.decrypted), (1, 1), "encryption is on");
    assert_eq!(
        e.bytes_encrypted, c.bytes_stored,
        "encryption sealed the compressed bytes"
    );

    let at_rest = cache.inner().inner().get("doc").await.unwrap().unwrap();
    assert!(envelope::inspect(&at_rest).is_some(), "an envelope at rest");
    assert_eq!(at_rest.len() as u64, c.bytes_stored + OVERHEAD as u64);
    assert!(
        at_rest.len() < 1000,
        "{} bytes at rest for 100 000",
        at_rest.len()
    );
}

#[tokio::test]
async fn encrypt_then_compress_saves_nothing() {
    // Wrong: compression below encryption sees ciphertext.
    let cache = MemoryCache::new(100)
        .unwrap()
        .layer(compression())
        .layer(EncryptionLayer::new(ring()));
    let value = Bytes::from(text_bytes(100_000));
    cache.set("doc", value.clone(), Ttl::Default).await.unwrap();
    assert_eq!(
        cache.get("doc").await.unwrap(),
        Some(value),
        "still correct, only wasteful"
    );

    let stats = cache.stats().await;
    let c = stats.compression.unwrap();
    assert_eq!((c.compressed, c.stored_raw), (0, 1), "ciphertext is stored raw");
    assert_eq!(c.bytes_saved(), 0);
    assert!(c.compress_nanos > 0, "yet compression was attempted");
    assert!(stats.encryption.is_some());

    let at_rest = cache.inner().inner().get("doc").await.unwrap().unwrap();
    assert_eq!(
        at_rest.len(),
        100_000 + OVERHEAD + RAW_HEADER_LEN,
        "nothing saved"
    );
    assert_eq!(format::inspect(&at_rest).unwrap().unwrap().format, Format::Raw);
}
