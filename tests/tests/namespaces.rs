//! End-to-end: namespaces never nest. Two namespaces sharing a prefix on one real Redis stay
//! apart for every operation that walks a namespace, and a `:` (which would nest them) is
//! rejected with one message by the Redis configuration, the factory and the keys crate.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use stratacache_core::LayerExt;
use stratacache_core::{Bytes, Cache, ScanKeys, Ttl, validate_namespace};
use stratacache_crypto::{EncryptionKey, EncryptionLayer, KeyRing, ReencryptOptions, reencrypt};
use stratacache_factory::CacheConfig;
use stratacache_keys::Namespace;
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

const KEYS: [&str; 3] = ["user:1", "user:2", "item:1"];

async fn fill(cache: &dyn Cache) {
    for key in KEYS {
        cache
            .set(key, Bytes::from(key.to_owned()), Ttl::secs(300))
            .await
            .unwrap();
    }
}

async fn scanned(cache: &RedisCache) -> BTreeSet<String> {
    let (mut cursor, mut all) = (0, BTreeSet::new());
    loop {
        let (next, keys) = cache.scan_keys("*", cursor).await.unwrap();
        all.extend(keys);
        if next == 0 {
            return all;
        }
        cursor = next;
    }
}

async fn connect(server: &RedisServer, namespace: &str) -> RedisCache {
    let mut config = common::redis_config(server, "ns");
    namespace.clone_into(&mut config.namespace);
    RedisCache::connect(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_sharing_a_prefix_are_isolated() {
    let Some(server) = RedisServer::start_or_skip(RedisMode::Plain) else {
        return;
    };
    let app = unique_namespace("app");
    let v2 = format!("{app}-v2");
    let (a, b) = (connect(&server, &app).await, connect(&server, &v2).await);
    let all: BTreeSet<String> = KEYS.iter().map(|k| (*k).to_owned()).collect();

    fill(&a).await;
    fill(&b).await;
    assert_eq!(a.count_keys().await.unwrap(), 3);
    assert_eq!(scanned(&a).await, all, "scan_keys sees only its own namespace");

    // The re-encryption pass walks one namespace only.
    let ring = KeyRing::new(EncryptionKey::generate());
    let sealed_a = a.clone().layer(EncryptionLayer::new(ring.clone()));
    fill(&sealed_a).await;
    let report = reencrypt(&a, &ring, &ReencryptOptions::default().seal_plaintext(true))
        .await
        .unwrap();
    assert_eq!(report.scanned, 3, "{report:?}");
    assert_eq!(b.get("user:1").await.unwrap().as_deref(), Some(&b"user:1"[..]));

    assert_eq!(a.invalidate_pattern("*").await.unwrap(), 3);
    assert_eq!(
        b.count_keys().await.unwrap(),
        3,
        "invalidate_pattern(*) stays in its namespace"
    );
    fill(&a).await;
    a.clear().await.unwrap();
    assert_eq!(a.count_keys().await.unwrap(), 0);
    assert_eq!(b.count_keys().await.unwrap(), 3, "clear stays in its namespace");
    assert_eq!(scanned(&b).await, all);
}

#[tokio::test]
async fn a_namespace_with_the_separator_is_rejected_everywhere_with_one_message() {
    let expected = validate_namespace("app:v2").unwrap_err().to_string();
    assert!(
        expected.contains("\"app:v2\"") && expected.contains("without ':'"),
        "{expected}"
    );

    let mut redis = RedisConfig::new("redis://127.0.0.1:1");
    redis.namespace = "app:v2".to_owned();
    let err = redis.validate().unwrap_err().to_string();
    assert!(err.contains(&expected), "RedisConfig::validate: {err}");
    let err = RedisCache::connect(redis).await.unwrap_err().to_string();
    assert!(err.contains(&expected), "RedisCache::connect: {err}");

    let mut factory = CacheConfig::testing();
    factory.namespace = "app:v2".to_owned();
    let err = factory.validate().unwrap_err().to_string();
    assert!(err.contains(&expected), "CacheConfig::validate: {err}");
    let env = [
        ("ENVIRONMENT", "testing"),
        ("CACHE_CUSTOM_CONFIG", r#"{"namespace": "app:v2"}"#),
    ];
    let err = CacheConfig::from_env_with(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&expected), "CACHE_CUSTOM_CONFIG: {err}");

    let err = Namespace::new("app:v2", "v1").unwrap_err().to_string();
    assert_eq!(err, expected, "stratacache_keys::Namespace");
}
