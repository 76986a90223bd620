//! Compression belongs above encryption: ciphertext does not compress.
//!
//! A toy stream cipher (XOR with a pseudo-random key stream) stands in for the encryption layer:
//! like real ciphertext, its output is indistinguishable from random bytes to zstd.

// Test code: helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::{random_bytes, text_bytes, with_threshold};
use stratacache_compression::CompressionLayer;
use stratacache_compression::format::{self, Format, RAW_HEADER_LEN};
use stratacache_core::{Bytes, Cache, CacheStats, Expiry, Health, Layer, LayerExt, Result, Ttl, async_trait};
use stratacache_memory::MemoryCache;

/// The toy cipher layer.
#[derive(Debug, Clone, Copy)]
struct ToyCipherLayer;

#[derive(Debug)]
struct ToyCipher<C>(C);

impl<C> Layer<C> for ToyCipherLayer {
    type Cache = ToyCipher<C>;
    fn layer(&self, inner: C) -> ToyCipher<C> {
        ToyCipher(inner)
    }
}

/// XOR with a fixed key stream: its own inverse.
fn xor(value: &[u8]) -> Bytes {
    let stream = random_bytes(value.len(), 0x5EC2E7);
    value
        .iter()
        .zip(stream)
        .map(|(v, k)| v ^ k)
        .collect::<Vec<u8>>()
        .into()
}

#[async_trait]
impl<C: Cache> Cache for ToyCipher<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.0.get(key).await?.map(|v| xor(&v)))
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.0.set(key, xor(&value), ttl).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.0.delete(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        self.0.exists(key).await
    }
    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        self.0.ttl(key).await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.0.invalidate_pattern(pattern).await
    }
    async fn clear(&self) -> Result<()> {
        self.0.clear().await
    }
    async fn health(&self) -> Health {
        self.0.health().await
    }
    async fn stats(&self) -> CacheStats {
        self.0.stats().await
    }
}

fn compression() -> CompressionLayer {
    CompressionLayer::new(with_threshold(1000)).unwrap()
}

#[tokio::test]
async fn compress_then_encrypt_saves_bytes() {
    // Right: compression outermost, so it sees plaintext.
    let backend = MemoryCache::new(100).unwrap();
    let cache = backend.layer(ToyCipherLayer).layer(compression());
    let value = Bytes::from(text_bytes(100_000));
    cache.set("doc", value.clone(), Ttl::Default).await.unwrap();
    assert_eq!(cache.get("doc").await.unwrap(), Some(value));

    let s = cache.compression_stats();
    assert_eq!((s.compressed, s.stored_raw), (1, 0));
    assert!(s.savings_percent() > 99.0, "{s:?}");
    let at_rest = cache.inner().0.get("doc").await.unwrap().unwrap();
    assert!(at_rest.len() < 1000, "{} bytes at rest", at_rest.len());
}

#[tokio::test]
async fn encrypt_then_compress_saves_nothing() {
    // Wrong: compression under the cipher sees ciphertext.
    let backend = MemoryCache::new(100).unwrap();
    let cache = backend.layer(compression()).layer(ToyCipherLayer);
    let value = Bytes::from(text_bytes(100_000));
    cache.set("doc", value.clone(), Ttl::Default).await.unwrap();
    assert_eq!(
        cache.get("doc").await.unwrap(),
        Some(value),
        "still correct, only wasteful"
    );

    let compressed = &cache.0;
    let s = compressed.compression_stats();
    assert_eq!((s.compressed, s.stored_raw), (0, 1), "ciphertext is stored raw");
    assert_eq!(s.bytes_saved(), 0);
    assert!(s.compress_nanos > 0, "yet compression was attempted");
    let at_rest = compressed.inner().get("doc").await.unwrap().unwrap();
    assert_eq!(
        at_rest.len(),
        100_000 + RAW_HEADER_LEN,
        "the header is pure overhead"
    );
    assert_eq!(format::inspect(&at_rest).unwrap().unwrap().format, Format::Raw);
}
