//! What the factory builds: each preset's observable behaviour (TTL, memory bound, compression,
//! monitoring, AI TTLs), the entry points' isolation, the stack over real Redis servers, degraded
//! starts, and the errors that must not degrade.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Map, json};
use stratacache_core::{Bytes, Cache, CacheStats, ErrorKind, Expiry, Ttl};
use stratacache_factory::failover::FailoverState;
use stratacache_factory::{
    AiResponseCache, Backend, CacheConfig, CacheFactory, Environment, HashAlgorithm, Preset, ServerAuth,
};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::redis::{RedisMode, RedisServer};
use stratacache_testkit::redis_server_or_skip;

fn find<'a>(stats: &'a CacheStats, backend: &str) -> Option<&'a CacheStats> {
    if stats.backend == backend {
        return Some(stats);
    }
    stats.inner.iter().find_map(|s| find(s, backend))
}

fn secs(expiry: Option<Expiry>) -> u64 {
    match expiry {
        Some(Expiry::After(d)) => d.as_secs_f64().round() as u64,
        other => panic!("expected a finite TTL, got {other:?}"),
    }
}

/// A compressible value of `len` bytes.
fn compressible(len: usize) -> Bytes {
    Bytes::from("stratacache ".repeat(len / 12 + 1)[..len].to_owned())
}

