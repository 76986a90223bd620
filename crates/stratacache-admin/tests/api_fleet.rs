//! Fleet invalidation through the admin API: two instances (caches built by the factory, each a
//! memory tier over one redis-server), one of them served by the API. What an operator changes
//! through B's API (entry PUT and DELETE, pattern invalidation) reaches A's memory tier the same
//! way an application's writes do, and B's status, JSON metrics and Prometheus scrape show the
//! subscription and its counters.

#![allow(clippy::unwrap_used)]

mod api_support;

use std::time::{Duration, Instant};

use api_support::{TestServer, assert_prometheus_text, keyed_config};
use stratacache_core::{Bytes, Cache, Ttl};
use stratacache_factory::{BuiltCache, CacheConfig, CacheFactory, Environment};
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

/// Far below `l1_ttl` (60 s): a memory tier that is never told keeps its copy past it.
const PATIENCE: Duration = Duration::from_secs(10);

async fn instance(url: &str, namespace: &str) -> BuiltCache {
    let mut config = CacheConfig::web_app();
    config.environment = Environment::Testing;
    config.redis_url = Some(url.into());
    config.namespace = namespace.to_owned();
    let built = CacheFactory::from_config(config).await.unwrap();
    eventually("subscribed", async || {
        built.fleet_status().unwrap().connected && built.fleet_status().unwrap().l1_ttl_cap.is_none()
    })
    .await;
    built
}

async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn reads(cache: &BuiltCache, key: &str, expected: Option<&[u8]>) {
    eventually(&format!("A reads {expected:?} for {key}"), async || {
        cache.cache.get(key).await.unwrap().as_deref() == expected
    })
    .await;
}

#[actix_web::test]
async fn operator_changes_through_the_api_reach_every_instance() {
    let Some(redis) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let namespace = unique_namespace("admin-fleet");
    let a = instance(redis.url(), &namespace).await;
    let b = instance(redis.url(), &namespace).await;
    let server = TestServer::built(b.clone(), keyed_config());

    for key in ["user:1", "user:2", "item:1"] {
        a.cache
            .set(key, Bytes::from_static(b"old"), Ttl::Default)
            .await
            .unwrap();
        assert_eq!(a.cache.get(key).await.unwrap().as_deref(), Some(&b"old"[..]));
    }
    let published_before = b.fleet_status().unwrap().published;
    let reply = server
        .send_authed("PUT", "/internal/cache/entries/user:1", "new")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reads(&a, "user:1", Some(b"new")).await;

    let reply = server
        .send_authed("DELETE", "/internal/cache/entries/item:1", "")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reads(&a, "item:1", None).await;

    let reply = server
        .send_authed("POST", "/internal/cache/invalidate?pattern=user:*", "")
        .await;
    assert_eq!(reply.json()["keys_removed"], 2, "{}", reply.text());
    reads(&a, "user:2", None).await;
    reads(&a, "user:1", None).await;

    // B heard A's writes: its status, metrics document and scrape say so.
    let status = server.get("/internal/cache/status", &[]).await.json();
    let fleet = &status["fleet"];
    assert_eq!(fleet["status"], "connected", "{status}");
    assert_eq!(
        (fleet["publishing"].as_bool(), fleet["subscribing"].as_bool()),
        (Some(true), Some(true))
    );
    // A's three writes, in one message or more (announcements are batched).
    assert!(fleet["counters"]["applied"].as_u64().unwrap() >= 1, "{fleet}");
    // PUT, DELETE and the invalidation: one message each, at least.
    assert!(
        fleet["counters"]["published"].as_u64().unwrap() >= published_before + 3,
        "{fleet}"
    );
    assert_eq!(fleet["counters"]["flushes"]["subscribed"], 1, "{fleet}");
    assert!(fleet["l1_ttl_cap_seconds"].is_null());

    let metrics = server.get("/internal/cache/metrics", &[]).await.json();
    assert_eq!(metrics["fleet"]["connected"], true, "{metrics}");
    // B's own three messages and at least one of A's.
    assert!(metrics["fleet"]["received"].as_u64().unwrap() >= 4, "{metrics}");

    let scrape = server.get("/metrics", &[]).await.text();
    assert_prometheus_text(&scrape);
    for line in [
        "stratacache_fleet_connected 1",
        "stratacache_fleet_flushes_total{reason=\"subscribed\"} 1",
        "stratacache_fleet_flushes_total{reason=\"gap\"} 0",
    ] {
        assert!(scrape.lines().any(|l| l == line), "{line} missing:\n{scrape}");
    }
    assert!(
        scrape.contains("# TYPE stratacache_fleet_applied_total counter"),
        "{scrape}"
    );
}
