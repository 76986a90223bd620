//! Shared by the end-to-end tests: a `RedisConfig` for a fixture server.

use stratacache_redis::{RedisConfig, Secret};
use stratacache_testkit::redis::{RedisServer, unique_namespace};

/// A configuration for `server` in its mode (URL, credentials, TLS files) with a fresh namespace
/// labelled `label`.
pub(crate) fn redis_config(server: &RedisServer, label: &str) -> RedisConfig {
    let mut config = RedisConfig::new(server.url());
    config.namespace = unique_namespace(label);
    config.security.password = server.password().map(Secret::new);
    config.security.username = server.username().map(str::to_owned);
    if let Some(tls) = server.tls() {
        config.security.tls.ca_file = Some(tls.ca_cert.clone());
        config.security.tls.client_cert_file.clone_from(&tls.client_cert);
        config.security.tls.client_key_file.clone_from(&tls.client_key);
    }
    config
}
