//! The test double of the failure and race suites: a [`MemoryCache`] behind the testkit's
//! [`ScriptedCache`], whose operations a test makes fail, report a health status, or wait before
//! or after the memory cache answered. Not a model of Redis: it only lets a test reach the tiered
//! cache's error and interleaving handling deterministically.

#![allow(dead_code, unused_imports, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;

use stratacache_core::{Bytes, ErrorKind};
use stratacache_memory::MemoryCache;
pub use stratacache_testkit::double::{Gate, Op, Script, ScriptedCache};
use stratacache_tiered::{TieredCache, TieredConfig};

/// A memory cache behind the scripted double, named `switchable` in the health it makes up.
pub fn switchable() -> ScriptedCache {
    ScriptedCache::wrap(MemoryCache::new(10_000).unwrap()).with_name("switchable")
}

/// `ops` of `cache` fail with a connection error, without reaching the memory cache.
pub fn fail(cache: &ScriptedCache, ops: &[Op]) {
    cache.script_all(ops, &Script::fail(ErrorKind::Connection, "failed (test double)"));
}

/// The L2 operations a tiered read goes through (`get_with_ttl` for single keys, `get_many`).
pub const L2_READS: [Op; 2] = [Op::GetWithTtl, Op::GetMany];

/// The tiered cache of the race suites.
pub type Tiered = TieredCache<MemoryCache, ScriptedCache>;

/// The tiered cache of the race suites: a memory L1 (no L1 lifetime cap) in front of
/// [`switchable`].
pub fn tiered() -> Arc<Tiered> {
    let config = TieredConfig::default().with_l1_ttl(None);
    Arc::new(TieredCache::with_config(MemoryCache::new(1000).unwrap(), switchable(), config).unwrap())
}

/// A value from a string.
pub fn v(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}
