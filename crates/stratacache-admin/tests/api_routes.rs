//! Every endpoint through real HTTP on a memory cache (`CacheFactory::for_web_app(None)`), with the
//! API open (no key, as in development): response shapes (snapshots), entry round trips reflected
//! in both metrics documents, invalidation, validation and the 400 / 404 / 405 / 413 envelopes,
//! security headers, monitoring turned off, and the OpenAPI document against the mounted routes.

#![allow(clippy::unwrap_used)]

mod api_support;

use std::collections::BTreeSet;

use api_support::{TestServer, assert_prometheus_text, open_config, redact};
use serde_json::{Value, json};
use stratacache_admin::{AdminConfig, MAX_KEY_LEN};
use stratacache_core::{Bytes, Ttl};
use stratacache_factory::{CacheConfig, CacheFactory, Preset};

async fn web_server(config: AdminConfig) -> TestServer {
    TestServer::built(CacheFactory::for_web_app(None).await.unwrap(), config)
}

async fn open_server() -> TestServer {
    web_server(open_config()).await
}

const ENTRY: &str = "/internal/cache/entries";

#[actix_web::test]
async fn entries_round_trip_and_show_in_both_metrics_documents() {
    let server = open_server().await;
    // New key: 201 with the entry as stored.
    let created = server
        .send("PUT", &format!("{ENTRY}/user%2F1?ttl=60"), &[], "hello")
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    insta::assert_json_snapshot!("entry_created", created.json());
    // Replaced: 200, default TTL (30 min for the web preset).
    let replaced = server
        .send("PUT", &format!("{ENTRY}/user%2F1"), &[], "hello again")
        .await;
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.json()["ttl_seconds"], 1_800);
    let read = server.get(&format!("{ENTRY}/user%2F1"), &[]).await;
    assert_eq!(read.status, 200);
    insta::assert_json_snapshot!("entry_read", read.json());
    // Bytes that are not UTF-8 come back in base64.
    let binary = server
        .send(
            "PUT",
            &format!("{ENTRY}/blob?ttl=5"),
            &[],
            Bytes::from_static(&[0xff, 0, 0x10]),
        )
        .await;
    assert_eq!(binary.status, 201);
    insta::assert_json_snapshot!("entry_binary", binary.json());
    // An entry without expiry has a null TTL.
    let cache = server.state.cache().clone();
    cache
        .set("forever", Bytes::from_static(b"v"), Ttl::Never)
        .await
        .unwrap();
    assert_eq!(
        server.get(&format!("{ENTRY}/forever"), &[]).await.json()["ttl_seconds"],
        Value::Null
    );
    // Missing: 404 envelope.
    let missing = server.get(&format!("{ENTRY}/nope"), &[]).await;
    let envelope = missing.assert_envelope(404, "NOT_FOUND");
    insta::assert_json_snapshot!("entry_missing", redact(envelope));
    // Delete, twice.
    let deleted = server.send("DELETE", &format!("{ENTRY}/user%2F1"), &[], "").await;
    assert_eq!(deleted.status, 200);
    insta::assert_json_snapshot!("entry_deleted", deleted.json());
    let again = server.send("DELETE", &format!("{ENTRY}/user%2F1"), &[], "").await;
    assert_eq!(again.json(), json!({"key": "user/1", "deleted": false}));
    // The value is really gone from the cache.
    assert!(cache.get("user/1").await.unwrap().is_none());

    // Three PUTs (exists + set + ttl each), four GETs (get_with_ttl; two hits, one miss + the
    // direct get above), two DELETEs, one direct set: all through the monitored stack.
    let metrics = server.get("/internal/cache/metrics", &[]).await;
    assert_eq!(metrics.status, 200);
    let metrics = metrics.json();
    let ops = &metrics["cache_operations"]["by_operation_type"];
    let count = |op: &str| ops[op]["count"].as_u64().unwrap_or(0);
    assert_eq!(
        [
            count("set"),
            count("exists"),
            count("ttl"),
            count("get_with_ttl"),
            count("delete"),
            count("get")
        ],
        [4, 3, 3, 3, 2, 1],
        "{ops}"
    );
    assert_eq!(
        (
            ops["get_with_ttl"]["hits"].as_u64(),
            ops["get_with_ttl"]["misses"].as_u64()
        ),
        (Some(2), Some(1))
    );
    insta::assert_json_snapshot!("metrics_after_entries", redact(metrics));

    // A scraper asking for OpenMetrics gets it.
    let scrape = server
        .get(
            "/metrics",
            &[(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
            )],
        )
        .await;
    assert_eq!(scrape.status, 200);
    assert_eq!(
        scrape.header("content-type"),
        Some(stratacache_monitor::CONTENT_TYPE)
    );
    let openmetrics = scrape.text();
    assert!(openmetrics.trim_end().ends_with("# EOF"), "{openmetrics}");
    // Others (`text/plain; version=0.0.4`, `*/*`, nothing) get the Prometheus text format 0.0.4.
    for accept in ["text/plain; version=0.0.4", "*/*", ""] {
        let scrape = server.get("/metrics", &[("accept", accept)]).await;
        assert_eq!(
            scrape.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8"),
            "{accept}"
        );
        assert_prometheus_text(&scrape.text());
    }
    let text = server.get("/metrics", &[]).await.text();
    for line in [
        r#"stratacache_operations_total{op="set",result="ok"} 4"#,
        r#"stratacache_operations_total{op="exists",result="ok"} 3"#,
        r#"stratacache_operations_total{op="get_with_ttl",result="ok"} 3"#,
        r#"stratacache_operations_total{op="delete",result="ok"} 2"#,
        r#"stratacache_reads_total{op="get_with_ttl",result="hit"} 2"#,
        r#"stratacache_reads_total{op="get_with_ttl",result="miss"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        assert!(
            openmetrics.lines().any(|l| l == line),
            "{line} missing from:\n{openmetrics}"
        );
    }
}

