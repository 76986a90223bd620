//! The re-encryption pass (`cargo xtask reencrypt`) reads its configuration exactly as the
//! factory does: data written through the factory in the database and namespace that
//! `CACHE_CUSTOM_CONFIG` selects is found and re-sealed there.

#![allow(clippy::unwrap_used)]

use stratacache_core::{Bytes, Cache, Ttl};
use stratacache_crypto::{ReencryptOptions, generate_key};
use stratacache_factory::{CacheConfig, CacheFactory, reencrypt_from_env_with};
use stratacache_testkit::redis::{RedisMode, unique_namespace};
use stratacache_testkit::redis_server_or_skip;

fn lookup(env: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reencryption_reaches_the_database_and_namespace_of_cache_custom_config() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let (old, new) = (generate_key(), generate_key());
    let custom = serde_json::json!({"redis_database": 5, "namespace": unique_namespace("rotation")});
    let base = [
        ("ENVIRONMENT", "testing".to_owned()),
        ("CACHE_PRESET", "simple".to_owned()),
        ("CACHE_REDIS_URL", server.url().to_owned()),
        ("CACHE_CUSTOM_CONFIG", custom.to_string()),
    ];
    let with_keys = |primary: &str, older: Option<&str>| {
        let mut env = base.to_vec();
        env.push(("REDIS_ENCRYPTION_KEY", primary.to_owned()));
        env.extend(older.map(|k| ("REDIS_ENCRYPTION_KEYS", k.to_owned())));
        env
    };

    let before = CacheConfig::from_env_with(lookup(&with_keys(&old, None))).unwrap();
    let writer = CacheFactory::from_config(before).await.unwrap();
    assert!(!writer.is_degraded(), "{:?}", writer.degraded);
    for key in ["user:1", "user:2", "item:1"] {
        let value = Bytes::from(format!("value of {key}"));
        writer.cache.set(key, value, Ttl::secs(300)).await.unwrap();
    }
    writer.close().await.unwrap();

    let rotation = with_keys(&new, Some(&old));
    let report = reencrypt_from_env_with(lookup(&rotation), None, &ReencryptOptions::default())
        .await
        .unwrap();
    assert_eq!(report.scanned, 3, "{report:?}");
    assert_eq!(report.reencrypted, 3, "{report:?}");

    // Re-sealed: a cache that knows only the new key reads every entry.
    let after = CacheConfig::from_env_with(lookup(&with_keys(&new, None))).unwrap();
    let reader = CacheFactory::from_config(after).await.unwrap();
    let value = reader.cache.get("user:2").await.unwrap();
    assert_eq!(value.as_deref(), Some(&b"value of user:2"[..]));
    reader.close().await.unwrap();

    // A second pass finds them current.
    let report = reencrypt_from_env_with(lookup(&rotation), None, &ReencryptOptions::default())
        .await
        .unwrap();
    assert_eq!((report.scanned, report.already_current), (3, 3), "{report:?}");
}

#[tokio::test]
async fn reencryption_needs_redis_and_a_key() {
    let env = [("ENVIRONMENT", "testing".to_owned())];
    let err = reencrypt_from_env_with(lookup(&env), None, &ReencryptOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("memory-only"), "{err}");
    let env = [
        ("ENVIRONMENT", "testing".to_owned()),
        ("CACHE_REDIS_URL", "redis://127.0.0.1:1".to_owned()),
    ];
    let err = reencrypt_from_env_with(lookup(&env), None, &ReencryptOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("REDIS_ENCRYPTION_KEY is not set"),
        "{err}"
    );
}
