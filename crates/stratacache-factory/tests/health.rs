//! Health reports: memory and Redis caches, a frozen (SIGSTOP) and a stopped Redis, degraded and
//! hanging caches, and the JSON shape of the report.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use stratacache_core::{
    Bytes, Cache, CacheStats, Expiry, Health, HealthStatus, Result, SharedCache, Ttl, async_trait,
};
use stratacache_factory::health::{HealthCheck, HealthReport, PROBE_KEY_PREFIX, check_health};
use stratacache_memory::MemoryCache;

/// A deadline generous enough for a loaded test machine, where the point is not the timeout.
fn patient() -> HealthCheck {
    HealthCheck {
        timeout: Duration::from_secs(5),
        ..HealthCheck::default()
    }
}

fn memory() -> MemoryCache {
    MemoryCache::new(1_000).unwrap()
}

/// How a [`Scripted`] cache misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    /// `health` says degraded, with a message.
    Degraded,
    /// `health` never answers.
    HangingPing,
    /// `get` never answers.
    HangingGet,
    /// `get` returns other bytes than were written.
    StaleGet,
    /// `stats` never answers.
    HangingStats,
    /// `health` answers after [`SLOW_PING`].
    SlowPing,
}

/// How long a [`Script::SlowPing`] ping takes.
const SLOW_PING: Duration = Duration::from_millis(40);

/// A memory cache with one misbehaviour.
struct Scripted {
    inner: MemoryCache,
    script: Script,
}

impl Scripted {
    fn new(script: Script) -> Self {
        Self {
            inner: memory(),
            script,
        }
    }
}

#[async_trait]
impl Cache for Scripted {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self.script {
            Script::HangingGet => std::future::pending().await,
            Script::StaleGet => Ok(Some(Bytes::from_static(b"an older value"))),
            _ => self.inner.get(key).await,
        }
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        self.inner.exists(key).await
    }
    async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
        self.inner.ttl(key).await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        self.inner.invalidate_pattern(pattern).await
    }
    async fn clear(&self) -> Result<()> {
        self.inner.clear().await
    }
    async fn health(&self) -> Health {
        match self.script {
            Script::Degraded => Health::new("scripted", HealthStatus::Degraded)
                .with_message("serving from the memory fallback"),
            Script::HangingPing => std::future::pending().await,
            Script::SlowPing => {
                tokio::time::sleep(SLOW_PING).await;
                Health::healthy("scripted")
            }
            _ => Health::healthy("scripted"),
        }
    }
    async fn stats(&self) -> CacheStats {
        if self.script == Script::HangingStats {
            return std::future::pending().await;
        }
        let mut stats = self.inner.stats().await;
        stats.backend = "scripted".into();
        stats
    }
}

fn assert_clean(report: &HealthReport) {
    assert_eq!(report.status, HealthStatus::Healthy, "{report:#?}");
    assert!(report.ping_available && report.ping_success, "{report:#?}");
    assert!(report.operation_test, "{report:#?}");
    assert!(
        report.errors.is_empty() && report.warnings.is_empty(),
        "{report:#?}"
    );
}

/// `check_duration_ms` measures the check, in milliseconds: a ping that sleeps 40 ms makes it at
/// least 40 (a lower bound only: no assumption on how fast the machine is).
#[tokio::test]
async fn check_duration_covers_a_slow_ping_in_milliseconds() {
    let report = patient().check(&Scripted::new(Script::SlowPing)).await;
    assert_clean(&report);
    let floor = SLOW_PING.as_secs_f64() * 1000.0;
    assert!(
        report.check_duration_ms >= floor,
        "{} ms measured for a {floor} ms ping",
        report.check_duration_ms
    );
}