#[actix_web::test]
async fn invalidation_removes_the_matching_keys_and_is_recorded_with_its_context() {
    let server = open_server().await;
    let cache = server.state.cache().clone();
    for key in ["user:1", "user:2", "item:1"] {
        cache
            .set(key, Bytes::from_static(b"v"), Ttl::Default)
            .await
            .unwrap();
    }
    let recommendations = server
        .get("/internal/cache/invalidation-recommendations", &[])
        .await;
    assert_eq!(recommendations.json(), json!({"recommendations": []}));

    let reply = server
        .send(
            "POST",
            "/internal/cache/invalidate?pattern=user:*&operation_context=user_update",
            &[],
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    insta::assert_json_snapshot!("invalidated", reply.json());
    assert!(cache.get("user:1").await.unwrap().is_none());
    assert!(cache.get("user:2").await.unwrap().is_none());
    assert!(cache.get("item:1").await.unwrap().is_some());
    // Without a context: `admin_api`.
    let reply = server
        .send("POST", "/internal/cache/invalidate?pattern=nothing*", &[], "")
        .await;
    assert_eq!(reply.json()["operation_context"], "admin_api");
    assert_eq!(reply.json()["keys_removed"], 0);

    let stats = server.get("/internal/cache/invalidation-stats", &[]).await;
    assert_eq!(stats.status, 200);
    let stats = stats.json();
    assert_eq!(
        (
            stats["total_invalidations"].as_u64(),
            stats["total_keys_invalidated"].as_u64()
        ),
        (Some(2), Some(2))
    );
    // The reference endpoint's own fields, besides ours.
    assert_eq!(stats["total_operations"], 2, "{stats}");
    assert_eq!(stats["frequency"]["hourly"], 2, "{stats}");
    assert_eq!(stats["frequency"]["daily"], 2, "{stats}");
    assert!(stats["patterns"].is_object(), "{stats}");
    assert_eq!(stats["performance"]["avg_keys_per_invalidation"], 1.0, "{stats}");
    assert!(stats["performance"]["max_duration"].is_number(), "{stats}");
    insta::assert_json_snapshot!("invalidation_stats", redact(stats));

    // Ten more invalidations of one pattern that removes nothing: dominant and inefficient.
    for _ in 0..10 {
        let reply = server
            .send("POST", "/internal/cache/invalidate?pattern=session:*", &[], "")
            .await;
        assert_eq!(reply.status, 200);
    }
    let recommendations = server
        .get("/internal/cache/invalidation-recommendations", &[])
        .await;
    assert_eq!(recommendations.status, 200);
    insta::assert_json_snapshot!("invalidation_recommendations", recommendations.json());
}

/// `?tag=` removes the entries written with the tag, answers the tag, and is recorded in the
/// invalidation analytics as the pattern `tag:<tag>`; bad tags and tag with pattern are 400s.
#[actix_web::test]
async fn invalidation_by_tag_removes_the_tagged_entries() {
    use stratacache_core::TagsExt as _;
    let server = open_server().await;
    let cache = server.state.cache().clone();
    for (key, tags) in [
        ("user:1", &["user-1"][..]),
        ("order:9", &["user-1", "orders"]),
        ("item:1", &[]),
    ] {
        cache
            .set_with_tags(key, Bytes::from_static(b"v"), Ttl::Default, tags)
            .await
            .unwrap();
    }
    let reply = server
        .send(
            "POST",
            "/internal/cache/invalidate?tag=user-1&operation_context=user_update",
            &[],
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "message": "Cache invalidated for tag: user-1",
            "pattern": "",
            "tag": "user-1",
            "keys_removed": 2,
            "operation_context": "user_update",
        })
    );
    assert!(cache.get("user:1").await.unwrap().is_none());
    assert!(cache.get("order:9").await.unwrap().is_none());
    assert!(cache.get("item:1").await.unwrap().is_some());
    let stats = server.get("/internal/cache/invalidation-stats", &[]).await.json();
    assert_eq!(stats["total_keys_invalidated"], 2, "{stats}");
    assert_eq!(stats["recent"][0]["pattern"], "tag:user-1", "{stats}");
    assert_eq!(stats["recent"][0]["operation_context"], "user_update", "{stats}");

    for (query, what) in [
        ("tag=", "empty"),
        ("tag=a%0Ab", "control character"),
        ("tag=t&pattern=user:*", "with a pattern"),
        (&*format!("tag={}", "x".repeat(257)), "too long"),
    ] {
        let reply = server
            .send("POST", &format!("/internal/cache/invalidate?{query}"), &[], "")
            .await;
        reply.assert_envelope(400, "VALIDATION_ERROR");
        assert_eq!(
            reply.json()["details"]["parameter"],
            "tag",
            "{what}: {}",
            reply.text()
        );
    }
}

