//! Turning encryption on over a Redis cache that already holds unencrypted entries, from the
//! factory's settings: the plaintext policy (`REDIS_ENCRYPTION_PLAINTEXT`,
//! `encryption_plaintext_policy`) reaches the encryption layer, `migrate` reads the old entries and
//! seals every write, `reject` refuses them, and a wrong key is an error under either policy.

#![cfg(all(feature = "crypto", feature = "compression", feature = "redis"))]
#![allow(clippy::unwrap_used)]

use serde_json::json;
use stratacache_core::{Bytes, Cache, CacheStats, EncryptionStats, Error, ErrorKind, Ttl};
use stratacache_factory::{BuiltCache, CacheConfig, CacheFactory, PlaintextPolicy, Secret};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};
use stratacache_testkit::redis_server_or_skip;

/// A compressible value of `len` bytes (stored compressed by the factory's layer).
fn compressible(len: usize) -> Bytes {
    Bytes::from("stratacache ".repeat(len / 12 + 1)[..len].to_owned())
}

/// The testing cache's settings over `server`, in `namespace` (database 15, no memory tier: every
/// read goes to Redis).
fn config(server: &RedisServer, namespace: &str) -> CacheConfig {
    let mut config = CacheConfig::testing();
    config.redis_url = Some(server.url().into());
    config.namespace = namespace.to_owned();
    config
}

/// `config` with the encryption key `key` and `policy`.
fn encrypted(server: &RedisServer, namespace: &str, key: &str, policy: PlaintextPolicy) -> CacheConfig {
    let mut config = config(server, namespace);
    config.encryption.key = Some(Secret::new(key));
    config.encryption.plaintext_policy = policy;
    config
}

/// The bytes Redis holds for `key` in `namespace`, read without any layer.
async fn stored(server: &RedisServer, namespace: &str, key: &str) -> Bytes {
    let mut raw = RedisConfig::new(format!("{}/15", server.url()));
    raw.namespace = namespace.to_owned();
    let redis = RedisCache::connect(raw).await.unwrap();
    let value = redis.get(key).await.unwrap().unwrap();
    redis.close();
    value
}

fn encryption_stats(stats: &CacheStats) -> EncryptionStats {
    fn find(stats: &CacheStats) -> Option<EncryptionStats> {
        stats.encryption.or_else(|| stats.inner.iter().find_map(find))
    }
    find(stats).expect("the stack has an encryption layer")
}

