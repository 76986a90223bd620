//! End-to-end: the stack an application runs in production, against real Redis servers in every
//! mode: namespaced keys → compression → memory L1 over Redis L2, held as a `SharedCache`.

// Test code: helpers outside #[test] functions unwrap too (clippy exempts only the tests themselves).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use stratacache_compression::CompressionLayer;
use stratacache_core::{Cache, Expiry, LayerExt, SharedCache, Ttl, TypedCacheExt};
use stratacache_keys::{AiKeyBuilder, KeyScheme, Namespace};
use stratacache_memory::MemoryCache;
use stratacache_redis::RedisCache;
use stratacache_testkit::redis::{RedisMode, RedisServer};
use stratacache_tiered::{TieredCache, TieredConfig};

/// The production stack, plus the Redis backend alone to look underneath it.
async fn stack(server: &RedisServer) -> (SharedCache, RedisCache) {
    let redis = RedisCache::connect(common::redis_config(server, "e2e"))
        .await
        .unwrap();
    let l1 = MemoryCache::builder()
        .max_entries(1_000)
        .max_bytes(4 * 1024 * 1024)
        .build()
        .unwrap();
    let tiered = TieredCache::with_config(
        l1,
        redis.clone(),
        TieredConfig::default().with_default_ttl(Some(Duration::from_secs(600))),
    )
    .unwrap();
    let compression = CompressionLayer::builder()
        .threshold(256)
        .level(3)
        .build()
        .unwrap();
    (Arc::new(tiered.layer(compression)), redis)
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Clone)]
struct Article {
    title: String,
    body: String,
}

async fn full_workflow(mode: RedisMode) {
    let Some(server) = RedisServer::start_or_skip(mode) else {
        return;
    };
    let (cache, redis) = stack(&server).await;
    let ns = Namespace::new("blog", "v1").unwrap();

    // Typed, compressible values round-trip through every layer and reach Redis compressed.
    let article = Article {
        title: "Caching".into(),
        body: "layers all the way down. ".repeat(200),
    };
    for id in 0..20 {
        cache
            .set_json(&ns.key(&format!("article:{id}")).unwrap(), &article, Ttl::Default)
            .await
            .unwrap();
    }
    let stored = redis.get(&ns.key("article:3").unwrap()).await.unwrap().unwrap();
    let json_len = serde_json::to_vec(&article).unwrap().len();
    assert!(
        stored.len() * 5 < json_len,
        "Redis holds {} bytes for a {json_len}-byte value",
        stored.len()
    );
    let stats = cache.stats().await;
    let compression = stats.compression.expect("compression stats");
    assert!(
        compression.bytes_saved() > 19 * (json_len as u64) / 2,
        "{compression:?}"
    );

    // Reads: the first is served by Redis and promoted, the default TTL travels with it.
    assert_eq!(
        cache
            .get_json::<Article>(&ns.key("article:3").unwrap())
            .await
            .unwrap(),
        Some(article.clone())
    );
    let Some(Expiry::After(left)) = redis.ttl(&ns.key("article:3").unwrap()).await.unwrap() else {
        panic!("the default TTL was not applied in Redis")
    };
    assert!(
        left <= Duration::from_secs(600) && left > Duration::from_secs(590),
        "{left:?}"
    );

    // Pattern invalidation reaches both tiers and stays inside the namespace.
    let other = Namespace::new("blog", "v2").unwrap();
    cache
        .set_json(&other.key("article:1").unwrap(), &article, Ttl::Default)
        .await
        .unwrap();
    assert_eq!(
        cache
            .invalidate_pattern(&ns.pattern("article:1*").unwrap())
            .await
            .unwrap(),
        11
    );
    assert!(cache.get(&ns.key("article:10").unwrap()).await.unwrap().is_none());
    assert!(cache.get(&ns.key("article:3").unwrap()).await.unwrap().is_some());
    assert!(
        cache
            .get(&other.key("article:1").unwrap())
            .await
            .unwrap()
            .is_some()
    );

    // AI responses keyed by the reference scheme, invalidated by operation.
    let ai = AiKeyBuilder::new().with_scheme(KeyScheme::Reference);
    let opts: Map<String, serde_json::Value> = json!({"max_length": 100}).as_object().cloned().unwrap();
    let summary_key = ai.key("Sample document", "summarize", &opts).unwrap();
    assert_eq!(
        summary_key,
        "ai_cache:op:summarize|txt:Sample document|opts:5104236b"
    );
    cache
        .set_json(&summary_key, &"a summary", Ttl::secs(7200))
        .await
        .unwrap();
    cache
        .set_json(
            &ai.key("Sample document", "sentiment", &Map::new()).unwrap(),
            &"positive",
            Ttl::secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(
        cache
            .invalidate_pattern(&ai.operation_pattern("summarize").unwrap())
            .await
            .unwrap(),
        1
    );
    assert!(cache.get(&summary_key).await.unwrap().is_none());

    // The namespace's keys in Redis, as the status page reports them.
    let status = redis.status().await;
    assert!(status.connected, "{status:?}");
    assert_eq!(status.tls, mode.is_tls());
    assert_eq!(status.keys_in_namespace, Some(9 + 1 + 1), "{status:?}");

    cache.clear().await.unwrap();
    assert_eq!(redis.status().await.keys_in_namespace, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain() {
    full_workflow(RedisMode::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password() {
    full_workflow(RedisMode::Password).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user() {
    full_workflow(RedisMode::Acl).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls() {
    full_workflow(RedisMode::Tls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls() {
    full_workflow(RedisMode::MutualTls).await;
}

/// What another client (or language) sees: the value under `{namespace}:{key}`, with the TTL in
/// milliseconds, readable with a plain redis-rs connection.
#[tokio::test]
async fn keys_and_ttls_are_visible_to_plain_clients() {
    let Some(server) = RedisServer::start_or_skip(RedisMode::Plain) else {
        return;
    };
    let config = common::redis_config(&server, "e2e");
    let namespace = config.namespace.clone();
    let redis = RedisCache::connect(config).await.unwrap();
    redis
        .set("greeting", "hello".into(), Ttl::millis(1500))
        .await
        .unwrap();
    let mut plain = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let raw_key = format!("{namespace}:greeting");
    let value: Vec<u8> = redis::cmd("GET")
        .arg(&raw_key)
        .query_async(&mut plain)
        .await
        .unwrap();
    assert_eq!(value, b"hello");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&raw_key)
        .query_async(&mut plain)
        .await
        .unwrap();
    assert!((1..=1500).contains(&pttl), "{pttl}");
}