#[actix_web::test]
async fn invalidate_without_a_pattern_removes_every_key() {
    let server = open_server().await;
    let cache = server.state.cache().clone();
    for path in [
        "/internal/cache/invalidate",
        "/internal/cache/invalidate?pattern=",
        "/internal/cache/invalidate?pattern=&operation_context=reset",
    ] {
        for key in ["user:1", "item:1", "x"] {
            cache
                .set(key, Bytes::from_static(b"v"), Ttl::Default)
                .await
                .unwrap();
        }
        let reply = server.send("POST", path, &[], "").await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["keys_removed"], 3, "{path}: {body}");
        assert_eq!(body["message"], "Cache invalidated for pattern: ", "{path}");
        for key in ["user:1", "item:1", "x"] {
            assert!(cache.get(key).await.unwrap().is_none(), "{path}: {key} is left");
        }
    }
}

#[actix_web::test]
async fn status_and_health_of_a_memory_cache() {
    let server = open_server().await;
    server.send("PUT", &format!("{ENTRY}/k"), &[], "value").await;
    server.get(&format!("{ENTRY}/k"), &[]).await;
    server.get(&format!("{ENTRY}/absent"), &[]).await;
    let status = server.get("/internal/cache/status", &[]).await;
    assert_eq!(status.status, 200);
    let body = status.json();
    // What the dashboard reads, with its types.
    assert_eq!(body["redis"]["status"], "unavailable");
    assert_eq!(body["security"]["configuration"]["tls_enabled"], false);
    assert_eq!(body["memory"]["entries"], 1);
    assert_eq!(body["memory"]["status"], "active");
    assert_eq!(body["performance"]["hit_ratio"], 0.5);
    assert!(body.get("ai_metrics").is_none(), "no AI cache in the web preset");
    insta::assert_json_snapshot!("status_memory", redact(body));

    let health = server.get("/internal/cache/health", &[]).await;
    assert_eq!(health.status, 200);
    let report = health.json();
    assert_eq!(
        (report["status"].as_str(), report["operation_test"].as_bool()),
        (Some("healthy"), Some(true))
    );
    insta::assert_json_snapshot!("health_memory", redact(report));
}

