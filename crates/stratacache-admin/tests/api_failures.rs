//! A cache that fails: every failing operation answers its mapped 4xx / 5xx in the envelope, never
//! a 200 (the reference answered 200 to a failed invalidation), the health check says unhealthy
//! with 503, the status still answers, and the failures show in the metrics.

#![allow(clippy::unwrap_used)]

mod api_support;

use std::sync::Arc;

use api_support::{TestServer, open_config, redact};
use stratacache_admin::AdminState;
use stratacache_core::ErrorKind;
use stratacache_factory::CacheRegistry;
use stratacache_memory::MemoryCache;
use stratacache_monitor::{MonitorConfig, MonitoringLayer};
use stratacache_testkit::double::ScriptedCache;

/// A memory cache behind the testkit's scripted double, every operation failing with `kind`
/// (health: unhealthy) until `pass_all`.
fn failing(kind: ErrorKind) -> ScriptedCache {
    let double = ScriptedCache::wrap(MemoryCache::new(1000).unwrap()).with_name("failing");
    double.fail_all(kind, "the test double is failing");
    double
}

fn failing_server(kind: ErrorKind) -> (ScriptedCache, TestServer) {
    let double = failing(kind);
    let cache = double.shared();
    let layer = MonitoringLayer::new(MonitorConfig::default()).unwrap();
    let state = AdminState::from_cache(
        cache,
        Some(layer),
        Arc::new(CacheRegistry::default()),
        open_config(),
    );
    (double, TestServer::start(state))
}

#[actix_web::test]
async fn failures_map_to_their_status_and_code() {
    let cases = [
        (ErrorKind::Connection, 503, "SERVICE_UNAVAILABLE"),
        (ErrorKind::Timeout, 503, "SERVICE_UNAVAILABLE"),
        (ErrorKind::Unavailable, 503, "SERVICE_UNAVAILABLE"),
        (ErrorKind::Backend, 500, "INFRASTRUCTURE_ERROR"),
        (ErrorKind::Decryption, 500, "INFRASTRUCTURE_ERROR"),
        (ErrorKind::Authentication, 500, "INFRASTRUCTURE_ERROR"),
        (ErrorKind::Configuration, 500, "CONFIGURATION_ERROR"),
        (ErrorKind::InvalidInput, 400, "VALIDATION_ERROR"),
    ];
    for (kind, status, code) in cases {
        let (_, server) = failing_server(kind);
        for (method, path) in [
            ("POST", "/internal/cache/invalidate?pattern=user:*"),
            ("GET", "/internal/cache/entries/k"),
            ("PUT", "/internal/cache/entries/k"),
            ("DELETE", "/internal/cache/entries/k"),
        ] {
            let reply = server.send(method, path, &[], "v").await;
            let envelope = reply.assert_envelope(status, code);
            assert_eq!(
                envelope["details"]["kind"],
                kind.as_str(),
                "{kind} {method} {path}"
            );
        }
    }
}

#[actix_web::test]
async fn a_failed_invalidation_is_a_5xx_and_is_counted() {
    let (double, server) = failing_server(ErrorKind::Connection);
    let reply = server
        .send(
            "POST",
            "/internal/cache/invalidate?pattern=user:*&operation_context=deploy",
            &[],
            "",
        )
        .await;
    let envelope = reply.assert_envelope(503, "SERVICE_UNAVAILABLE");
    insta::assert_json_snapshot!("invalidation_failed", redact(envelope));

    let metrics = server.get("/internal/cache/metrics", &[]).await.json();
    assert_eq!(
        metrics["cache_operations"]["errors_by_kind"]["connection"], 1,
        "{metrics}"
    );
    assert_eq!(
        metrics["cache_operations"]["by_operation_type"]["invalidate"]["errors"],
        1
    );
    // A failed invalidation is not an invalidation.
    assert_eq!(metrics["invalidation"]["total_invalidations"], 0);
    let scrape = server.get("/metrics", &[]).await.text();
    assert!(
        scrape
            .lines()
            .any(|l| l == r#"stratacache_errors_total{kind="connection"} 1"#),
        "{scrape}"
    );

    // Health: unhealthy, 503, the report as body.
    let health = server.get("/internal/cache/health", &[]).await;
    assert_eq!(health.status, 503);
    let report = health.json();
    assert_eq!(report["status"], "unhealthy");
    insta::assert_json_snapshot!("health_unhealthy", redact(report));
    // The status answers whatever the cache does.
    let status = server.get("/internal/cache/status", &[]).await;
    assert_eq!(status.status, 200);
    insta::assert_json_snapshot!("status_of_any_cache", redact(status.json()));

    // Once the cache works again, so does the invalidation, with its context recorded.
    double.pass_all();
    let reply = server
        .send(
            "POST",
            "/internal/cache/invalidate?pattern=user:*&operation_context=deploy",
            &[],
            "",
        )
        .await;
    assert_eq!(reply.status, 200);
    let stats = server.get("/internal/cache/invalidation-stats", &[]).await.json();
    assert_eq!(stats["total_invalidations"], 1);
    assert_eq!(stats["recent"][0]["operation_context"], "deploy");
}

#[actix_web::test]
async fn an_unmonitored_cache_of_any_kind_is_served_too() {
    let double = failing(ErrorKind::Backend);
    double.pass_all();
    let state = AdminState::from_cache(
        double.shared(),
        None,
        Arc::new(CacheRegistry::default()),
        open_config(),
    );
    assert!(state.monitor().is_none() && state.built().is_none());
    let server = TestServer::start(state);
    let reply = server
        .send("POST", "/internal/cache/invalidate?pattern=*", &[], "")
        .await;
    assert_eq!(reply.json()["keys_removed"], 0);
    server
        .get("/internal/cache/metrics", &[])
        .await
        .assert_envelope(503, "SERVICE_UNAVAILABLE");
    let status = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(
        (status["backend"].as_str(), status["redis"]["status"].as_str()),
        (Some("memory"), Some("unavailable"))
    );
    assert_eq!(status["layers"], serde_json::json!(["memory"]));
}
