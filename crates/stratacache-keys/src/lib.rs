#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ai;
mod error;
mod namespace;
mod python;
mod tiers;

pub use ai::{
    AiKeyBuilder, DEFAULT_TEXT_HASH_THRESHOLD, HASHED_PREFIX, KeyScheme, MAX_OPERATION_LEN, REFERENCE_PREFIX,
    TEXT_HASH_THRESHOLD_RANGE,
};
pub use error::{KeyError, KeyPart};
pub use namespace::{MAX_KEY_LEN, MAX_NAMESPACE_LEN, Namespace};
/// Receives the time each [`AiKeyBuilder::key`] call took: [`stratacache_core::KeyGenObserver`],
/// re-exported (it lives in the core so that the monitor implements it without depending on this
/// crate).
pub use stratacache_core::KeyGenObserver;
/// Escapes glob metacharacters so a string matches itself literally: core's
/// [`glob::escape`](stratacache_core::glob::escape), re-exported.
pub use stratacache_core::glob::escape as escape_glob;
pub use tiers::{ParseTextTierError, TextTier, TextTiers};
