//! Built without the optional features (`cargo xtask ci` runs this with
//! `--no-default-features`): a configured encryption key or Redis URL is a start-up error naming
//! the feature to enable, never a silent plaintext or memory-only cache.

#![cfg(not(any(feature = "crypto", feature = "redis", feature = "compression")))]
#![allow(clippy::unwrap_used)]

use stratacache_core::{Cache, ErrorKind, Ttl};
use stratacache_factory::{CacheConfig, CacheFactory, Preset, Secret};

/// A syntactically valid key (what `stratacache_crypto::generate_key` prints).
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[test]
fn an_encryption_key_from_the_environment_names_the_crypto_feature() {
    let err =
        CacheConfig::from_env_with(|k| (k == "REDIS_ENCRYPTION_KEY").then(|| KEY.to_owned())).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("REDIS_ENCRYPTION_KEY") && text.contains("`crypto` feature"),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
}

#[tokio::test]
async fn an_encryption_key_in_a_config_is_refused_at_build() {
    let mut config = CacheConfig::preset(Preset::Simple);
    config.encryption.key = Some(Secret::new(KEY));
    let err = CacheFactory::from_config(config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.to_string().contains("`crypto` feature"), "{err}");
}

#[tokio::test]
async fn a_redis_url_names_the_redis_feature() {
    let mut config = CacheConfig::testing();
    config.redis_url = Some("redis://127.0.0.1:1".into());
    let err = CacheFactory::from_config(config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.to_string().contains("`redis` feature"), "{err}");
}

#[tokio::test]
async fn memory_stacks_still_work() {
    let built = CacheFactory::for_web_app(None).await.unwrap();
    assert_eq!(built.layers, ["compute", "monitoring", "memory"]);
    built.cache.set("k", "v".into(), Ttl::Default).await.unwrap();
    assert!(built.cache.get("k").await.unwrap().is_some());
}
