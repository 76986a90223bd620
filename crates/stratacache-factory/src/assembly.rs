//! Assembling a cache from its [`CacheConfig`], in the layer order of `docs/architecture.md`,
//! outermost first:
//!
//! ```text
//! compute → monitoring → compression → encryption → failover → tiered → memory | redis
//! ```
//!
//! [`assemble`] nests one call per layer in that order, and the sections below follow it, one per
//! layer: what the configuration turns on, and the layer built from it. (Keys are final before
//! the stack sees them: the Redis backend prefixes them with the namespace, under every layer.)
//! [`LAYER_ORDER`] is the same order as data: [`Stack::wrap`] refuses a layer that belongs under
//! the current outermost one, and a test checks the stacks of every configuration against it and
//! against the architecture page.

use std::sync::Arc;
use std::time::Instant;

use stratacache_compute::ComputeCache;
use stratacache_core::{Error, LayerExt, Result, SharedCache};
use stratacache_memory::MemoryCache;
use stratacache_monitor::{Monitor, MonitorConfig, Monitored, MonitoringLayer};

use crate::config::CacheConfig;
use crate::factory::{Backend, BuiltCache};
use crate::failover::FailoverCache;
use crate::preset::Preset;

/// Every layer a built cache can have, outermost first. [`BuiltCache::layers`] lists some of them,
/// always in this order.
pub const LAYER_ORDER: [&str; 8] = [
    "compute",
    "monitoring",
    "compression",
    "encryption",
    "failover",
    "tiered",
    "memory",
    "redis",
];

/// Builds the stack of `config`: the body of
/// [`CacheFactory::from_config`](crate::CacheFactory::from_config).
pub(crate) async fn assemble(config: CacheConfig) -> Result<BuiltCache> {
    let started = Instant::now();
    config.validate()?;
    warn_about_security(&config);
    let (stack, compute) = compute(
        &config,
        monitoring(
            &config,
            compression(&config, encryption(&config, backend(&config).await?)?)?,
        )?,
    )?;
    Ok(BuiltCache {
        cache: stack.cache,
        compute,
        config,
        monitor: stack.monitor,
        monitored: stack.monitored,
        backend: stack.kind,
        layers: stack.layers,
        degraded: stack.degraded,
        failover: stack.failover,
        #[cfg(feature = "redis")]
        redis: stack.redis,
        #[cfg(feature = "redis")]
        fleet: stack.fleet,
        assembly_time: started.elapsed(),
    })
}

/// A stack under construction, from the backend outwards, with what [`BuiltCache`] reports.
struct Stack {
    cache: SharedCache,
    kind: Backend,
    /// Outermost first.
    layers: Vec<&'static str>,
    degraded: Option<String>,
    failover: Option<Arc<FailoverCache>>,
    #[cfg(feature = "redis")]
    redis: Option<stratacache_redis::RedisCache>,
    #[cfg(feature = "redis")]
    fleet: Option<Arc<crate::fleet::Fleet>>,
    monitor: Option<Arc<Monitor>>,
    monitored: Option<Arc<Monitored<SharedCache>>>,
}

impl Stack {
    /// A backend: its cache and its layers, outermost first.
    fn backend(cache: SharedCache, kind: Backend, layers: Vec<&'static str>) -> Self {
        Self {
            cache,
            kind,
            layers,
            degraded: None,
            failover: None,
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "redis")]
            fleet: None,
            monitor: None,
            monitored: None,
        }
    }

    /// Puts the layer `name` around the stack.
    ///
    /// # Panics
    ///
    /// When `name` comes after the current outermost layer in [`LAYER_ORDER`] (or is not in it):
    /// an assembly that would contradict the documented order is a bug.
    fn wrap(&mut self, name: &'static str, wrap: impl FnOnce(SharedCache) -> SharedCache) {
        let rank = |layer: &str| LAYER_ORDER.iter().position(|l| *l == layer);
        let outer = self.layers.first().copied();
        assert!(
            rank(name).is_some() && rank(name) < outer.and_then(rank),
            "layer order: {name} cannot wrap {outer:?} (LAYER_ORDER is {LAYER_ORDER:?})"
        );
        self.cache = wrap(self.cache.clone());
        self.layers.insert(0, name);
    }
}

