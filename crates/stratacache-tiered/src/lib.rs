#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod coherence;
mod config;
mod forget;
mod join;
mod ops;

pub use cache::{TierCounters, TieredCache};
pub use config::{DEFAULT_L1_TTL, TieredConfig};
pub use stratacache_core;