#[actix_web::test]
async fn the_ai_preset_reports_ai_settings() {
    let built = CacheFactory::for_ai_app(None).await.unwrap();
    let ai = std::sync::Arc::new(stratacache_factory::AiResponseCache::from_built(&built).unwrap());
    let state = stratacache_admin::AdminState::new(built, Default::default(), open_config())
        .with_ai_cache(ai.clone());
    let server = TestServer::start(state);
    let options = serde_json::Map::new();
    assert!(
        ai.get::<Value>("some text", "summarize", &options)
            .await
            .unwrap()
            .is_none()
    );
    let body = server.get("/internal/cache/status", &[]).await.json();
    let section = &body["ai_metrics"];
    assert_eq!(section["hash_algorithm"], "blake3", "{section}");
    assert!(
        section["operation_ttls"]["summarize"].as_u64().is_some(),
        "{section}"
    );
    assert_eq!(
        section["metrics"]["by_operation"]["summarize"]["misses"], 1,
        "{section}"
    );
}

#[actix_web::test]
async fn preset_disabled_with_a_redis_url_reports_redis_disconnected() {
    let mut config = CacheConfig::preset(Preset::Disabled);
    // Never connected to: the preset runs on the memory cache.
    config.redis_url = Some("redis://127.0.0.1:1".into());
    let server = TestServer::built(CacheFactory::from_config(config).await.unwrap(), open_config());
    let body = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(body["redis"]["status"], "disconnected", "{body}");
    assert_eq!(body["redis"]["configured"], true, "{body}");
    assert_eq!(body["memory"]["status"], "active", "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("127.0.0.1:1"),
        "no URL in the status of an unused Redis: {text}"
    );
}

#[actix_web::test]
async fn without_monitoring_the_metrics_endpoints_answer_503() {
    let mut config = CacheConfig::preset(Preset::Minimal);
    config.enable_monitoring = false;
    let server = TestServer::built(CacheFactory::from_config(config).await.unwrap(), open_config());
    for path in [
        "/internal/cache/metrics",
        "/metrics",
        "/internal/cache/invalidation-stats",
        "/internal/cache/invalidation-recommendations",
    ] {
        let reply = server.get(path, &[]).await;
        let envelope = reply.assert_envelope(503, "SERVICE_UNAVAILABLE");
        assert_eq!(envelope["details"]["reason"], "monitoring_disabled", "{path}");
    }
    // Everything else works; the status summarizes the cache's own counters.
    server.send("PUT", &format!("{ENTRY}/k"), &[], "v").await;
    assert_eq!(server.get(&format!("{ENTRY}/k"), &[]).await.status, 200);
    let reply = server
        .send("POST", "/internal/cache/invalidate?pattern=*", &[], "")
        .await;
    assert_eq!(reply.json()["keys_removed"], 1);
    let body = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(body["performance"]["monitoring_enabled"], false);
    insta::assert_json_snapshot!("status_unmonitored", redact(body));
    assert_eq!(server.get("/internal/cache/health", &[]).await.status, 200);
}