// ---- compute: get_or_compute, over everything (monitoring included) ----

/// The compute layer, always: [`BuiltCache::get_or_compute`] with the `compute` settings.
///
/// Outermost, so that every write through [`BuiltCache::cache`] (the application's, the admin
/// API's, the AI cache's) passes it and supersedes the computations of the keys it changes. Above
/// monitoring, so that the monitor measures what the computations cost the backend (each read and
/// store a `get_or_compute` makes, the second look of a computing caller and the polls of one
/// waiting for another process included) and never a computation's own time: a two-second model
/// call would otherwise be recorded as a two-second `get`. What the callers of `get_or_compute`
/// saw (answered from the cache, computed, coalesced, waited for another process) is counted by
/// the layer itself ([`BuiltCache::compute_status`]), next to the monitor's figures in the admin
/// API.
fn compute(config: &CacheConfig, mut stack: Stack) -> Result<(Stack, Arc<ComputeCache<SharedCache>>)> {
    let mut builder = ComputeCache::builder(stack.cache.clone()).config(config.compute);
    if !config.compute.freshness.stale_if_error.is_zero() {
        // Stale-if-error when Redis cannot be read, or the failover's fallback starts empty:
        // this process's copies of what it computed and read.
        builder = builder.local_copies(Arc::new(memory(config)?));
    }
    let compute = Arc::new(builder.build()?);
    stack.wrap("compute", |_| compute.clone());
    Ok((stack, compute))
}

// ---- monitoring: measures what callers see, including the cost of every layer below ----

/// The monitoring layer, when `enable_monitoring` is on.
fn monitoring(config: &CacheConfig, mut stack: Stack) -> Result<Stack> {
    if !config.enable_monitoring {
        return Ok(stack);
    }
    let layer = MonitoringLayer::new(MonitorConfig::default())?;
    stack.monitor = Some(layer.monitor());
    let mut monitored = None;
    stack.wrap("monitoring", |cache| {
        let wrapped = Arc::new(cache.layer(layer));
        monitored = Some(wrapped.clone());
        wrapped
    });
    stack.monitored = monitored;
    Ok(stack)
}

// ---- compression: plaintext, above the threshold (ciphertext does not compress) ----

/// The compression layer, with the `compression` feature: zstd at `compression_level` above
/// `compression_threshold` bytes, decompressing at most `max_decompressed_size`.
fn compression(config: &CacheConfig, mut stack: Stack) -> Result<Stack> {
    #[cfg(feature = "compression")]
    {
        let layer = stratacache_compression::CompressionLayer::builder()
            .threshold(config.compression_threshold)
            .level(config.compression_level)
            .max_decompressed_size(config.max_decompressed_size)
            .build()?;
        stack.wrap("compression", |cache| Arc::new(cache.layer(layer)));
    }
    #[cfg(not(feature = "compression"))]
    let _ = (config, &mut stack);
    Ok(stack)
}

// ---- encryption: seals values with the final key as associated data ----

/// The encryption layer, when a key is configured: the key ring and the plaintext policy.
#[cfg(feature = "crypto")]
fn encryption(config: &CacheConfig, mut stack: Stack) -> Result<Stack> {
    use stratacache_crypto::{EncryptionLayer, PlaintextPolicy as Policy};

    use crate::config::PlaintextPolicy;

    let Some(ring) = config.key_ring()? else {
        return Ok(stack);
    };
    let policy = match config.encryption.plaintext_policy {
        PlaintextPolicy::Reject => Policy::Reject,
        PlaintextPolicy::Migrate => {
            tracing::warn!(
                "REDIS_ENCRYPTION_PLAINTEXT=migrate: values stored unencrypted are returned as \
                 they are (anyone who can write to the backend can choose what is read); seal \
                 them with `cargo xtask reencrypt --seal-plaintext` and switch back to reject"
            );
            Policy::Migrate
        }
    };
    tracing::info!(
        primary = %ring.primary_id(),
        older_keys = ring.key_count() - 1,
        "encryption on: key ring loaded from REDIS_ENCRYPTION_KEY and REDIS_ENCRYPTION_KEYS"
    );
    let layer = EncryptionLayer::new(ring).with_plaintext_policy(policy);
    stack.wrap("encryption", |cache| Arc::new(cache.layer(layer)));
    Ok(stack)
}

