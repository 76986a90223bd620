//! The reference system's end-to-end scenarios (its `TestCacheInvalidationWorkflow`,
//! `TestCacheMonitoringWorkflow` and `TestPresetDrivenBehavior`, and their Redis-enhanced
//! variants), ported: the admin API served over real HTTP by actix-web, on a cache assembled by
//! the factory, in a memory-only mode and a Redis mode (a `redis-server` the test starts).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use serde_json::Value;
use stratacache_admin::{AdminConfig, AdminState, ApiKeys};
use stratacache_factory::{CacheConfig, CacheFactory, CacheRegistry, Preset};
use stratacache_testkit::redis::{RedisMode, RedisServer};

const KEY: &str = "e2e-test-key";

/// A response: status, lower-case headers, body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection.
fn request(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>, body: &str) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = auth.map_or_else(String::new, |a| format!("{a}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

const BEARER: &str = "Authorization: Bearer e2e-api-key";

/// A server on its own port and actix system, stopped on drop.
struct Server {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn serve(config: CacheConfig) -> Server {
    let built = CacheFactory::from_config(config).await.unwrap();
    let admin = AdminConfig {
        keys: ApiKeys::new(["e2e-api-key".to_owned()]),
        ..AdminConfig::default()
    };
    let state = AdminState::new(built, Arc::new(CacheRegistry::default()), admin);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || stratacache_admin::app(state.clone()))
                .workers(1)
                .bind(("127.0.0.1", 0))
                .unwrap();
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).unwrap();
            server.await.unwrap();
        });
    });
    let (addr, handle) = rx.recv().unwrap();
    Server { addr, handle }
}

/// The two modes: memory only, and Redis (`None` when redis-server is missing and not required).
enum Mode {
    Memory,
    Redis(Box<RedisServer>),
}

impl Mode {
    fn config(&self, preset: Preset) -> CacheConfig {
        let mut config = CacheConfig::preset(preset);
        config.environment = stratacache_factory::Environment::Testing;
        if let Self::Redis(server) = self {
            config.redis_url = Some(server.url().into());
            config.namespace = stratacache_testkit::redis::unique_namespace("e2e");
        }
        config
    }

    fn redis() -> Option<Self> {
        RedisServer::start_or_skip(RedisMode::Plain).map(|s| Self::Redis(Box::new(s)))
    }
}