#[tokio::test]
async fn memory_cache_is_healthy() {
    let cache = memory();
    let report = patient().check(&cache).await;
    assert_clean(&report);
    assert_eq!(report.cache_type, "memory");
    let stats = report.statistics.as_ref().expect("statistics");
    assert_eq!(stats.backend, "memory");
    assert!(
        report.check_duration_ms > 0.0 && report.check_duration_ms.is_finite(),
        "{report:#?}"
    );
    // The probe went through the cache (one write) and cleaned up after itself.
    let after = cache.stats().await;
    assert_eq!((after.writes, after.hits, after.removals), (1, 1, 1));
    assert_eq!(after.entries, Some(0));
}

#[tokio::test]
async fn without_the_probe_nothing_is_written() {
    let cache = memory();
    let check = HealthCheck {
        operation_probe: false,
        ..patient()
    };
    let report = check.check(&cache).await;
    assert_eq!(report.status, HealthStatus::Healthy, "{report:#?}");
    assert!(!report.operation_test);
    assert_eq!(cache.stats().await.writes, 0);
}

#[tokio::test]
async fn a_cache_that_says_degraded_is_degraded() {
    let report = patient().check(&Scripted::new(Script::Degraded)).await;
    assert_eq!(report.status, HealthStatus::Degraded, "{report:#?}");
    assert_eq!(report.cache_type, "scripted");
    assert!(report.ping_success && report.operation_test, "{report:#?}");
    assert_eq!(
        report.warnings,
        ["degraded: serving from the memory fallback"],
        "{report:#?}"
    );
    assert!(report.errors.is_empty());
}

#[tokio::test]
async fn a_low_hit_ratio_is_a_warning() {
    let cache = memory();
    for i in 0..1_000 {
        assert!(cache.get(&format!("missing{i}")).await.unwrap().is_none());
    }
    let report = patient().check(&cache).await;
    assert_eq!(report.status, HealthStatus::Degraded, "{report:#?}");
    assert!(report.operation_test);
    assert_eq!(report.warnings.len(), 1, "{report:#?}");
    assert!(report.warnings[0].starts_with("low hit ratio"), "{report:#?}");
}

#[tokio::test]
async fn a_ping_that_never_answers_is_cut_by_the_deadline() {
    let start = Instant::now();
    let report = check_health(&Scripted::new(Script::HangingPing)).await;
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_eq!(report.status, HealthStatus::Unhealthy, "{report:#?}");
    assert!(!report.ping_available && !report.ping_success && !report.operation_test);
    assert_eq!(report.errors, ["timeout: ping did not finish within 80ms"]);
    // The statistics still arrived, and name the backend.
    assert_eq!(report.cache_type, "scripted");
    assert!(report.statistics.is_some());
}

#[tokio::test]
async fn a_probe_that_hangs_is_unhealthy_and_names_the_step() {
    let check = HealthCheck {
        timeout: Duration::from_millis(200),
        ..HealthCheck::default()
    };
    let report = check.check(&Scripted::new(Script::HangingGet)).await;
    assert_eq!(report.status, HealthStatus::Unhealthy, "{report:#?}");
    assert!(report.ping_available && report.ping_success, "{report:#?}");
    assert!(!report.operation_test);
    assert_eq!(report.errors, ["timeout: probe get did not finish within 200ms"]);
}

#[tokio::test]
async fn a_probe_reading_other_bytes_fails() {
    let report = patient().check(&Scripted::new(Script::StaleGet)).await;
    assert_eq!(report.status, HealthStatus::Unhealthy, "{report:#?}");
    assert!(!report.operation_test);
    assert_eq!(
        report.errors,
        ["probe get: read back other bytes than were written"]
    );
}

#[tokio::test]
async fn statistics_that_never_arrive_are_null_and_a_warning() {
    let check = HealthCheck {
        timeout: Duration::from_millis(200),
        ..HealthCheck::default()
    };
    let report = check.check(&Scripted::new(Script::HangingStats)).await;
    assert_eq!(report.status, HealthStatus::Degraded, "{report:#?}");
    assert!(report.operation_test && report.errors.is_empty(), "{report:#?}");
    assert!(report.statistics.is_none());
    assert_eq!(report.warnings, ["statistics did not arrive within 200ms"]);
}

