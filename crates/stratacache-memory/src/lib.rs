#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod config;
mod leases;
mod scan;
mod sizes;
mod tags;

#[cfg(test)]
mod size_tests;

pub use cache::{MemoryCache, MemoryCacheBuilder};
pub use config::{EvictionPolicy, MAX_ENTRIES_LIMIT, MIN_BYTES_LIMIT, MemoryConfig};
pub use stratacache_core;
