#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The paths `#[forward]` writes (`::stratacache_core::Cache`) also resolve inside this crate.
extern crate self as stratacache_core;

mod cache;
mod error;
pub mod glob;
mod layer;
mod lease;
mod namespace;
mod observer;
#[cfg(feature = "url")]
mod redis_url;
mod scan;
mod secret;
mod server;
mod stats;
mod tags;
mod timestamp;
mod ttl;
mod typed;

pub use async_trait::async_trait;
pub use bytes::Bytes;
#[doc(inline)]
pub use stratacache_macros::forward;

pub use cache::{Cache, SharedCache};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use glob::Glob;
pub use layer::{Identity, Layer, LayerExt, Stack};
pub use lease::{MAX_LEASE_HOLDER_LEN, validate_lease};
pub use namespace::{MAX_NAMESPACE_LEN, NAMESPACE_RULE, NamespaceError, validate_namespace};
pub use observer::KeyGenObserver;
#[cfg(feature = "url")]
#[cfg_attr(docsrs, doc(cfg(feature = "url")))]
pub use redis_url::{REDACTED_PASSWORD, RedisUrl, RedisUrlParts, UNPARSABLE_URL, redact_url};
pub use scan::ScanKeys;
pub use secret::Secret;
pub use server::{BackendServer, ServerAuth, ServerStatus};
pub use stats::{CacheStats, CompressionStats, EncryptionStats, Health, HealthStatus, StatsCounters};
pub use tags::{MAX_TAG_LEN, MAX_TAGS, TagsExt, validate_tag, validate_tags};
pub use timestamp::format_timestamp;
pub use ttl::{Expiry, MAX_TTL, MIN_TTL, Ttl};
#[cfg(feature = "postcard")]
pub use typed::Postcard;
pub use typed::{Codec, Json, Typed, TypedCacheExt};
pub mod serde_secs;
