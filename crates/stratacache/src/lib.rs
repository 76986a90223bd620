#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use stratacache_core::*;

/// The in-process moka backend: [`memory::MemoryCache`].
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub mod memory {
    pub use stratacache_memory::{EvictionPolicy, MemoryCache, MemoryCacheBuilder, MemoryConfig};
}

/// Key builders: namespaced keys and AI response keys.
#[cfg(feature = "keys")]
#[cfg_attr(docsrs, doc(cfg(feature = "keys")))]
pub use stratacache_keys as keys;

/// The Redis backend: [`redis::RedisCache`], [`redis::RedisConfig`] with TLS and ACL settings,
/// [`redis::RedisStatus`] (the `stratacache-redis` crate).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use stratacache_redis as redis;

/// The zstd compression layer: [`compression::CompressionLayer`] and
/// [`compression::CompressionConfig`] (the `stratacache-compression` crate).
#[cfg(feature = "compression")]
#[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
pub use stratacache_compression as compression;

/// Two caches as one: [`tiered::TieredCache`] and [`tiered::TieredConfig`] (the
/// `stratacache-tiered` crate).
#[cfg(feature = "tiered")]
#[cfg_attr(docsrs, doc(cfg(feature = "tiered")))]
pub use stratacache_tiered as tiered;

/// Compute-on-miss: [`ComputeCache::get_or_compute`](stratacache_compute::ComputeCache::get_or_compute)
/// with per-key single-flight, bounded waiting and TTL jitter.
#[cfg(feature = "compute")]
#[cfg_attr(docsrs, doc(cfg(feature = "compute")))]
pub use stratacache_compute as compute;

/// Encryption at rest: [`crypto::EncryptionLayer`], [`crypto::KeyRing`],
/// [`crypto::PlaintextPolicy`] and the re-encryption pass [`crypto::reencrypt`] (the
/// `stratacache-crypto` crate).
#[cfg(feature = "crypto")]
#[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
pub use stratacache_crypto as crypto;

/// Monitoring: [`monitor::MonitoringLayer`], the reference-shaped performance snapshot, the
/// invalidation analytics and Prometheus text (the `stratacache-monitor` crate).
#[cfg(feature = "monitor")]
#[cfg_attr(docsrs, doc(cfg(feature = "monitor")))]
pub use stratacache_monitor as monitor;

/// The factory: presets, environment configuration, the assembled stack with graceful
/// degradation, the AI response cache, health reports and the registry (the
/// `stratacache-factory` crate).
#[cfg(feature = "factory")]
#[cfg_attr(docsrs, doc(cfg(feature = "factory")))]
pub use stratacache_factory as factory;