#[tokio::test]
async fn the_probe_uses_the_reserved_key_space_and_a_ttl() {
    // Records what the probe writes.
    struct Spy {
        inner: MemoryCache,
        seen: std::sync::Mutex<Vec<(String, Ttl)>>,
    }
    #[async_trait]
    impl Cache for Spy {
        async fn get(&self, key: &str) -> Result<Option<Bytes>> {
            self.inner.get(key).await
        }
        async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
            self.seen.lock().unwrap().push((key.to_owned(), ttl));
            self.inner.set(key, value, ttl).await
        }
        async fn delete(&self, key: &str) -> Result<bool> {
            self.inner.delete(key).await
        }
        async fn exists(&self, key: &str) -> Result<bool> {
            self.inner.exists(key).await
        }
        async fn ttl(&self, key: &str) -> Result<Option<Expiry>> {
            self.inner.ttl(key).await
        }
        async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
            self.inner.invalidate_pattern(pattern).await
        }
        async fn clear(&self) -> Result<()> {
            self.inner.clear().await
        }
        async fn health(&self) -> Health {
            self.inner.health().await
        }
        async fn stats(&self) -> CacheStats {
            self.inner.stats().await
        }
    }
    let spy = Arc::new(Spy {
        inner: memory(),
        seen: Default::default(),
    });
    let shared: SharedCache = spy.clone();
    assert_clean(&patient().check(&*shared).await);
    assert_clean(&patient().check(&*shared).await);
    let seen = spy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_ne!(seen[0].0, seen[1].0, "each probe uses a fresh key");
    for (key, ttl) in &seen {
        assert!(key.starts_with(PROBE_KEY_PREFIX), "{key}");
        assert_eq!(*ttl, Ttl::After(Duration::from_secs(60)));
    }
}

