//! The factory's decompression limit (`max_decompressed_size`, 8 MiB by default) reaches the
//! compression layer: over one real Redis, a compressed value above a reader's limit is a clear
//! error, a reader with a larger limit reads it, and values above the limit are written raw so
//! that every reader gets them back.

#![cfg(all(feature = "compression", feature = "redis"))]
#![allow(clippy::unwrap_used)]

use stratacache_compression::format::{self, Format};
use stratacache_core::{Bytes, Cache, ErrorKind, Ttl};
use stratacache_factory::config::DEFAULT_MAX_DECOMPRESSED_SIZE;
use stratacache_factory::{BuiltCache, CacheConfig, CacheFactory};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};
use stratacache_testkit::redis_server_or_skip;

const MIB: usize = 1024 * 1024;

/// 10 MiB of text: compressible, above the default limit.
fn ten_mib() -> Bytes {
    Bytes::from("stratacache ".repeat(10 * MIB / 12 + 1)[..10 * MIB].to_owned())
}

/// A testing cache over `server` in `namespace` with the `CACHE_CUSTOM_CONFIG` overrides `json`.
async fn cache(server: &RedisServer, namespace: &str, json: Option<String>) -> BuiltCache {
    let vars = [
        ("ENVIRONMENT", Some("testing".to_owned())),
        ("CACHE_REDIS_URL", Some(server.url().to_owned())),
        ("CACHE_CUSTOM_CONFIG", json),
    ];
    let mut config =
        CacheConfig::from_env_with(|name| vars.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.clone()))
            .unwrap();
    config.namespace = namespace.to_owned();
    config.redis_database = Some(15);
    config.enable_l1_cache = false;
    CacheFactory::from_config(config).await.unwrap()
}

/// The format of what Redis holds for `key`.
async fn stored_format(server: &RedisServer, namespace: &str, key: &str) -> Format {
    let mut raw = RedisConfig::new(format!("{}/15", server.url()));
    raw.namespace = namespace.to_owned();
    let redis = RedisCache::connect(raw).await.unwrap();
    let stored = redis.get(key).await.unwrap().unwrap();
    redis.close();
    format::inspect(&stored).unwrap().unwrap().format
}

#[tokio::test]
async fn the_decompression_limit_is_a_factory_setting() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let namespace = unique_namespace("decompression-limit");
    assert_eq!(
        DEFAULT_MAX_DECOMPRESSED_SIZE,
        stratacache_compression::DEFAULT_MAX_DECOMPRESSED_SIZE
    );
    let default = cache(&server, &namespace, None).await;
    assert_eq!(default.config.max_decompressed_size, 8 * MIB);
    let lenient = cache(
        &server,
        &namespace,
        Some(format!(r#"{{"max_decompressed_size": {}}}"#, 32 * MIB)),
    )
    .await;
    assert_eq!(lenient.config.max_decompressed_size, 32 * MIB);

    // Written under a 32 MiB limit: stored compressed, a few KiB in Redis.
    lenient.cache.set("doc", ten_mib(), Ttl::secs(600)).await.unwrap();
    assert_eq!(stored_format(&server, &namespace, "doc").await, Format::Zstd);
    assert_eq!(lenient.cache.get("doc").await.unwrap(), Some(ten_mib()));
    // The default limit refuses it, naming the sizes, before allocating 10 MiB.
    let err = default.cache.get("doc").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization, "{err}");
    assert!(
        err.message()
            .contains("declares 10485760 bytes, above max_decompressed_size = 8388608 bytes"),
        "{err}"
    );

    // Written under the default limit: stored raw, read back by both.
    default.cache.set("doc", ten_mib(), Ttl::secs(600)).await.unwrap();
    assert_eq!(stored_format(&server, &namespace, "doc").await, Format::Raw);
    assert_eq!(default.cache.get("doc").await.unwrap(), Some(ten_mib()));
    assert_eq!(lenient.cache.get("doc").await.unwrap(), Some(ten_mib()));

    for built in [default, lenient] {
        built.close().await.unwrap();
    }
}
