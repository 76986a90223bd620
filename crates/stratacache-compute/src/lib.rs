#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod config;
mod flight;
mod lease;

pub use cache::{ComputeCache, ComputeStats, Fetched, Source};
pub use config::{ComputeConfig, DEFAULT_LEASE, DEFAULT_MAX_WAIT, DEFAULT_POLL_INTERVAL, WaitPolicy};
pub use stratacache_core;

/// `docs/freshness.md`: its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/freshness.md")]
struct FreshnessDoc;
