#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
pub mod format;
mod layer;

pub use config::{
    CompressionConfig, DEFAULT_LEVEL, DEFAULT_MAX_DECOMPRESSED_SIZE, DEFAULT_OFFLOAD_THRESHOLD,
    DEFAULT_THRESHOLD, LEVEL_RANGE, MAX_DECOMPRESSED_SIZE_RANGE, THRESHOLD_RANGE,
};
pub use layer::{Compressed, CompressionLayer, CompressionLayerBuilder};
pub use stratacache_core;
