//! The API over real Redis servers (stratacache-testkit fixtures, never port 6379): the status of
//! a connected cache, invalidation checked through a separate connection, TLS and password
//! reporting, a degraded start, and failures (a closed cache, a stopped server) answering 5xx.
//!
//! Skipped where no `redis-server` is available, unless `STRATACACHE_REQUIRE_REDIS=1`.

#![allow(clippy::unwrap_used)]

mod api_support;

use std::sync::Arc;

use api_support::{KEY, TestServer, assert_prometheus_text, keyed_config, open_config, redact};
use serde_json::Value;
use stratacache_admin::{AdminConfig, AdminState};
use stratacache_core::Cache;
use stratacache_factory::{Backend, CacheConfig, CacheFactory, CacheRegistry};
use stratacache_monitor::{MonitorConfig, MonitoringLayer};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};
use stratacache_testkit::redis_server_or_skip;

/// The testing preset (database 15, no memory tier) on `url`, in a namespace of its own.
fn testing_config(url: &str) -> CacheConfig {
    let mut config = CacheConfig::testing();
    config.redis_url = Some(url.into());
    config.namespace = unique_namespace("admin");
    config
}

/// A connection of its own to the database and namespace of `config`, to check what the API did.
async fn raw_view(server_url: &str, config: &CacheConfig) -> RedisCache {
    let mut raw = RedisConfig::new(format!("{server_url}/15"));
    raw.namespace.clone_from(&config.namespace);
    RedisCache::connect(raw).await.unwrap()
}

/// Replaces the server's own figures (version, memory, clients) after checking they are there.
fn redact_server_figures(mut status: Value) -> Value {
    let redis = status["redis"].as_object_mut().unwrap();
    for field in ["version", "memory_used", "memory_used_bytes", "connected_clients"] {
        assert!(!redis[field].is_null(), "{field} missing: {redis:?}");
        redis[field] = Value::from("[server]");
    }
    // How many messages announced the writes depends on their timing (they are batched).
    if let Some(published) = status.pointer_mut("/fleet/counters/published") {
        assert!(published.as_u64().is_some_and(|n| n >= 1), "{published}");
        *published = Value::from("[batched]");
    }
    redact(status)
}

