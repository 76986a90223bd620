#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod announce;
mod cache;
mod config;
mod conn;
mod connect;
mod error;
pub mod fleet;
mod leases;
mod scan;
mod status;
mod tags;

pub use cache::RedisCache;
pub use config::{
    MAX_DATABASE, RedisConfig, RedisUrl, RetryConfig, Secret, SecurityConfig, TlsConfig, TlsVersion,
    redact_url,
};
pub use connect::AuthMethod;
pub use status::RedisStatus;

/// The deadpool-redis crate this backend is built on, re-exported so that its types (and
/// `deadpool_redis::redis`) always match the version the cache uses.
pub use deadpool_redis;
pub use stratacache_core;
