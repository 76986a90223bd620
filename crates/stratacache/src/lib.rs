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
