//! Shared by the Redis integration tests: a `RedisConfig` pointing at a fixture server.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use stratacache_redis::{RedisCache, RedisConfig, Secret};
use stratacache_testkit::redis::{RedisServer, unique_namespace};

/// A configuration for `server` in its mode: URL, credentials and TLS files, a fresh namespace.
pub(crate) fn config_for(server: &RedisServer) -> RedisConfig {
    let mut config = RedisConfig::new(server.url());
    config.namespace = unique_namespace("redis");
    config.security.password = server.password().map(Secret::new);
    config.security.username = server.username().map(str::to_owned);
    if let Some(tls) = server.tls() {
        config.security.tls.ca_file = Some(tls.ca_cert.clone());
        config.security.tls.client_cert_file.clone_from(&tls.client_cert);
        config.security.tls.client_key_file.clone_from(&tls.client_key);
    }
    config
}

/// Fast-failing settings for failure tests: short timeouts, no retries.
pub(crate) fn impatient(mut config: RedisConfig) -> RedisConfig {
    config.connect_timeout = Duration::from_millis(500);
    config.command_timeout = Duration::from_millis(500);
    config.retry.max_retries = 0;
    config
}

/// [`config_for`] with a reply deadline for suites that check behaviour, not latency, under
/// hundreds of concurrent tasks on a shared, loaded machine (the default of 250 ms is a
/// production deadline; the fault tests check it).
pub(crate) fn patient_config_for(server: &RedisServer) -> RedisConfig {
    let mut config = config_for(server);
    config.command_timeout = Duration::from_secs(3);
    config
}

/// A plain redis-rs connection to `server`, beside the cache under test (to count its clients or
/// commands, say).
pub(crate) async fn observer(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

pub(crate) async fn connect(config: RedisConfig) -> RedisCache {
    RedisCache::connect(config).await.unwrap()
}
