//! [`CacheFactory`]: from a [`CacheConfig`] to an assembled, layered [`SharedCache`].

use std::sync::Arc;
use std::time::Duration;

use stratacache_compute::ComputeCache;
use stratacache_core::{BackendServer, Cache, Result, SharedCache};
use stratacache_monitor::{Monitor, Monitored};

use crate::config::CacheConfig;
use crate::failover::FailoverCache;

/// What a built cache stores its entries in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// An in-process memory cache only.
    Memory,
    /// Redis, behind a failover to memory.
    Redis,
    /// A memory tier in front of Redis, behind a failover to memory.
    Tiered,
}

impl Backend {
    /// `"memory"`, `"redis"` or `"tiered"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis => "redis",
            Self::Tiered => "tiered",
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Memory => "memory cache",
            Self::Redis => "Redis cache",
            Self::Tiered => "tiered (memory over Redis) cache",
        }
    }
}

/// A cache assembled by the [`CacheFactory`], with what the application and the admin API need
/// to observe it.
#[derive(Clone)]
pub struct BuiltCache {
    /// The assembled stack, outermost layer first as listed in [`layers`](Self::layers): the
    /// [`compute`](Self::compute) layer, so that its writes supersede computations in flight.
    pub cache: SharedCache,
    /// The outermost layer with its type: [`get_or_compute`](Self::get_or_compute) and its
    /// variants, [`ComputeCache::compute_stats`], [`computing`](ComputeCache::computing) and
    /// [`waiting`](ComputeCache::waiting). [`cache`](Self::cache) is this same layer.
    pub compute: Arc<ComputeCache<SharedCache>>,
    /// The configuration it was built from.
    pub config: CacheConfig,
    /// The monitor, when `enable_monitoring` is on.
    pub monitor: Option<Arc<Monitor>>,
    /// The outermost layer with its type, when monitoring is on (for invalidations with context).
    pub(crate) monitored: Option<Arc<Monitored<SharedCache>>>,
    /// The configured backend.
    pub backend: Backend,
    /// The layers, outermost first (e.g. `["compute", "monitoring", "compression",
    /// "encryption", "failover", "tiered", "memory", "redis"]`).
    pub layers: Vec<&'static str>,
    /// Why the cache started on its memory fallback, when Redis could not be reached at start.
    pub degraded: Option<String>,
    /// The failover in front of Redis, for its state and counters.
    pub failover: Option<Arc<FailoverCache>>,
    /// The Redis cache, when connected at start (for `status()` and shutdown).
    #[cfg(feature = "redis")]
    pub redis: Option<stratacache_redis::RedisCache>,
    /// Fleet invalidation, in front of Redis (see [`fleet_status`](Self::fleet_status)).
    #[cfg(feature = "redis")]
    pub(crate) fleet: Option<Arc<crate::fleet::Fleet>>,
    /// How long assembling the stack took (connecting included).
    pub assembly_time: Duration,
}

impl std::fmt::Debug for BuiltCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltCache")
            .field("backend", &self.backend)
            .field("layers", &self.layers)
            .field("degraded", &self.degraded)
            .field("config", &self.config)
            .field("assembly_time", &self.assembly_time)
            .finish_non_exhaustive()
    }
}

impl BuiltCache {
    /// A [`Closer`](crate::Closer) that [`close`](Self::close)s this cache, for
    /// [`CacheRegistry::register_with_closer`](crate::CacheRegistry::register_with_closer).
    pub fn closer(&self) -> crate::Closer {
        let built = self.clone();
        crate::Closer::new(move || async move { built.close().await })
    }

    /// [`invalidate_pattern`](stratacache_core::Cache::invalidate_pattern), recording `context`
    /// (why, e.g. `"user_update"`) with the invalidation when monitoring is on.
    ///
    /// # Errors
    ///
    /// Those of the cache.
    pub async fn invalidate_pattern_with_context(&self, pattern: &str, context: &str) -> Result<u64> {
        match &self.monitored {
            Some(monitored) => monitored.invalidate_pattern_with_context(pattern, context).await,
            None => self.cache.invalidate_pattern(pattern).await,
        }
    }

    /// What fleet invalidation is doing: whether this cache announces its changes, whether its
    /// memory tier listens for other instances' changes and is connected, and the counters.
    /// `None` for a memory-only cache (and without the `redis` feature).
    pub fn fleet_status(&self) -> Option<crate::FleetStatus> {
        #[cfg(feature = "redis")]
        return self.fleet.as_ref().map(|fleet| fleet.status());
        #[cfg(not(feature = "redis"))]
        None
    }

    /// [`invalidate_tag`](stratacache_core::TagsExt::invalidate_tag), recording `context` with
    /// the invalidation when monitoring is on (as the pattern `tag:<tag>`).
    ///
    /// # Errors
    ///
    /// An invalid tag; those of the cache.
    pub async fn invalidate_tag_with_context(&self, tag: &str, context: &str) -> Result<u64> {
        stratacache_core::validate_tag(tag)?;
        let removed = match &self.monitored {
            Some(monitored) => monitored.remove_tagged_with_context(tag, context).await?,
            None => self.cache.remove_tagged(tag).await?,
        };
        Ok(removed.len() as u64)
    }

