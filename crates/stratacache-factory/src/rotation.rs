//! Key rotation configured like the factory: the pass behind `cargo xtask reencrypt`.

use stratacache_core::{Error, Result};
use stratacache_crypto::{ReencryptOptions, ReencryptReport, reencrypt};
use stratacache_redis::RedisCache;

use crate::config::CacheConfig;

/// Re-seals every entry of the configured Redis namespace under the primary encryption key
/// (see [`stratacache_crypto::reencrypt`]), with the configuration
/// [`CacheConfig::from_env_with`] resolves from `lookup`: the same server, database, namespace,
/// credentials and TLS settings as a cache the factory builds from that environment
/// (`CACHE_CUSTOM_CONFIG` included). `namespace` overrides the configured namespace.
///
/// This is what `cargo xtask reencrypt` runs, with the process environment.
///
/// # Errors
///
/// - [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration): the
///   configuration's problems (all of them), a memory-only configuration (no `CACHE_REDIS_URL`,
///   or the `disabled` preset), or no `REDIS_ENCRYPTION_KEY`.
/// - Connection and backend failures; entries re-sealed before one are kept, and running the
///   pass again resumes (entries already current are skipped).
pub async fn reencrypt_from_env_with(
    lookup: impl Fn(&str) -> Option<String>,
    namespace: Option<&str>,
    options: &ReencryptOptions,
) -> Result<ReencryptReport> {
    let config = CacheConfig::from_env_with(lookup)?;
    let Some(mut redis) = config.redis_config().filter(|_| !config.is_memory_only()) else {
        return Err(Error::configuration(
            "the configuration is memory-only (CACHE_REDIS_URL unset, or CACHE_PRESET=disabled): \
             there is no Redis namespace to re-encrypt",
        ));
    };
    let Some(ring) = config.key_ring()? else {
        return Err(Error::configuration(
            "REDIS_ENCRYPTION_KEY is not set: there is no key to re-encrypt under",
        ));
    };
    if let Some(namespace) = namespace {
        namespace.clone_into(&mut redis.namespace);
    }
    let cache = RedisCache::connect(redis).await?;
    let report = reencrypt(&cache, &ring, options).await;
    cache.close();
    report
}

/// [`reencrypt_from_env_with`] with the process environment.
///
/// # Errors
///
/// As [`reencrypt_from_env_with`].
pub async fn reencrypt_from_env(
    namespace: Option<&str>,
    options: &ReencryptOptions,
) -> Result<ReencryptReport> {
    reencrypt_from_env_with(|name| std::env::var(name).ok(), namespace, options).await
}
