#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod config;
mod flight;

pub use cache::{ComputeCache, ComputeStats, Fetched, Source};
pub use config::{ComputeConfig, DEFAULT_MAX_WAIT, WaitPolicy};
pub use stratacache_core;

/// `docs/freshness.md`: its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/freshness.md")]
struct FreshnessDoc;