#[tokio::test]
async fn json_shape() {
    let report = patient().check(&memory()).await;
    let mut json = serde_json::to_value(&report).unwrap();
    let back: HealthReport = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, report);

    let timestamp = json["timestamp"].as_str().unwrap();
    assert_eq!(timestamp.len(), 20, "{timestamp}");
    assert!(
        timestamp.as_bytes()[10] == b'T' && timestamp.ends_with('Z'),
        "{timestamp}"
    );
    assert!(json["check_duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(json["statistics"]["backend"], "memory");
    for (field, placeholder) in [
        ("timestamp", "[timestamp]"),
        ("check_duration_ms", "[measured]"),
        ("statistics", "[statistics]"),
    ] {
        json[field] = Value::from(placeholder);
    }
    insta::assert_json_snapshot!(json, @r#"
    {
      "cache_type": "memory",
      "status": "healthy",
      "ping_available": true,
      "ping_success": true,
      "operation_test": true,
      "errors": [],
      "warnings": [],
      "statistics": "[statistics]",
      "check_duration_ms": "[measured]",
      "timestamp": "[timestamp]"
    }
    "#);

    // An unhealthy report has `statistics: null` when they did not arrive.
    let check = HealthCheck {
        timeout: Duration::from_millis(50),
        ..HealthCheck::default()
    };
    struct Silent;
    #[async_trait]
    impl Cache for Silent {
        async fn get(&self, _: &str) -> Result<Option<Bytes>> {
            std::future::pending().await
        }
        async fn set(&self, _: &str, _: Bytes, _: Ttl) -> Result<()> {
            std::future::pending().await
        }
        async fn delete(&self, _: &str) -> Result<bool> {
            std::future::pending().await
        }
        async fn exists(&self, _: &str) -> Result<bool> {
            std::future::pending().await
        }
        async fn ttl(&self, _: &str) -> Result<Option<Expiry>> {
            std::future::pending().await
        }
        async fn invalidate_pattern(&self, _: &str) -> Result<u64> {
            std::future::pending().await
        }
        async fn clear(&self) -> Result<()> {
            std::future::pending().await
        }
        async fn health(&self) -> Health {
            std::future::pending().await
        }
        async fn stats(&self) -> CacheStats {
            std::future::pending().await
        }
    }
    let json = serde_json::to_value(check.check(&Silent).await).unwrap();
    assert_eq!(json["status"], "unhealthy");
    assert_eq!(json["cache_type"], "unknown");
    assert_eq!(json["statistics"], Value::Null);
    assert_eq!(
        json["errors"],
        serde_json::json!(["timeout: ping did not finish within 50ms"])
    );
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use stratacache_redis::{RedisCache, RedisConfig};
    use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};
    use stratacache_testkit::redis_server_or_skip;

    fn config(server: &RedisServer) -> RedisConfig {
        let mut config = RedisConfig::new(server.url());
        config.namespace = unique_namespace("health");
        config.connect_timeout = Duration::from_millis(500);
        config.command_timeout = Duration::from_millis(500);
        config.retry.max_retries = 0;
        config
    }

    /// Sends `signal` (`"STOP"`, `"CONT"`) to `pid`.
    fn signal(signal: &str, pid: u32) -> bool {
        std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The process state letter of `/proc/<pid>/stat` (`T` when stopped).
    fn state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    }

    /// A process frozen with SIGSTOP, thawed with SIGCONT when dropped (even on panic).
    struct Frozen(u32);

    impl Frozen {
        fn new(pid: u32) -> Self {
            assert!(signal("STOP", pid), "kill -STOP {pid} failed");
            let frozen = Self(pid);
            let deadline = Instant::now() + Duration::from_secs(5);
            while state(pid) != Some('T') && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(state(pid), Some('T'), "redis-server {pid} did not stop");
            frozen
        }
    }

    impl Drop for Frozen {
        fn drop(&mut self) {
            signal("CONT", self.0);
        }
    }

    #[tokio::test]
    async fn a_running_redis_is_healthy() {
        let server = redis_server_or_skip!(RedisMode::Plain);
        let cache = RedisCache::connect(config(&server)).await.unwrap();
        let report = patient().check(&cache).await;
        assert_clean(&report);
        assert_eq!(report.cache_type, "redis");
        assert_eq!(report.statistics.unwrap().backend, "redis");
        // The probe went through Redis and cleaned up after itself.
        let after = cache.stats().await;
        assert_eq!((after.writes, after.hits, after.removals), (1, 1, 1));
        assert_eq!(cache.status().await.keys_in_namespace, Some(0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frozen_redis_is_unhealthy_within_the_deadline() {
        let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
            return;
        };
        // Long command timeouts: only the health check's own deadline can end the wait.
        let mut config = config(&server);
        config.command_timeout = Duration::from_secs(30);
        let cache = RedisCache::connect(config).await.unwrap();
        assert!(patient().check(&cache).await.is_healthy());

        let frozen = Frozen::new(server.pid().expect("a local server"));
        let start = Instant::now();
        let report = check_health(&cache).await;
        let elapsed = start.elapsed();
        drop(frozen);

        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
        assert_eq!(report.status, HealthStatus::Unhealthy, "{report:#?}");
        assert!(!report.ping_available && !report.ping_success && !report.operation_test);
        assert_eq!(report.errors, ["timeout: ping did not finish within 80ms"]);
        assert_eq!(report.cache_type, "redis");
        assert!(report.check_duration_ms < 2_000.0, "{report:#?}");

        // Thawed, the same cache is healthy again.
        let report = patient().check(&cache).await;
        assert!(report.is_healthy(), "{report:#?}");
    }

    #[tokio::test]
    async fn a_stopped_redis_is_unhealthy_with_a_connection_error() {
        let Some(mut server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
            return;
        };
        let cache = RedisCache::connect(config(&server)).await.unwrap();
        server.stop();
        let report = patient().check(&cache).await;
        assert_eq!(report.status, HealthStatus::Unhealthy, "{report:#?}");
        assert!(report.ping_available && !report.ping_success, "{report:#?}");
        assert!(!report.operation_test);
        assert!(
            report.errors.iter().any(|e| e.starts_with("ping: connection: ")),
            "{report:#?}"
        );
        assert_eq!(report.cache_type, "redis");
    }
}