/// Without the `crypto` feature there is no encryption layer: [`CacheConfig::validate`] refused a
/// configured key before anything was built.
#[cfg(not(feature = "crypto"))]
fn encryption(config: &CacheConfig, stack: Stack) -> Result<Stack> {
    debug_assert!(
        !config.encryption.is_configured(),
        "validate() refuses a key without crypto"
    );
    Ok(stack)
}

// ---- the backend: a failover in front of Redis (tiered or not), or a memory cache ----

/// The backend: memory only (no Redis URL, or the `disabled` preset), else Redis behind a
/// failover.
async fn backend(config: &CacheConfig) -> Result<Stack> {
    if config.is_memory_only() {
        if config.preset == Preset::Disabled && config.redis_url.is_some() {
            tracing::warn!("the `disabled` preset is memory-only: the Redis URL is not used");
        }
        return memory_only(config);
    }
    failover(config).await
}

// ---- failover: Redis, and the memory cache that serves while Redis does not ----

/// A failover in front of [`primary`], with a memory fallback. When Redis cannot be reached at
/// start (a temporary error, and `fail_on_connection_error` off), the cache starts on its
/// fallback, says why in [`BuiltCache::degraded`], and connects in the background.
#[cfg(feature = "redis")]
async fn failover(config: &CacheConfig) -> Result<Stack> {
    use stratacache_redis::RedisCache;

    let Some(redis_config) = config.redis_config() else {
        return memory_only(config);
    };
    let (kind, layers) = if config.enable_l1_cache {
        (Backend::Tiered, vec!["failover", "tiered", "memory", "redis"])
    } else {
        (Backend::Redis, vec!["failover", "redis"])
    };
    let fallback: SharedCache = Arc::new(memory(config)?);
    let fleet = Arc::new(crate::fleet::Fleet::new(
        config.fleet_invalidation,
        config.fleet_invalidation && config.enable_l1_cache,
        config.fleet_disconnected_l1_ttl,
    ));
    // A probe must be allowed as long as an operation: with a shorter one, a Redis answering
    // within `command_timeout` would serve operations but never pass the probe, and an open
    // circuit would never close.
    let defaults = crate::failover::FailoverConfig::default();
    let operation = redis_config.command_timeout + redis_config.retry.budget;
    let failover_config = defaults.with_probe_timeout(defaults.probe_timeout.max(operation));
    let (failover, redis, degraded) = match RedisCache::connect(redis_config.clone()).await {
        Ok(redis) => {
            let primary = primary(config, redis.clone(), &fleet)?;
            let failover = FailoverCache::new(primary, fallback, failover_config)?;
            (failover, Some(redis), None)
        }
        Err(e) if e.kind().is_temporary() && !config.fail_on_connection_error => {
            let reason = format!(
                "Redis at {} cannot be reached ({e}); the {} runs on its memory fallback and \
                 returns to Redis when it answers",
                redis_config.url,
                kind.describe()
            );
            tracing::warn!("{reason}");
            let (config, fleet) = (config.clone(), fleet.clone());
            let connector = move || {
                let (redis_config, config, fleet) = (redis_config.clone(), config.clone(), fleet.clone());
                async move { primary(&config, RedisCache::connect(redis_config).await?, &fleet) }
            };
            let failover = FailoverCache::disconnected(connector, fallback, failover_config)?;
            (failover, None, Some(reason))
        }
        Err(e) => {
            return Err(Error::new(
                e.kind(),
                format!(
                    "cannot start the {} on Redis at {}: {e}",
                    kind.describe(),
                    redis_config.url
                ),
            ));
        }
    };
    let failover = Arc::new(failover);
    let mut stack = Stack::backend(failover.clone(), kind, layers);
    stack.failover = Some(failover);
    stack.redis = redis;
    stack.fleet = Some(fleet);
    stack.degraded = degraded;
    Ok(stack)
}

