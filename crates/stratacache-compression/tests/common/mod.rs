//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use stratacache_compression::{Compressed, CompressionConfig, CompressionLayer};
use stratacache_core::LayerExt;
use stratacache_memory::MemoryCache;

/// `len` pseudo-random bytes (xorshift64*): incompressible, like ciphertext.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `len` bytes of repetitive text: compresses well.
pub fn text_bytes(len: usize) -> Vec<u8> {
    b"The quick brown fox jumps over the lazy dog; "
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

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
