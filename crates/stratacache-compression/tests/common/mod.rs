//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use stratacache_compression::{Compressed, CompressionConfig, CompressionLayer};
use stratacache_core::LayerExt;
use stratacache_memory::MemoryCache;

// Each test file uses a different subset of these helpers.
#[allow(unused_imports)]
pub use stratacache_testkit::data::{random_bytes, text_bytes};

/// A compression layer over a fresh memory cache.
pub fn compressed(config: CompressionConfig) -> Compressed<MemoryCache> {
    let layer = CompressionLayer::new(config).unwrap();
    MemoryCache::new(100_000).unwrap().layer(layer)
}

/// A configuration with `threshold` and the other defaults.
pub fn with_threshold(threshold: usize) -> CompressionConfig {
    let mut config = CompressionConfig::default();
    config.threshold = threshold;
    config
}

/// About `len` bytes of words drawn at random from a small vocabulary: compressible, but higher
/// levels find more to squeeze than lower ones (unlike a repeated sentence).
pub fn words(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 20] = [
        "cache", "layer", "value", "redis", "memory", "the", "a", "of", "compress", "zstd", "key", "ttl",
        "entry", "hit", "miss", "and", "to", "is", "in", "for",
    ];
    let mut out = Vec::with_capacity(len + 16);
    for b in random_bytes(len, seed) {
        if out.len() >= len {
            break;
        }
        out.extend_from_slice(WORDS[usize::from(b) % WORDS.len()].as_bytes());
        out.push(b' ');
    }
    out
}
