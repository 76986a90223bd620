#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod calls;
mod config;
mod flight;
mod forward;
mod freshness;
mod generation;
mod lease;
mod refresh;
mod stats;
pub mod stored;

pub use cache::{ComputeCache, ComputeCacheBuilder};
pub use calls::WithFreshness;
pub use config::{ComputeConfig, DEFAULT_LEASE, DEFAULT_MAX_WAIT, DEFAULT_POLL_INTERVAL, WaitPolicy};
pub use freshness::{Freshness, MAX_BETA, MAX_STALE_WINDOW};
pub use stats::{ComputeStats, Fetched, Source};
pub use stratacache_core;

/// `docs/freshness.md`: its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/freshness.md")]
struct FreshnessDoc;