#[tokio::test]
async fn every_preset_behaves_as_configured_on_memory() {
    for preset in Preset::ALL {
        let config = CacheConfig::preset(preset);
        let built = CacheFactory::from_config(config.clone()).await.unwrap();
        assert_eq!(built.backend, Backend::Memory, "{preset}");
        assert!(built.degraded.is_none());
        // Monitoring only where the preset asks for it.
        assert_eq!(built.monitor.is_some(), config.enable_monitoring, "{preset}");
        assert_eq!(
            built.layers.get(1) == Some(&"monitoring"),
            config.enable_monitoring,
            "{preset}"
        );
        // get_or_compute on every stack, outermost.
        assert_eq!(built.layers.first(), Some(&"compute"), "{preset}");
        // The default TTL is applied.
        built
            .cache
            .set("k", Bytes::from_static(b"v"), Ttl::Default)
            .await
            .unwrap();
        assert_eq!(
            secs(built.cache.ttl("k").await.unwrap()),
            config.default_ttl.as_secs(),
            "{preset}"
        );
        // Compression above the threshold only.
        built
            .cache
            .set(
                "big",
                compressible(config.compression_threshold + 200),
                Ttl::Default,
            )
            .await
            .unwrap();
        built
            .cache
            .set(
                "small",
                compressible(config.compression_threshold - 50),
                Ttl::Default,
            )
            .await
            .unwrap();
        let stats = built.cache.stats().await;
        let compression = find(&stats, "compression")
            .and_then(|s| s.compression)
            .or(stats.compression)
            .unwrap_or_else(|| panic!("{preset}: no compression stats in {stats:?}"));
        assert_eq!(
            compression.compressed, 1,
            "{preset}: only the value above the threshold"
        );
        // The memory bound.
        let memory = find(&stats, "memory").unwrap();
        assert_eq!(memory.max_entries, Some(config.memory_cache_size), "{preset}");
        built.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_memory_bound_evicts_beyond_memory_cache_size() {
    let mut config = CacheConfig::preset(Preset::Disabled); // 10 entries
    config.compression_threshold = 100;
    let built = CacheFactory::from_config(config).await.unwrap();
    for i in 0..200 {
        built
            .cache
            .set(&format!("k{i}"), Bytes::from_static(b"v"), Ttl::Default)
            .await
            .unwrap();
    }
    let stats = built.cache.stats().await;
    let memory = find(&stats, "memory").unwrap();
    assert!(memory.entries.unwrap() <= 10, "{memory:?}");
}

#[tokio::test]
async fn ai_presets_apply_their_operation_ttls_on_write() {
    for preset in [Preset::AiDevelopment, Preset::AiProduction] {
        let config = CacheConfig::preset(preset);
        let built = CacheFactory::from_config(config.clone()).await.unwrap();
        let ai = AiResponseCache::from_built(&built).unwrap();
        let options = Map::new();
        for (op, ttl) in &config.ai.operation_ttls {
            let applied = ai
                .set("some text", op, &options, &json!({"r": op}))
                .await
                .unwrap();
            assert_eq!(applied, *ttl, "{preset} {op}");
            let key = ai.key("some text", op, &options).unwrap();
            assert_eq!(
                secs(built.cache.ttl(&key).await.unwrap()),
                ttl.as_secs(),
                "{preset} {op}"
            );
        }
        // An operation without its own TTL gets the default.
        assert_eq!(
            ai.set("t", "translate", &options, &"x").await.unwrap(),
            config.default_ttl
        );
        // Above the maximum text length: an input error, nothing stored.
        let long = "x".repeat(config.ai.max_text_length + 1);
        let err = ai.set(&long, "summarize", &options, &"x").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        // Per-operation metrics and invalidation by operation.
        let hit: Option<serde_json::Value> = ai.get("some text", "qa", &options).await.unwrap();
        assert_eq!(hit, Some(json!({"r": "qa"})));
        let miss: Option<serde_json::Value> = ai.get("other text", "qa", &options).await.unwrap();
        assert!(miss.is_none());
        let m = ai.metrics();
        assert_eq!((m.by_operation["qa"].hits, m.by_operation["qa"].misses), (1, 1));
        assert_eq!(m.by_operation["qa"].hit_ratio, Some(0.5));
        assert_eq!(
            m.by_text_tier["small"].sets,
            config.ai.operation_ttls.len() as u64 + 1
        );
        assert_eq!(ai.invalidate_by_operation("summarize").await.unwrap(), 1);
        assert_eq!(ai.invalidate_by_operation("summarize").await.unwrap(), 0);
        assert_eq!(ai.metrics().invalidated["summarize"], 1);
        // Key generation is timed by the monitor.
        let snapshot = built.monitor.as_ref().unwrap().snapshot(None);
        assert!(snapshot.key_generation.total_operations > 0);
    }
}

#[tokio::test]
async fn ai_key_settings_take_effect() {
    let mut config = CacheConfig::ai_app();
    // Hashed keys: no text.
    let built = CacheFactory::from_config(config.clone()).await.unwrap();
    let ai = AiResponseCache::from_built(&built).unwrap();
    let key = ai.key("Sample document", "summarize", &Map::new()).unwrap();
    assert!(
        key.starts_with("ai:v1:summarize:") && !key.contains("Sample"),
        "{key}"
    );
    // The reference scheme, with its text hash threshold.
    config.ai.hash_algorithm = HashAlgorithm::Sha256;
    config.ai.text_hash_threshold = 100;
    let built = CacheFactory::from_config(config.clone()).await.unwrap();
    let ai = AiResponseCache::from_built(&built).unwrap();
    let short = ai.key("Sample document", "summarize", &Map::new()).unwrap();
    assert!(
        short.starts_with("ai_cache:op:summarize|txt:Sample document"),
        "{short}"
    );
    let long = ai.key(&"word ".repeat(30), "summarize", &Map::new()).unwrap();
    assert!(
        !long.contains("word word"),
        "a text above the threshold is hashed: {long}"
    );
    // Text tiers.
    config.ai.text_size_tiers = stratacache_factory::TierSizes {
        small: 5,
        medium: 10,
        large: 20,
    };
    let ai = AiResponseCache::from_built(&CacheFactory::from_config(config.clone()).await.unwrap()).unwrap();
    assert_eq!(ai.tier_of("1234567").to_string(), "medium");
    assert_eq!(ai.tier_of(&"x".repeat(21)).to_string(), "xlarge");
    // AI off: no AI cache.
    config.enable_ai_cache = false;
    let err = AiResponseCache::from_built(&CacheFactory::from_config(config).await.unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.to_string().contains("ENABLE_AI_CACHE"), "{err}");
}

#[tokio::test]
async fn entry_points_have_their_reference_settings() {
    let web = CacheFactory::for_web_app(None).await.unwrap();
    assert_eq!(
        (web.config.default_ttl.as_secs(), web.config.memory_cache_size),
        (1_800, 200)
    );
    assert_eq!(
        (web.config.compression_threshold, web.config.compression_level),
        (2_000, 6)
    );
    let ai = CacheFactory::for_ai_app(None).await.unwrap();
    assert_eq!(
        (ai.config.default_ttl.as_secs(), ai.config.memory_cache_size),
        (3_600, 100)
    );
    assert_eq!(ai.config.ai.text_hash_threshold, 500);
    assert!(ai.config.enable_ai_cache);
    let test = CacheFactory::for_testing(None).await.unwrap();
    assert_eq!(
        (test.config.default_ttl.as_secs(), test.config.compression_level),
        (60, 1)
    );
    assert_eq!(test.config.redis_database, Some(15));
    assert_eq!(test.config.environment, Environment::Testing);
    assert_eq!(
        [
            web.config.namespace.as_str(),
            ai.config.namespace.as_str(),
            test.config.namespace.as_str()
        ],
        ["web", "ai", "test"]
    );
}

#[tokio::test]
async fn an_encryption_key_adds_the_encryption_layer() {
    let mut config = CacheConfig::preset(Preset::Simple);
    config.encryption.key = Some(stratacache_factory::Secret::new(
        stratacache_crypto::generate_key(),
    ));
    let built = CacheFactory::from_config(config).await.unwrap();
    assert_eq!(
        built.layers,
        ["compute", "monitoring", "compression", "encryption", "memory"]
    );
    built
        .cache
        .set("k", Bytes::from_static(b"secret value"), Ttl::Default)
        .await
        .unwrap();
    assert_eq!(
        built.cache.get("k").await.unwrap().as_deref(),
        Some(&b"secret value"[..])
    );
    let stats = built.cache.stats().await;
    let encryption = find(&stats, "encryption")
        .and_then(|s| s.encryption)
        .or(stats.encryption);
    assert_eq!(encryption.unwrap().encrypted, 1);
}

fn testing_config(server: &RedisServer) -> CacheConfig {
    let mut config = CacheConfig::testing();
    config.redis_url = Some(server.url().into());
    config.namespace = stratacache_testkit::redis::unique_namespace("factory");
    config
}

#[tokio::test]
async fn the_testing_cache_uses_database_15_and_its_namespace_on_redis() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let built = CacheFactory::for_testing(Some(server.url())).await.unwrap();
    assert_eq!(built.backend, Backend::Redis);
    assert_eq!(
        built.layers,
        ["compute", "monitoring", "compression", "failover", "redis"]
    );
    let status = built.redis.as_ref().unwrap().status().await;
    assert_eq!((status.database, status.namespace.as_str()), (15, "test"));
    built
        .cache
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    // The key is in database 15 under `test:`, not in database 0.
    let mut raw = RedisConfig::new(format!("{}/15", server.url()));
    raw.namespace = "test".into();
    let in_15 = RedisCache::connect(raw).await.unwrap();
    assert!(in_15.exists("k").await.unwrap());
    let mut raw = RedisConfig::new(server.url().to_owned());
    raw.namespace = "test".into();
    assert!(!RedisCache::connect(raw).await.unwrap().exists("k").await.unwrap());
    built.close().await.unwrap();
}

#[tokio::test]
async fn web_and_ai_caches_on_one_redis_are_isolated() {
    let server = redis_server_or_skip!(RedisMode::Password);
    let url = format!(
        "redis://:{}@{}:{}",
        server.password().unwrap(),
        server.host(),
        server.port()
    );
    let web = CacheFactory::for_web_app(Some(&url)).await.unwrap();
    let ai = CacheFactory::for_ai_app(Some(&url)).await.unwrap();
    assert_eq!(web.backend, Backend::Tiered);
    web.cache
        .set("same", Bytes::from_static(b"web"), Ttl::Default)
        .await
        .unwrap();
    ai.cache
        .set("same", Bytes::from_static(b"ai"), Ttl::Default)
        .await
        .unwrap();
    assert_eq!(web.cache.get("same").await.unwrap().as_deref(), Some(&b"web"[..]));
    assert_eq!(ai.cache.get("same").await.unwrap().as_deref(), Some(&b"ai"[..]));
    assert_eq!(web.cache.invalidate_pattern("*").await.unwrap(), 1);
    assert_eq!(ai.cache.get("same").await.unwrap().as_deref(), Some(&b"ai"[..]));
}

#[tokio::test]
async fn max_connections_sets_the_connections_redis_sees() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let mut config = testing_config(&server);
    config.max_connections = 5;
    let built = CacheFactory::from_config(config).await.unwrap();
    let clients = built
        .redis
        .as_ref()
        .unwrap()
        .status()
        .await
        .connected_clients
        .unwrap();
    // Five pooled connections (the status query runs on one of them).
    assert_eq!(clients, 5, "connected clients");
}