#[actix_web::test]
async fn invalid_requests_answer_400_with_the_parameter() {
    let server = web_server(AdminConfig {
        max_pattern_len: 16,
        ..open_config()
    })
    .await;
    let long_key = "k".repeat(MAX_KEY_LEN + 1);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "POST",
            "/internal/cache/invalidate?pattern=0123456789abcdefg".into(),
            "pattern",
        ),
        (
            "POST",
            "/internal/cache/invalidate?pattern=a%0Ab".into(),
            "pattern",
        ),
        (
            "POST",
            "/internal/cache/invalidate?pattern=a%00".into(),
            "pattern",
        ),
        (
            "POST",
            format!(
                "/internal/cache/invalidate?pattern=a&operation_context={}",
                "c".repeat(257)
            ),
            "operation_context",
        ),
        (
            "POST",
            "/internal/cache/invalidate?pattern=a&operation_context=x%07".into(),
            "operation_context",
        ),
        (
            "POST",
            "/internal/cache/invalidate?pattern=a&pattern=b".into(),
            "query",
        ),
        ("PUT", format!("{ENTRY}/k?ttl=0"), "ttl"),
        ("PUT", format!("{ENTRY}/k?ttl=-5"), "ttl"),
        ("PUT", format!("{ENTRY}/k?ttl=1.5"), "ttl"),
        ("PUT", format!("{ENTRY}/k?ttl=abc"), "ttl"),
        ("PUT", format!("{ENTRY}/k?ttl=604801"), "ttl"),
        ("PUT", format!("{ENTRY}/k?ttl="), "ttl"),
        ("PUT", format!("{ENTRY}/{long_key}"), "key"),
        ("GET", format!("{ENTRY}/{long_key}"), "key"),
        ("DELETE", format!("{ENTRY}/{long_key}"), "key"),
        ("GET", format!("{ENTRY}/a%0Ab"), "key"),
        ("PUT", format!("{ENTRY}/tab%09key"), "key"),
        // Percent-encoded bytes that are not UTF-8 are refused, not turned into U+FFFD.
        ("GET", format!("{ENTRY}/%FF"), "key"),
        ("PUT", format!("{ENTRY}/a%E2%82"), "key"),
        ("DELETE", format!("{ENTRY}/%C3"), "key"),
        (
            "POST",
            "/internal/cache/invalidate?pattern=user:%FF*".into(),
            "pattern",
        ),
        (
            "POST",
            "/internal/cache/invalidate?pattern=a&operation_context=%FE".into(),
            "operation_context",
        ),
    ];
    for (method, path, parameter) in cases {
        let reply = server.send(method, &path, &[], "v").await;
        let envelope = reply.assert_envelope(400, "VALIDATION_ERROR");
        assert_eq!(
            envelope["details"]["parameter"], parameter,
            "{method} {path}: {envelope}"
        );
    }
    // Nothing was written by the refused requests.
    assert_eq!(server.state.cache().stats().await.writes, 0);
    assert_eq!(
        server
            .state
            .monitor()
            .unwrap()
            .invalidations()
            .snapshot()
            .total_invalidations,
        0
    );
    let envelope = server
        .send("POST", "/internal/cache/invalidate?pattern=a%0Ab", &[], "")
        .await
        .assert_envelope(400, "VALIDATION_ERROR");
    insta::assert_json_snapshot!("validation_error", redact(envelope));
    // U+FFFD itself, properly encoded, is a key like any other.
    let reply = server.send("PUT", &format!("{ENTRY}/%EF%BF%BD"), &[], "v").await;
    assert_eq!(
        (reply.status, reply.json()["key"].as_str()),
        (201, Some("\u{FFFD}"))
    );
    // The limits themselves are accepted.
    let key = "k".repeat(MAX_KEY_LEN);
    assert_eq!(
        server
            .send("PUT", &format!("{ENTRY}/{key}?ttl=604800"), &[], "v")
            .await
            .status,
        201
    );
    assert_eq!(
        server
            .send("PUT", &format!("{ENTRY}/{key}?ttl=1"), &[], "v")
            .await
            .status,
        200
    );
    let reply = server
        .send(
            "POST",
            "/internal/cache/invalidate?pattern=0123456789abcdef",
            &[],
            "",
        )
        .await;
    assert_eq!(reply.status, 200);
}

#[actix_web::test]
async fn bodies_over_the_limit_answer_413() {
    let server = web_server(AdminConfig {
        max_body_bytes: 64,
        ..open_config()
    })
    .await;
    let at_limit = server
        .send("PUT", &format!("{ENTRY}/k"), &[], vec![b'a'; 64])
        .await;
    assert_eq!(at_limit.status, 201);
    assert_eq!(at_limit.json()["size_bytes"], 64);
    let over = server
        .send("PUT", &format!("{ENTRY}/k"), &[], vec![b'b'; 65])
        .await;
    let envelope = over.assert_envelope(413, "PAYLOAD_TOO_LARGE");
    insta::assert_json_snapshot!("payload_too_large", redact(envelope));
    // The entry kept its value.
    let read = server.get(&format!("{ENTRY}/k"), &[]).await.json();
    assert_eq!(read["value"], "a".repeat(64));
}