#[actix_web::test]
async fn invalidation_removes_only_the_matching_keys_from_redis() {
    let redis = redis_server_or_skip!(RedisMode::Plain);
    let config = testing_config(redis.url());
    let built = CacheFactory::from_config(config.clone()).await.unwrap();
    assert_eq!(built.backend, Backend::Redis);
    let server = TestServer::built(built, keyed_config());
    for key in ["user:1", "user:2", "user:10", "item:1"] {
        let reply = server
            .send_authed(
                "PUT",
                &format!("/internal/cache/entries/{key}?ttl=300"),
                key.to_owned(),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    let raw = raw_view(redis.url(), &config).await;
    for key in ["user:1", "user:2", "user:10", "item:1"] {
        assert!(raw.exists(key).await.unwrap(), "{key} was not written to Redis");
    }

    let reply = server
        .send_authed(
            "POST",
            "/internal/cache/invalidate?pattern=user:%3F&operation_context=user_update",
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["keys_removed"], 2);
    assert_eq!(reply.json()["message"], "Cache invalidated for pattern: user:?");
    // Glob semantics over the application's keys: `user:?` is not `user:10`, not `item:1`.
    assert!(!raw.exists("user:1").await.unwrap());
    assert!(!raw.exists("user:2").await.unwrap());
    assert!(raw.exists("user:10").await.unwrap());
    assert!(raw.exists("item:1").await.unwrap());

    let reply = server
        .send_authed("POST", "/internal/cache/invalidate?pattern=*", "")
        .await;
    assert_eq!(reply.json()["keys_removed"], 2);
    assert!(!raw.exists("user:10").await.unwrap() && !raw.exists("item:1").await.unwrap());
    let stats = server.get("/internal/cache/invalidation-stats", &[]).await.json();
    assert_eq!(
        (
            stats["total_invalidations"].as_u64(),
            stats["total_keys_invalidated"].as_u64()
        ),
        (Some(2), Some(4))
    );
    assert_eq!(stats["recent"][0]["operation_context"], "user_update");
}

#[actix_web::test]
async fn the_status_of_a_redis_cache() {
    let redis = redis_server_or_skip!(RedisMode::Plain);
    let config = testing_config(redis.url());
    let built = CacheFactory::from_config(config.clone()).await.unwrap();
    let server = TestServer::built(built, keyed_config());
    server.send_authed("PUT", "/internal/cache/entries/a", "1").await;
    server.send_authed("PUT", "/internal/cache/entries/b", "2").await;
    server.get_authed("/internal/cache/entries/a").await;

    let status = server.get("/internal/cache/status", &[]).await;
    assert_eq!(status.status, 200);
    let body = status.json();
    assert_eq!(body["redis"]["status"], "connected");
    assert_eq!(body["redis"]["keys"], 2);
    assert_eq!(body["redis"]["database"], 15);
    assert_eq!(body["redis"]["namespace"], config.namespace.as_str());
    assert_eq!(body["security"]["configuration"]["tls_enabled"], false);
    assert_eq!(body["failover"]["state"], "primary");
    insta::assert_json_snapshot!("status_redis", redact_server_figures(body));
    // The key count walks the database: it is not recounted on every request.
    server.send_authed("PUT", "/internal/cache/entries/c", "3").await;
    let body = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(body["redis"]["keys"], 2, "recounted within 10 s: {body}");
    assert_eq!(body["redis"]["status"], "connected");

    // The status recorded Redis's memory in the monitor.
    let metrics = server.get("/internal/cache/metrics", &[]).await.json();
    assert!(
        metrics["memory_usage"]["current"]["redis_used_memory_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    let health = server.get("/internal/cache/health", &[]).await;
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(health.json()["cache_type"], "failover");
}

#[actix_web::test]
async fn tls_and_password_are_reported() {
    let tls = redis_server_or_skip!(RedisMode::Tls);
    let mut config = testing_config(tls.url());
    config.tls_ca_path = Some(tls.tls().unwrap().ca_cert.clone());
    let server = TestServer::built(CacheFactory::from_config(config).await.unwrap(), keyed_config());
    let body = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(body["redis"]["status"], "connected", "{body}");
    let security = &body["security"];
    assert_eq!(security["configuration"]["tls_enabled"], true);
    assert_eq!(security["configuration"]["verify_certificates"], true);
    assert_eq!(security["configuration"]["auth"], "none");
    assert_eq!(security["security_level"], "MEDIUM");
    assert!(body["redis"]["url"].as_str().unwrap().starts_with("rediss://"));

    let password = redis_server_or_skip!(RedisMode::Password);
    let secret = password.password().unwrap().to_owned();
    let url = format!("redis://:{secret}@{}:{}", password.host(), password.port());
    let server = TestServer::built(
        CacheFactory::from_config(testing_config(&url)).await.unwrap(),
        keyed_config(),
    );
    let reply = server.get("/internal/cache/status", &[]).await;
    assert!(
        !reply.text().contains(&secret),
        "the status shows the Redis password"
    );
    let body = reply.json();
    assert_eq!(body["redis"]["status"], "connected");
    assert_eq!(body["security"]["configuration"]["auth"], "password");
    assert_eq!(body["security"]["security_level"], "MEDIUM");
    assert_eq!(body["security"]["configuration"]["tls_enabled"], false);
}

#[actix_web::test]
async fn a_degraded_start_and_a_lost_server_are_reported() {
    let mut redis = RedisServer::builder(RedisMode::Plain).local().start_or_skip();
    let Some(redis) = redis.as_mut() else { return };
    let config = testing_config(redis.url());

    // Connected, then the server goes away: `error`, without a password or a panic.
    let server = TestServer::built(
        CacheFactory::from_config(config.clone()).await.unwrap(),
        keyed_config(),
    );
    assert_eq!(
        server.get("/internal/cache/status", &[]).await.json()["redis"]["status"],
        "connected"
    );
    redis.stop();
    let body = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(body["redis"]["status"], "error", "{body}");
    assert!(
        body["redis"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["security"]["configuration"]["tls_enabled"], false);

    // Built while the server is down: the memory fallback, `unavailable`, degraded.
    let server = TestServer::built(CacheFactory::from_config(config).await.unwrap(), keyed_config());
    let body = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(body["redis"]["status"], "unavailable");
    assert_eq!(body["redis"]["configured"], true);
    assert!(
        body["degraded"].as_str().unwrap().contains("memory fallback"),
        "{body}"
    );
    assert_eq!(body["failover"]["state"], "fallback");
    assert_eq!(body["memory"]["role"], "fallback");
    // The failover's background probes may have run already: their counters are not fixed.
    let mut body = body;
    body["failover"]["counters"] = Value::from("[counters]");
    assert!(
        body["failover"]["seconds_since_last_switch"].as_f64().is_some(),
        "{body}"
    );
    body["failover"]["seconds_since_last_switch"] = Value::from("[seconds]");
    body["failover"]["last_error"] = Value::from("[error]");
    insta::assert_json_snapshot!("status_degraded", redact(body));
    let health = server.get("/internal/cache/health", &[]).await;
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("degraded"))
    );
    // No client to probe: the failover's view (still on the fallback), and no duration.
    let metrics = server.get("/metrics", &[]).await.text();
    assert!(
        metrics.lines().any(|l| l == "stratacache_redis_up 0"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("stratacache_redis_probe_duration_seconds"),
        "{metrics}"
    );
    assert_prometheus_text(&metrics);
}

/// The API over a Redis cache without failover (`AdminState::from_cache`), so that Redis's own
/// errors reach the handlers.
async fn direct_server(url: &str) -> (RedisCache, TestServer, String) {
    let mut config = RedisConfig::new(url.to_owned());
    config.namespace = unique_namespace("admin-direct");
    let namespace = config.namespace.clone();
    let cache = RedisCache::connect(config).await.unwrap();
    let layer = MonitoringLayer::new(MonitorConfig::default()).unwrap();
    let state = AdminState::from_cache(
        Arc::new(cache.clone()),
        Some(layer),
        Arc::new(CacheRegistry::default()),
        AdminConfig {
            keys: stratacache_admin::ApiKeys::new([KEY.to_owned()]),
            ..open_config()
        },
    );
    (cache, TestServer::start(state), namespace)
}

#[actix_web::test]
async fn a_closed_redis_cache_answers_503_and_keeps_its_entries() {
    let redis = redis_server_or_skip!(RedisMode::Plain);
    let (cache, server, namespace) = direct_server(redis.url()).await;
    assert_eq!(
        server
            .send_authed("PUT", "/internal/cache/entries/user:1", "v")
            .await
            .status,
        201
    );
    cache.close();
    let reply = server
        .send_authed("POST", "/internal/cache/invalidate?pattern=user:*", "")
        .await;
    let envelope = reply.assert_envelope(503, "SERVICE_UNAVAILABLE");
    assert_eq!(envelope["details"]["kind"], "closed");
    for (method, path) in [
        ("GET", "/internal/cache/entries/user:1"),
        ("PUT", "/internal/cache/entries/user:1"),
        ("DELETE", "/internal/cache/entries/user:1"),
    ] {
        server
            .send_authed(method, path, "v")
            .await
            .assert_envelope(503, "SERVICE_UNAVAILABLE");
    }
    assert_eq!(server.get("/internal/cache/health", &[]).await.status, 503);
    let metrics = server.get("/internal/cache/metrics", &[]).await.json();
    assert_eq!(
        metrics["cache_operations"]["errors_by_kind"]["closed"], 4,
        "{metrics}"
    );
    assert_eq!(metrics["invalidation"]["total_invalidations"], 0);
    // Nothing was removed from Redis.
    let mut raw = RedisConfig::new(redis.url().to_owned());
    raw.namespace = namespace;
    assert!(
        RedisCache::connect(raw)
            .await
            .unwrap()
            .exists("user:1")
            .await
            .unwrap()
    );
}

#[actix_web::test]
async fn a_stopped_redis_server_answers_503() {
    let mut redis = RedisServer::builder(RedisMode::Plain).local().start_or_skip();
    let Some(redis) = redis.as_mut() else { return };
    let (_cache, server, _) = direct_server(redis.url()).await;
    assert_eq!(
        server
            .send_authed("PUT", "/internal/cache/entries/k", "v")
            .await
            .status,
        201
    );
    redis.stop();
    let reply = server
        .send_authed("POST", "/internal/cache/invalidate?pattern=*", "")
        .await;
    let envelope = reply.assert_envelope(503, "SERVICE_UNAVAILABLE");
    assert!(
        ["connection", "timeout", "unavailable"].contains(&envelope["details"]["kind"].as_str().unwrap()),
        "{envelope}"
    );
    let health = server.get("/internal/cache/health", &[]).await;
    assert_eq!(health.status, 503, "{}", health.text());
}

/// While Redis is hung the status answers within its own bound, says where operations go (the
/// breaker, since when), and `/metrics` carries the failover's series; when Redis answers again
/// but the failover still serves from memory, `redis.status` is `disconnected`, not `connected`.
#[actix_web::test]
async fn the_status_tells_where_operations_go_and_metrics_show_the_breaker() {
    let mut redis = RedisServer::builder(RedisMode::Plain).local().start_or_skip();
    let Some(redis) = redis.as_mut() else { return };
    let built = CacheFactory::from_config(testing_config(redis.url()))
        .await
        .unwrap();
    let failover = built.failover.clone().unwrap();
    let server = TestServer::built(built.clone(), keyed_config());
    let body = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(
        (
            body["failover"]["breaker"].as_str(),
            body["redis"]["status"].as_str()
        ),
        (Some("closed"), Some("connected"))
    );
    let metrics = server.get("/metrics", &[]).await.text();
    assert!(
        metrics.lines().any(|l| l == "stratacache_redis_up 1"),
        "{metrics}"
    );
    assert_redis_families(&metrics);
    assert_prometheus_text(&metrics);

    redis.pause();
    for _ in 0..3 {
        built.cache.get("trip").await.unwrap();
    }
    assert_eq!(failover.state(), stratacache_factory::FailoverState::Fallback);
    let started = std::time::Instant::now();
    let body = server.get("/internal/cache/status", &[]).await.json();
    let took = started.elapsed();
    println!("/status with Redis hung answered in {took:?}");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    assert_eq!(body["failover"]["breaker"], "open", "{body}");
    assert_eq!(body["redis"]["status"], "error", "{body}");
    assert!(
        body["failover"]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    let metrics = server.get("/metrics", &[]).await.text();
    assert_redis_families(&metrics);
    assert_prometheus_text(&metrics);
    assert_documented(&metrics);
    for line in [
        "stratacache_redis_up 0",
        "stratacache_failover_open 1",
        "stratacache_failover_trips_total 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing:\n{metrics}");
    }
    assert!(
        metrics.contains("# TYPE stratacache_failover_fallback_operations_total counter"),
        "{metrics}"
    );

    // Redis answers again, but this failover no longer returns to it (its task is stopped): the
    // status must not claim that writes land in Redis.
    failover.stop_recovery();
    redis.resume();
    let body = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(body["redis"]["status"], "disconnected", "{body}");
    assert!(body["redis"]["version"].is_string(), "INFO answered: {body}");
    assert_eq!(body["failover"]["breaker"], "open");
    // Reachability is Redis's own, whatever the failover routes: up again.
    let scrape = server
        .get("/metrics", &[("accept", "application/openmetrics-text")])
        .await
        .text();
    assert!(scrape.lines().any(|l| l == "stratacache_redis_up 1"), "{scrape}");
    assert!(
        scrape.contains("# UNIT stratacache_redis_probe_duration_seconds seconds"),
        "{scrape}"
    );
    assert!(scrape.trim_end().ends_with("# EOF"), "{scrape}");
}

/// `stratacache_redis_up` and `stratacache_redis_probe_duration_seconds` are there once each,
/// with a value in range (the probe is bounded by 100 ms; a loaded machine may overrun it a bit).
fn assert_redis_families(metrics: &str) {
    let value = |name: &str| -> f64 {
        let samples: Vec<&str> = metrics
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .collect();
        assert_eq!(samples.len(), 1, "{name}:\n{metrics}");
        samples[0].parse().unwrap()
    };
    assert!([0.0, 1.0].contains(&value("stratacache_redis_up")), "{metrics}");
    let took = value("stratacache_redis_probe_duration_seconds");
    assert!(took > 0.0 && took.is_finite(), "{metrics}");
}

/// Every family the API adds to the monitor's (`stratacache_redis_*`, `stratacache_failover_*`)
/// is in the metrics table of docs/operations.md.
fn assert_documented(metrics: &str) {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md")).unwrap();
    let added: Vec<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .filter(|n| {
            n.starts_with("stratacache_redis_up")
                || n.starts_with("stratacache_redis_probe")
                || n.starts_with("stratacache_failover_")
                || n.starts_with("stratacache_fleet_")
        })
        .collect();
    assert!(added.len() >= 20, "{added:?}");
    for name in added {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "{name} is not in the table of docs/operations.md"
        );
    }
}