#[tokio::test]
async fn smart_promotion_decides_whether_redis_hits_reach_the_memory_tier() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    for promote in [true, false] {
        let mut config = testing_config(&server);
        config.enable_l1_cache = true;
        config.enable_ai_cache = true;
        config.ai.enable_smart_promotion = promote;
        // This is about the promotion decision alone: with fleet invalidation the writer's
        // announcement (or the first subscription's flush) may drop the promoted copy just after
        // the read, which is right but not what is counted here.
        config.fleet_invalidation = false;
        let built = CacheFactory::from_config(config.clone()).await.unwrap();
        assert_eq!(built.backend, Backend::Tiered);
        // Another instance writes straight to Redis; this one reads it.
        let writer = CacheFactory::from_config(config).await.unwrap();
        writer
            .cache
            .set("shared", Bytes::from_static(b"v"), Ttl::Default)
            .await
            .unwrap();
        let before = find(&built.cache.stats().await, "tiered").unwrap().inner[0].entries;
        assert_eq!(
            built.cache.get("shared").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        let after = find(&built.cache.stats().await, "tiered").unwrap().inner[0].entries;
        assert_eq!(before, Some(0));
        assert_eq!(after, Some(u64::from(promote)), "promotion {promote}");
    }
}

#[tokio::test]
async fn an_unreachable_redis_degrades_to_memory_and_comes_back() {
    let mut server = RedisServer::builder(RedisMode::Plain).local().start_or_skip();
    let Some(server) = server.as_mut() else { return };
    let config = testing_config(server);
    server.stop();
    let built = CacheFactory::from_config(config.clone()).await.unwrap();
    let reason = built.degraded.clone().unwrap();
    assert!(
        reason.contains(server.url()) && reason.contains("memory fallback"),
        "{reason}"
    );
    // It works, on memory.
    built
        .cache
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    assert_eq!(built.cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    let failover = built.failover.clone().unwrap();
    assert_eq!(failover.state(), FailoverState::Fallback);
    // Redis comes back: the cache returns to it by itself.
    server.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while failover.state() != FailoverState::Primary {
        assert!(std::time::Instant::now() < deadline, "never returned to Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    built
        .cache
        .set("after", Bytes::from_static(b"redis"), Ttl::Default)
        .await
        .unwrap();
    let mut raw = RedisConfig::new(format!("{}/15", server.url()));
    raw.namespace.clone_from(&config.namespace);
    assert!(
        RedisCache::connect(raw)
            .await
            .unwrap()
            .exists("after")
            .await
            .unwrap()
    );
    built.close().await.unwrap();
}

#[tokio::test]
async fn fail_on_connection_error_names_the_url_and_the_cache_type() {
    let mut server = RedisServer::builder(RedisMode::Plain).local().start_or_skip();
    let Some(server) = server.as_mut() else { return };
    let mut config = testing_config(server);
    config.fail_on_connection_error = true;
    server.stop();
    let err = CacheFactory::from_config(config).await.unwrap_err();
    let text = err.to_string();
    assert!(err.kind().is_temporary(), "{err:?}");
    assert!(text.contains(server.url()), "{text}");
    assert!(text.contains("Redis cache"), "{text}");
}

#[tokio::test]
async fn a_wrong_password_fails_instead_of_degrading() {
    let server = redis_server_or_skip!(RedisMode::Password);
    let mut config = CacheConfig::web_app();
    config.redis_url = Some(server.url().into());
    config.redis_password = Some(stratacache_factory::Secret::new("wrong-password"));
    let err = CacheFactory::from_config(config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(!err.to_string().contains("wrong-password"), "{err}");
}

fn env_of(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
}

/// The environment of the `simple` preset on the ACL-mode `server`, its user's credentials
/// included, then `more`.
fn acl_env(server: &RedisServer, more: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("CACHE_PRESET", "simple".into()),
        ("CACHE_REDIS_URL", server.url().to_owned()),
        ("REDIS_ACL_USERNAME", server.username().unwrap().to_owned()),
        ("REDIS_ACL_PASSWORD", server.password().unwrap().to_owned()),
    ];
    vars.extend(more);
    vars
}

/// URL credentials, the ACL password and the encryption keys never show in a built cache's
/// `Debug` (its configuration, its degradation reason) nor in its Redis status.
#[tokio::test]
async fn secrets_never_show_in_built_caches() {
    let (key, older) = (
        stratacache_crypto::generate_key(),
        stratacache_crypto::generate_key(),
    );
    let password = redis_server_or_skip!(RedisMode::Password);
    let acl = redis_server_or_skip!(RedisMode::Acl);
    let pw = password.password().unwrap();
    let with_creds = format!("redis://:{pw}@{}:{}", password.host(), password.port());
    let dead = format!("redis://:{pw}@127.0.0.1:1");
    let keys = [
        ("REDIS_ENCRYPTION_KEY", key.clone()),
        ("REDIS_ENCRYPTION_KEYS", older.clone()),
    ];
    let cases = [
        vec![("CACHE_REDIS_URL", with_creds)],
        vec![("CACHE_REDIS_URL", dead)],
        vec![
            ("CACHE_REDIS_URL", acl.url().to_owned()),
            ("REDIS_ACL_USERNAME", acl.username().unwrap().to_owned()),
            ("REDIS_ACL_PASSWORD", acl.password().unwrap().to_owned()),
        ],
    ];
    for vars in cases {
        let mut vars = vars;
        vars.push(("CACHE_PRESET", "simple".into()));
        vars.extend(keys.iter().cloned());
        let config = CacheConfig::from_env_with(env_of(vars)).unwrap();
        let built = CacheFactory::from_config(config).await.unwrap();
        let mut shown = format!("{built:?}");
        if let Some(redis) = &built.redis {
            let status = redis.status().await;
            shown.push_str(&format!(
                "{redis:?} {status:?} {}",
                serde_json::to_string(&status).unwrap()
            ));
        }
        for secret in [pw, acl.password().unwrap(), key.as_str(), older.as_str()] {
            assert!(!shown.contains(secret), "a secret shows: {shown}");
        }
        assert!(shown.contains("encryption"), "{shown}");
        built.close().await.unwrap();
    }
}

/// The Redis variables reach a real server: an ACL user, then mutual TLS with the CA and the
/// client certificate from the environment.
#[tokio::test]
async fn redis_environment_variables_reach_the_server() {
    let acl = redis_server_or_skip!(RedisMode::Acl);
    let config = CacheConfig::from_env_with(env_of(acl_env(&acl, vec![]))).unwrap();
    let built = CacheFactory::from_config(config).await.unwrap();
    assert!(!built.is_degraded());
    let status = built.redis.as_ref().unwrap().status().await;
    assert_eq!(status.auth, stratacache_redis::AuthMethod::Acl);

    let tls = redis_server_or_skip!(RedisMode::MutualTls);
    let files = tls.tls().unwrap();
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let config = CacheConfig::from_env_with(env_of(vec![
        ("ENVIRONMENT", "testing".into()),
        ("CACHE_REDIS_URL", tls.url().to_owned()),
        ("REDIS_TLS_CA_PATH", path(&files.ca_cert)),
        ("REDIS_TLS_CERT_PATH", path(files.client_cert.as_deref().unwrap())),
        ("REDIS_TLS_KEY_PATH", path(files.client_key.as_deref().unwrap())),
        ("REDIS_SECURITY_REQUIRE_TLS", "true".into()),
    ]))
    .unwrap();
    let built = CacheFactory::from_config(config.clone()).await.unwrap();
    assert!(built.redis.as_ref().unwrap().status().await.tls);
    built
        .cache
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    // Without the client certificate the server refuses: an error, not a silent memory cache.
    let mut no_cert = config;
    no_cert.tls_cert_path = None;
    no_cert.tls_key_path = None;
    assert!(CacheFactory::from_config(no_cert).await.is_err());
}

/// `BuiltCache::server` (what the admin API's status reads) reports the Redis connected at start
/// as plain data, with the figures `RedisCache` reports; a degraded start has no server.
#[tokio::test]
async fn the_server_of_a_built_cache_reports_what_redis_reports() {
    let acl = redis_server_or_skip!(RedisMode::Acl);
    let custom = json!({"namespace": stratacache_testkit::redis::unique_namespace("server")});
    let config = CacheConfig::from_env_with(env_of(acl_env(
        &acl,
        vec![("CACHE_CUSTOM_CONFIG", custom.to_string())],
    )))
    .unwrap();
    let built = CacheFactory::from_config(config).await.unwrap();
    let redis = built.redis.as_ref().unwrap();
    built
        .cache
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    let server = built.server().unwrap();
    let ours = server.server_status().await;
    let theirs = redis.server_status().await;
    assert!(ours.connected, "{ours:?}");
    assert_eq!(ours.auth, ServerAuth::Acl);
    assert_eq!(serde_json::to_value(ours.auth).unwrap(), json!("acl"));
    assert_eq!(
        (
            &ours.version,
            &ours.url,
            ours.database,
            &ours.namespace,
            ours.tls,
            &ours.error
        ),
        (
            &theirs.version,
            &theirs.url,
            theirs.database,
            &theirs.namespace,
            theirs.tls,
            &theirs.error
        )
    );
    assert_eq!(ours.keys_in_namespace, None);
    assert!(
        ours.used_memory_bytes.is_some() && ours.connected_clients.is_some(),
        "{ours:?}"
    );
    assert_eq!(server.count_keys().await.unwrap(), 1);
    built.close().await.unwrap();

    let mut degraded = CacheConfig::testing();
    degraded.redis_url = Some("redis://127.0.0.1:1".into());
    let built = CacheFactory::from_config(degraded).await.unwrap();
    assert!(built.is_degraded());
    assert!(built.server().is_none());
    built.close().await.unwrap();
}

#[tokio::test]
async fn a_registry_shares_and_shuts_down_built_caches() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let registry = stratacache_factory::CacheRegistry::default();
    let built = CacheFactory::from_config(testing_config(&server)).await.unwrap();
    registry.register_with_closer("web", built.cache.clone(), built.closer());
    let shared = registry.get("web").unwrap();
    shared
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    let report = registry.shutdown().await;
    assert_eq!((report.total_entries, report.disconnected_caches), (1, 1));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(built.redis.as_ref().unwrap().is_closed());
    assert!(registry.get("web").is_none());
}

#[tokio::test]
async fn invalidations_with_context_reach_the_monitor() {
    let built = CacheFactory::for_web_app(None).await.unwrap();
    for k in ["user:1", "user:2", "item:1"] {
        built
            .cache
            .set(k, Bytes::from_static(b"v"), Ttl::Default)
            .await
            .unwrap();
    }
    assert_eq!(
        built
            .invalidate_pattern_with_context("user:*", "user_update")
            .await
            .unwrap(),
        2
    );
    let stats = built.monitor.as_ref().unwrap().invalidations().snapshot();
    assert_eq!((stats.total_invalidations, stats.total_keys_invalidated), (1, 2));
    let json = serde_json::to_string(&stats).unwrap();
    assert!(json.contains("user_update"), "{json}");
    // Without monitoring it still invalidates.
    let mut config = CacheConfig::preset(Preset::Minimal);
    config.enable_monitoring = false;
    let built = CacheFactory::from_config(config).await.unwrap();
    built
        .cache
        .set("a", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    assert_eq!(built.invalidate_pattern_with_context("*", "x").await.unwrap(), 1);
}

/// The failover's probe is allowed as long as an operation (`command_timeout` plus the retry
/// budget): with a shorter one, a Redis that serves operations in time would never pass the probe
/// and an open circuit would never close.
#[tokio::test]
async fn the_failover_probe_is_as_patient_as_an_operation() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let mut config = testing_config(&server);
    config.namespace = config.namespace.trim_end_matches(':').to_owned();
    config.command_timeout = Duration::from_millis(800);
    let built = CacheFactory::from_config(config).await.unwrap();
    let failover = built.failover.clone().unwrap();
    assert_eq!(
        failover.config().probe_timeout,
        Duration::from_millis(850),
        "command_timeout 800 ms + the default retry budget of 50 ms"
    );
    built.close().await.unwrap();
}
