#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ai;
mod assembly;
mod compute;
pub mod config;
mod env;
mod factory;
pub mod failover;
mod fleet;
pub mod health;
mod preset;
mod problem;
pub mod registry;
#[cfg(all(feature = "redis", feature = "crypto"))]
mod rotation;

pub use ai::{
    AiFetched, AiMetrics, AiResponseCache, OTHER_OPERATIONS, OperationMetrics, UNLISTED_OPERATIONS,
};
pub use assembly::LAYER_ORDER;
pub use compute::ComputeStatus;
pub use config::{
    AiSettings, CacheConfig, EncryptionSettings, HashAlgorithm, LogLevel, PlaintextPolicy, TierSizes,
};
pub use env::{ENV_VARS, EnvVar, OVERRIDE_KEYS, OverrideKey};
pub use factory::{Backend, BuiltCache, CacheFactory};
pub use failover::{FailoverCache, FailoverConfig, FailoverState};
pub use fleet::{FleetFlushes, FleetStatus};
pub use health::{HealthCheck, HealthReport, check_health};
pub use preset::{
    Environment, Preset, PresetDetails, Recommendation, Strategy, UnknownPreset, recommend_preset,
};
pub use problem::{ConfigError, Problem};
pub use registry::{CacheRegistry, Closer, RegisteredCache, ShutdownReport};
#[cfg(all(feature = "redis", feature = "crypto"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "redis", feature = "crypto"))))]
pub use rotation::{reencrypt_from_env, reencrypt_from_env_with};
pub use stratacache_compute;
pub use stratacache_compute::{ComputeCache, ComputeConfig, ComputeStats, Fetched, Source, WaitPolicy};
pub use stratacache_core;
pub use stratacache_core::Secret;
pub use stratacache_core::{BackendServer, ServerAuth, ServerStatus};