    /// Whether the cache started on its memory fallback.
    pub fn is_degraded(&self) -> bool {
        self.degraded.is_some()
    }

    /// The server behind the cache, for status pages: the Redis connection made at start.
    /// `None` for a memory cache, after a degraded start (the connection the failover makes
    /// later is not reported), and always without the `redis` feature.
    pub fn server(&self) -> Option<&dyn BackendServer> {
        #[cfg(feature = "redis")]
        return self.redis.as_ref().map(|redis| redis as &dyn BackendServer);
        #[cfg(not(feature = "redis"))]
        None
    }

    /// Closes everything the cache opened, through [`Cache::close`](stratacache_core::Cache::close)
    /// on the whole stack: the failover's background task (probes, reconnection, replay) stops,
    /// a connection attempt in progress is abandoned, the Redis connections (the one connected
    /// at start or by the background task later) are closed, and the memory tiers drop their
    /// entries. Afterwards every operation of [`cache`](Self::cache) (and of every clone of it)
    /// fails at once with an [`ErrorKind::Closed`](stratacache_core::ErrorKind::Closed) error:
    /// nothing is served by the memory fallback any more. Closing twice does nothing more.
    ///
    /// # Errors
    ///
    /// The first error of a layer that could not release what it held (none of the built-in
    /// ones fails today); the rest is closed all the same.
    pub async fn close(&self) -> Result<()> {
        #[cfg(feature = "redis")]
        if let Some(fleet) = &self.fleet {
            fleet.stop();
        }
        let closed = self.cache.close().await;
        // Already closed through the stack; for a stack that would not reach it.
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            redis.close();
        }
        closed
    }
}

/// Builds caches from configurations: the presets' entry points, a [`CacheConfig`], or the
/// environment.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
/// use stratacache_core::{Cache, Ttl};
/// use stratacache_factory::CacheFactory;
///
/// // No Redis URL: the embedded memory default.
/// let built = CacheFactory::for_web_app(None).await?;
/// built.cache.set("greeting", "hello".into(), Ttl::Default).await?;
/// assert_eq!(built.cache.get("greeting").await?.as_deref(), Some(&b"hello"[..]));
/// assert_eq!(built.layers, ["compute", "monitoring", "compression", "memory"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheFactory;

impl CacheFactory {
    /// A web application's cache: TTL 30 min, a 200-entry memory tier, compression above 2000
    /// bytes at level 6, namespace `web`; memory only when `redis_url` is `None`.
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub async fn for_web_app(redis_url: Option<&str>) -> Result<BuiltCache> {
        let mut config = CacheConfig::web_app();
        config.redis_url = redis_url.map(stratacache_core::RedisUrl::from);
        Self::from_config(config).await
    }

    /// An AI application's cache: TTL 1 h, a 100-entry memory tier, compression above 1000 bytes
    /// at level 6, text hash threshold 500, the `ai-development` operation TTLs, namespace `ai`.
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub async fn for_ai_app(redis_url: Option<&str>) -> Result<BuiltCache> {
        let mut config = CacheConfig::ai_app();
        config.redis_url = redis_url.map(stratacache_core::RedisUrl::from);
        Self::from_config(config).await
    }

    /// A cache for tests: TTL 60 s, no memory tier in front of Redis, compression level 1,
    /// Redis database 15 (isolated from applications' data), namespace `test`, environment
    /// `testing`.
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub async fn for_testing(redis_url: Option<&str>) -> Result<BuiltCache> {
        let mut config = CacheConfig::testing();
        config.redis_url = redis_url.map(stratacache_core::RedisUrl::from);
        Self::from_config(config).await
    }

    /// The cache of [`CacheConfig::from_env`].
    ///
    /// # Errors
    ///
    /// The configuration's problems (all of them), then as [`from_config`](Self::from_config).
    pub async fn from_env() -> Result<BuiltCache> {
        Self::from_config(CacheConfig::from_env()?).await
    }

    /// Assembles the stack of `config`, outermost first ([`LAYER_ORDER`](crate::LAYER_ORDER)):
    /// compute (always: [`BuiltCache::get_or_compute`] with the `compute` settings), monitoring
    /// (when enabled), compression, encryption (when a key is configured), then the backend: a
    /// memory cache, or a failover in front of Redis (with a memory tier unless
    /// `enable_l1_cache` is off).
    ///
    /// When Redis cannot be reached (connection refused or timed out), the cache starts on its
    /// memory fallback, says so in [`BuiltCache::degraded`] and a warning, and returns to Redis
    /// by itself once Redis answers, unless `fail_on_connection_error` is set.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) for an invalid
    /// configuration (every problem listed) or an encryption key without the `crypto` feature;
    /// with `fail_on_connection_error`, the connection error naming the URL and the cache type;
    /// authentication and TLS failures always.
    pub async fn from_config(config: CacheConfig) -> Result<BuiltCache> {
        crate::assembly::assemble(config).await
    }
}