/// Without the `redis` feature, a Redis URL is an error.
#[cfg(not(feature = "redis"))]
async fn failover(config: &CacheConfig) -> Result<Stack> {
    let _ = config;
    Err(Error::configuration(
        "a Redis URL is configured but stratacache-factory was built without the `redis` feature: \
         enable it (features = [\"redis\"]) or unset CACHE_REDIS_URL / redis_url",
    ))
}

// ---- tiered: a memory tier in front of Redis, when `enable_l1_cache` is on ----

/// The failover's primary: Redis, with the memory tier in front when `enable_l1_cache` is on
/// (promoting on read unless the AI cache turned smart promotion off), handed to `fleet`, which
/// subscribes the tier to other instances' changes when fleet invalidation is on.
#[cfg(feature = "redis")]
fn primary(
    config: &CacheConfig,
    redis: stratacache_redis::RedisCache,
    fleet: &crate::fleet::Fleet,
) -> Result<SharedCache> {
    if !config.enable_l1_cache {
        fleet.attach(&redis, None);
        return Ok(Arc::new(redis));
    }
    let promote = !config.enable_ai_cache || config.ai.enable_smart_promotion;
    let tiered = stratacache_tiered::TieredConfig::default()
        .with_default_ttl(Some(config.default_ttl))
        .with_promote_on_read(promote);
    let tier = Arc::new(stratacache_tiered::TieredCache::with_config(
        memory(config)?,
        redis.clone(),
        tiered,
    )?);
    fleet.attach(&redis, Some(&tier));
    Ok(tier)
}

// ---- memory: the memory-only backend, the L1 tier and the failover's fallback ----

/// The memory-only backend.
fn memory_only(config: &CacheConfig) -> Result<Stack> {
    Ok(Stack::backend(
        Arc::new(memory(config)?),
        Backend::Memory,
        vec!["memory"],
    ))
}

/// A memory cache of `memory_cache_size` entries living `default_ttl`.
fn memory(config: &CacheConfig) -> Result<MemoryCache> {
    MemoryCache::builder()
        .max_entries(config.memory_cache_size)
        .default_ttl(config.default_ttl)
        .build()
}

// ---- what the assembly warns about ----

/// Loud warnings for settings that weaken security.
fn warn_about_security(config: &CacheConfig) {
    if config.is_memory_only() {
        return;
    }
    if config.insecure_allow_plaintext {
        tracing::error!(
            environment = config.environment.as_str(),
            tls = config.uses_tls(),
            authentication = config.has_authentication(),
            "REDIS_INSECURE_ALLOW_PLAINTEXT is set: the authentication and TLS requirements of \
             this environment are waived; never use this outside local development"
        );
    }
    if config.uses_tls() && !config.verify_certificates {
        tracing::warn!("REDIS_VERIFY_CERTIFICATES is off: any server certificate is accepted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "layer order: encryption cannot wrap Some(\"compression\")")]
    fn a_layer_out_of_order_is_refused() {
        let memory: SharedCache = Arc::new(MemoryCache::new(10).unwrap());
        let mut stack = Stack::backend(memory, Backend::Memory, vec!["memory"]);
        stack.wrap("compression", |cache| cache);
        stack.wrap("encryption", |cache| cache);
    }

    #[test]
    fn layers_in_order_are_accepted() {
        let memory: SharedCache = Arc::new(MemoryCache::new(10).unwrap());
        let mut stack = Stack::backend(memory, Backend::Memory, vec!["memory"]);
        stack.wrap("encryption", |cache| cache);
        stack.wrap("monitoring", |cache| cache);
        assert_eq!(stack.layers, ["monitoring", "encryption", "memory"]);
    }
}
