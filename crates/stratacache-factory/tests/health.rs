//! Health reports: memory and Redis caches, a frozen (SIGSTOP) and a stopped Redis, degraded and
//! hanging caches, and the JSON shape of the report.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::Value;
use stratacache_core::{Bytes, Cache, HealthStatus, SharedCache, Ttl};
use stratacache_factory::health::{HealthCheck, HealthReport, PROBE_KEY_PREFIX, check_health};
use stratacache_memory::MemoryCache;
use stratacache_testkit::double::{Op, Script, ScriptedCache};

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

/// How long a slow ping takes.
const SLOW_PING: Duration = Duration::from_millis(40);

/// A memory cache whose `op` follows `script` (the testkit's scripted double).
fn scripted(op: Op, script: Script) -> ScriptedCache {
    let cache = ScriptedCache::wrap(memory()).with_name("scripted");
    cache.script(op, script);
    cache
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
    let report = patient()
        .check(&scripted(Op::Health, Script::Delay(SLOW_PING)))
        .await;
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
    let report = patient()
        .check(&scripted(
            Op::Health,
            Script::Degrade("serving from the memory fallback".into()),
        ))
        .await;
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
    let report = check_health(&scripted(Op::Health, Script::Hang)).await;
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_eq!(report.status, HealthStatus::Unhealthy, "{report:#?}");
    assert!(!report.ping_available && !report.ping_success && !report.operation_test);
    assert_eq!(report.errors, ["timeout: ping did not finish within 80ms"]);
    // The statistics still arrived, and name the backend.
    assert_eq!(
        report.cache_type, "memory",
        "the wrapped cache answered its statistics"
    );
    assert!(report.statistics.is_some());
}

#[tokio::test]
async fn a_probe_that_hangs_is_unhealthy_and_names_the_step() {
    let check = HealthCheck {
        timeout: Duration::from_millis(200),
        ..HealthCheck::default()
    };
    let report = check.check(&scripted(Op::Get, Script::Hang)).await;
    assert_eq!(report.status, HealthStatus::Unhealthy, "{report:#?}");
    assert!(report.ping_available && report.ping_success, "{report:#?}");
    assert!(!report.operation_test);
    assert_eq!(report.errors, ["timeout: probe get did not finish within 200ms"]);
}

#[tokio::test]
async fn a_probe_reading_other_bytes_fails() {
    let report = patient()
        .check(&scripted(
            Op::Get,
            Script::Answer(Bytes::from_static(b"an older value")),
        ))
        .await;
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
    let report = check.check(&scripted(Op::Stats, Script::Hang)).await;
    assert_eq!(report.status, HealthStatus::Degraded, "{report:#?}");
    assert!(report.operation_test && report.errors.is_empty(), "{report:#?}");
    assert!(report.statistics.is_none());
    assert_eq!(report.warnings, ["statistics did not arrive within 200ms"]);
}

#[tokio::test]
async fn the_probe_uses_the_reserved_key_space_and_a_ttl() {
    // Records what the probe writes.
    let spy = ScriptedCache::wrap(memory());
    let shared: SharedCache = spy.shared();
    assert_clean(&patient().check(&*shared).await);
    assert_clean(&patient().check(&*shared).await);
    let seen: Vec<(String, Ttl)> = spy
        .journal()
        .into_iter()
        .filter(|call| call.op == Op::Set)
        .map(|call| (call.keys[0].clone(), call.ttl.unwrap()))
        .collect();
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
    let silent = ScriptedCache::wrap(memory());
    silent.hang_all();
    let json = serde_json::to_value(check.check(&silent).await).unwrap();
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