#[actix_web::test]
async fn unknown_routes_answer_404_and_wrong_methods_405_with_allow() {
    let server = open_server().await;
    for path in [
        "/",
        "/internal/cache",
        "/internal/cache/nope",
        "/internal/cache/entries",
        "/metrics/x",
    ] {
        let reply = server.get(path, &[]).await;
        let envelope = reply.assert_envelope(404, "NOT_FOUND");
        assert_eq!(envelope["details"]["path"], path);
    }
    let envelope = server.get("/nope", &[]).await.assert_envelope(404, "NOT_FOUND");
    insta::assert_json_snapshot!("route_not_found", redact(envelope));

    let cases = [
        ("POST", "/internal/cache/status", "GET"),
        ("DELETE", "/internal/cache/metrics", "GET"),
        ("PUT", "/metrics", "GET"),
        ("GET", "/internal/cache/invalidate", "POST"),
        ("PATCH", &format!("{ENTRY}/k") as &str, "GET, PUT, DELETE"),
        ("POST", &format!("{ENTRY}/k"), "GET, PUT, DELETE"),
    ];
    for (method, path, allow) in cases {
        let reply = server.send(method, path, &[], "").await;
        reply.assert_envelope(405, "METHOD_NOT_ALLOWED");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
    }
    let envelope = server
        .send("POST", "/internal/cache/status", &[], "")
        .await
        .assert_envelope(405, "METHOD_NOT_ALLOWED");
    insta::assert_json_snapshot!("method_not_allowed", redact(envelope));
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let server = web_server(AdminConfig {
        max_body_bytes: 8,
        ..open_config()
    })
    .await;
    let requests: Vec<(&str, String, &str, u16)> = vec![
        ("GET", "/internal/cache/status".into(), "", 200),
        ("GET", "/internal/cache/metrics".into(), "", 200),
        ("GET", "/metrics".into(), "", 200),
        ("GET", "/internal/cache/health".into(), "", 200),
        ("GET", "/internal/cache/openapi.json".into(), "", 200),
        ("GET", "/internal/cache/invalidation-stats".into(), "", 200),
        (
            "GET",
            "/internal/cache/invalidation-recommendations".into(),
            "",
            200,
        ),
        ("POST", "/internal/cache/invalidate?pattern=x".into(), "", 200),
        ("PUT", format!("{ENTRY}/k"), "v", 201),
        ("GET", format!("{ENTRY}/k"), "", 200),
        ("DELETE", format!("{ENTRY}/k"), "", 200),
        ("GET", format!("{ENTRY}/k"), "", 404),
        ("POST", "/internal/cache/invalidate?pattern=a%00".into(), "", 400),
        ("PUT", format!("{ENTRY}/k"), "too large!", 413),
        ("GET", "/nope".into(), "", 404),
        ("PUT", "/internal/cache/status".into(), "", 405),
    ];
    for (method, path, body, status) in requests {
        let reply = server.send(method, &path, &[], body.to_owned()).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text());
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
            ("content-security-policy", "default-src 'none'"),
        ] {
            assert_eq!(reply.header(name), Some(value), "{name} on {method} {path}");
        }
    }
}

#[actix_web::test]
async fn the_openapi_document_lists_exactly_the_mounted_routes() {
    let server = open_server().await;
    let reply = server.get("/internal/cache/openapi.json", &[]).await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc,
        serde_json::to_value(stratacache_admin::openapi_for(&open_config())).unwrap()
    );

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| {
                    matches!(
                        k.as_str(),
                        "get" | "put" | "post" | "delete" | "patch" | "head" | "options"
                    )
                })
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let mounted: BTreeSet<(String, String)> = stratacache_admin::routes()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, mounted);
    assert_eq!(mounted.len(), 12);

    // Every route of the table is really served (2xx), not the 404 of unknown routes or a 405.
    let cache = server.state.cache().clone();
    cache
        .set("some-key", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    for route in stratacache_admin::routes() {
        let path = route.path.replace("{key}", "some-key");
        let path = if path.ends_with("/invalidate") {
            format!("{path}?pattern=x")
        } else {
            path
        };
        let reply = server.send(route.method.as_str(), &path, &[], "v").await;
        assert!(
            (200..300).contains(&reply.status),
            "{} {path}: {} {}",
            route.method,
            reply.status,
            reply.text()
        );
    }
    // The key requirements of each configuration: api_auth.rs. The snapshot is the document of a
    // keyed server.
    insta::assert_json_snapshot!(
        "openapi",
        serde_json::to_value(stratacache_admin::openapi()).unwrap()
    );
}