async fn invalidation_workflow(mode: &Mode) {
    let server = serve(mode.config(Preset::Development)).await;
    let addr = server.addr;
    // Invalidation requires authentication, and says so without detail.
    let r = request(
        addr,
        "POST",
        "/internal/cache/invalidate?pattern=user:*",
        None,
        "",
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.json()["error_code"], "AUTHENTICATION_ERROR");
    let r = request(
        addr,
        "POST",
        "/internal/cache/invalidate?pattern=user:*",
        Some("X-API-Key: wrong"),
        "",
    );
    assert_eq!(r.status, 401);
    // Seed entries through the API.
    for key in ["user:1", "user:2", "item:1"] {
        let r = request(
            addr,
            "PUT",
            &format!("/internal/cache/entries/{key}"),
            Some(BEARER),
            "value",
        );
        assert!(r.status == 200 || r.status == 201, "{}: {}", r.status, r.body);
    }
    // Pattern validation (an empty pattern means every key, as in the reference).
    let r = request(
        addr,
        "POST",
        "/internal/cache/invalidate?pattern=a%00",
        Some(BEARER),
        "",
    );
    assert_eq!(
        (r.status, r.json()["error_code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    let long = "x".repeat(1_000);
    let r = request(
        addr,
        "POST",
        &format!("/internal/cache/invalidate?pattern={long}"),
        Some(BEARER),
        "",
    );
    assert_eq!(r.status, 400);
    // The invalidation removes the matching entries only.
    let r = request(
        addr,
        "POST",
        "/internal/cache/invalidate?pattern=user:*&operation_context=user_update",
        Some(BEARER),
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["message"], "Cache invalidated for pattern: user:*");
    assert_eq!(
        request(addr, "GET", "/internal/cache/entries/user:1", Some(BEARER), "").status,
        404
    );
    assert_eq!(
        request(addr, "GET", "/internal/cache/entries/item:1", Some(BEARER), "").status,
        200
    );
    // The statistics saw it, with its context.
    let stats = request(addr, "GET", "/internal/cache/invalidation-stats", None, "").json();
    assert_eq!(stats["total_invalidations"], 1);
    assert_eq!(stats["total_keys_invalidated"], 2);
    assert!(stats.to_string().contains("user_update"), "{stats}");
    let recs = request(
        addr,
        "GET",
        "/internal/cache/invalidation-recommendations",
        None,
        "",
    )
    .json();
    assert!(recs["recommendations"].is_array(), "{recs}");
}

async fn monitoring_workflow(mode: &Mode) {
    let server = serve(mode.config(Preset::Simple)).await;
    let addr = server.addr;
    let before = request(addr, "GET", "/internal/cache/metrics", None, "").json();
    for field in [
        "timestamp",
        "retention_hours",
        "cache_hit_rate",
        "total_cache_operations",
        "cache_hits",
        "cache_misses",
        "key_generation",
        "cache_operations",
        "compression",
        "memory_usage",
        "invalidation",
    ] {
        assert!(before.get(field).is_some(), "metrics lack {field}: {before}");
    }
    // Operations through the entry endpoints are measured by the one monitor the server holds.
    request(
        addr,
        "PUT",
        &format!("/internal/cache/entries/{KEY}"),
        Some(BEARER),
        "v",
    );
    for _ in 0..3 {
        assert_eq!(
            request(
                addr,
                "GET",
                &format!("/internal/cache/entries/{KEY}"),
                Some(BEARER),
                ""
            )
            .status,
            200
        );
    }
    assert_eq!(
        request(addr, "GET", "/internal/cache/entries/absent", Some(BEARER), "").status,
        404
    );
    let after = request(addr, "GET", "/internal/cache/metrics", None, "").json();
    let hits = after["cache_hits"].as_u64().unwrap() - before["cache_hits"].as_u64().unwrap();
    let misses = after["cache_misses"].as_u64().unwrap() - before["cache_misses"].as_u64().unwrap();
    assert!(hits >= 3 && misses >= 1, "hits {hits}, misses {misses}: {after}");
    assert!(
        after["cache_operations"]["by_operation_type"]["set"]["count"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // Consistent between calls: a monitor is not rebuilt per request.
    let again = request(addr, "GET", "/internal/cache/metrics", None, "").json();
    assert_eq!(again["cache_hits"], after["cache_hits"]);
    // Prometheus agrees.
    let prom = request(addr, "GET", "/metrics", None, "");
    assert_eq!(prom.status, 200);
    assert!(
        prom.body
            .contains("stratacache_reads_total{op=\"get\",result=\"hit\"}"),
        "{}",
        prom.body
    );
    // Health.
    let health = request(addr, "GET", "/internal/cache/health", None, "");
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "healthy");
}

async fn preset_driven_behaviour(mode: &Mode) {
    for (preset, ttl) in [
        (Preset::Development, 600),
        (Preset::Simple, 3_600),
        (Preset::Minimal, 900),
    ] {
        let config = mode.config(preset);
        let monitoring = config.enable_monitoring;
        let server = serve(config).await;
        let addr = server.addr;
        let status = request(addr, "GET", "/internal/cache/status", None, "").json();
        let connected = status["redis"]["status"] == "connected";
        assert_eq!(connected, matches!(mode, Mode::Redis(_)), "{status}");
        assert_eq!(status["security"]["configuration"]["tls_enabled"], false);
        // The preset's default TTL applies to entries written without one.
        request(
            addr,
            "PUT",
            &format!("/internal/cache/entries/{KEY}"),
            Some(BEARER),
            "v",
        );
        let entry = request(
            addr,
            "GET",
            &format!("/internal/cache/entries/{KEY}"),
            Some(BEARER),
            "",
        )
        .json();
        let left = entry["ttl_seconds"].as_f64().unwrap();
        assert!(
            left <= f64::from(ttl) && left > f64::from(ttl) - 5.0,
            "{preset}: {entry}"
        );
        // Presets without monitoring say so instead of reporting zeros.
        let metrics = request(addr, "GET", "/internal/cache/metrics", None, "");
        assert_eq!(metrics.status == 200, monitoring, "{preset}: {}", metrics.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_workflow_memory() {
    invalidation_workflow(&Mode::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_workflow_redis() {
    let Some(mode) = Mode::redis() else { return };
    invalidation_workflow(&mode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_workflow_memory() {
    monitoring_workflow(&Mode::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_workflow_redis() {
    let Some(mode) = Mode::redis() else { return };
    monitoring_workflow(&mode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preset_driven_behaviour_memory() {
    preset_driven_behaviour(&Mode::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preset_driven_behaviour_redis() {
    let Some(mode) = Mode::redis() else { return };
    preset_driven_behaviour(&mode).await;
}
