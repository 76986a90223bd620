#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod histogram;
pub mod invalidation;
mod layer;
mod monitor;
mod prometheus;
mod snapshot;
mod window;

pub use clock::{Clock, ManualClock, SystemClock};
pub use layer::{Monitored, MonitoringLayer};
pub use monitor::{MAX_RETENTION, MAX_SLOTS, Monitor, MonitorConfig};
pub use prometheus::CONTENT_TYPE;
pub use snapshot::{
    CacheOperationStats, CompressionSection, KeyGenerationStats, MemoryCurrent, MemoryThresholds,
    MemoryUsage, OperationStats, PerformanceSnapshot, SinceStart, TierMemory,
};
pub use stratacache_core;
pub use window::Operation;