fn assert_decryption(result: stratacache_core::Result<Option<Bytes>>, needle: &str) -> Error {
    let err = match result {
        Ok(value) => panic!("expected a decryption error, got the value {value:?}"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::Decryption, "{err}");
    assert!(err.message().contains(needle), "{needle:?} missing from {err}");
    err
}

/// Writes the entries of a cache that ran without encryption.
async fn unencrypted_entries(server: &RedisServer, namespace: &str) -> BuiltCache {
    let plain = CacheFactory::from_config(config(server, namespace))
        .await
        .unwrap();
    assert!(!plain.layers.contains(&"encryption"), "{:?}", plain.layers);
    plain
        .cache
        .set("small", Bytes::from_static(b"hello"), Ttl::secs(600))
        .await
        .unwrap();
    plain
        .cache
        .set("large", compressible(20_000), Ttl::secs(600))
        .await
        .unwrap();
    plain
}

#[tokio::test]
async fn migrate_from_the_environment_reads_old_entries_and_seals_writes() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let namespace = unique_namespace("plaintext-migrate");
    let plain = unencrypted_entries(&server, &namespace).await;

    // The policy comes from the environment, as the server binary reads it.
    let key = stratacache_crypto::generate_key();
    let overrides = json!({"namespace": namespace, "redis_database": 15, "enable_l1_cache": false});
    let vars = [
        ("ENVIRONMENT", "testing".to_owned()),
        ("CACHE_REDIS_URL", server.url().to_owned()),
        ("REDIS_ENCRYPTION_KEY", key.clone()),
        ("REDIS_ENCRYPTION_PLAINTEXT", "migrate".to_owned()),
        ("CACHE_CUSTOM_CONFIG", overrides.to_string()),
    ];
    let config =
        CacheConfig::from_env_with(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
            .unwrap();
    assert_eq!(config.encryption.plaintext_policy, PlaintextPolicy::Migrate);
    let migrating = CacheFactory::from_config(config).await.unwrap();
    assert_eq!(
        migrating.layers,
        [
            "compute",
            "monitoring",
            "compression",
            "encryption",
            "failover",
            "redis"
        ]
    );

    // The old entries are read as they were written, compressed or not.
    assert_eq!(
        migrating.cache.get("small").await.unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        migrating.cache.get("large").await.unwrap(),
        Some(compressible(20_000))
    );
    assert_eq!(
        encryption_stats(&migrating.cache.stats().await).legacy_plaintext_reads,
        2
    );

    // A write is sealed: Redis holds an envelope (magic 0xC0), which the cache reads back and
    // the unencrypted cache cannot read any more.
    migrating
        .cache
        .set("small", Bytes::from_static(b"hello again"), Ttl::secs(600))
        .await
        .unwrap();
    let raw = stored(&server, &namespace, "small").await;
    assert_eq!(raw[0], 0xC0, "an envelope, not plaintext");
    assert!(
        !raw.windows(5).any(|w| w == b"hello"),
        "the value is not in the clear"
    );
    assert_eq!(
        migrating.cache.get("small").await.unwrap().as_deref(),
        Some(&b"hello again"[..])
    );
    let stats = encryption_stats(&migrating.cache.stats().await);
    assert_eq!(
        (stats.encrypted, stats.decrypted, stats.legacy_plaintext_reads),
        (1, 1, 2)
    );
    assert!(plain.cache.get("small").await.is_err());

    // A wrong key is still an error under migrate: an envelope is never passed off as plaintext.
    let wrong = CacheFactory::from_config(encrypted(
        &server,
        &namespace,
        &stratacache_crypto::generate_key(),
        PlaintextPolicy::Migrate,
    ))
    .await
    .unwrap();
    let err = assert_decryption(wrong.cache.get("small").await, "not in the key ring");
    assert!(!err.to_string().contains(&key), "{err}");
    assert!(wrong.cache.get_many(&["large", "small"]).await.is_err());

    for built in [plain, migrating, wrong] {
        built.close().await.unwrap();
    }
}

#[tokio::test]
async fn reject_reports_old_entries_as_errors() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let namespace = unique_namespace("plaintext-reject");
    let plain = unencrypted_entries(&server, &namespace).await;
    let key = stratacache_crypto::generate_key();

    // The default policy: plaintext is an error, never returned.
    let mut config = config(&server, &namespace);
    config.encryption.key = Some(Secret::new(key.clone()));
    assert_eq!(config.encryption.plaintext_policy, PlaintextPolicy::Reject);
    let rejecting = CacheFactory::from_config(config).await.unwrap();
    for entry in ["small", "large"] {
        let err = assert_decryption(
            rejecting.cache.get(entry).await,
            "the value is not an encryption envelope",
        );
        assert!(
            err.message().contains("REDIS_ENCRYPTION_PLAINTEXT=migrate"),
            "the way out is named: {err}"
        );
    }
    assert!(rejecting.cache.get_many(&["small"]).await.is_err());
    assert!(rejecting.cache.get_with_ttl("large").await.is_err());
    assert_eq!(
        encryption_stats(&rejecting.cache.stats().await).failed_not_envelope,
        4
    );
    // The entries are left as they were: a migrating cache still reads them.
    let migrating = CacheFactory::from_config(encrypted(&server, &namespace, &key, PlaintextPolicy::Migrate))
        .await
        .unwrap();
    assert_eq!(
        migrating.cache.get("large").await.unwrap(),
        Some(compressible(20_000))
    );
    // What the migrating cache writes, the rejecting one reads.
    migrating
        .cache
        .set("large", compressible(30_000), Ttl::secs(600))
        .await
        .unwrap();
    assert_eq!(
        rejecting.cache.get("large").await.unwrap(),
        Some(compressible(30_000))
    );

    for built in [plain, rejecting, migrating] {
        built.close().await.unwrap();
    }
}
