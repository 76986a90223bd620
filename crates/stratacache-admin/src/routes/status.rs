//! `GET /internal/cache/status`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::{Data, Json};
use stratacache_core::CacheStats;
use stratacache_factory::{Backend, BackendServer, BuiltCache, CacheConfig, ServerStatus};
use stratacache_monitor::PerformanceSnapshot;

use crate::auth::ReadAccess;
use crate::error::{ErrorEnvelope, now_timestamp};
use crate::schema::{
    AiSection, ApiSecurity, CacheStatus, ComputeSection, FailoverSection, FleetSection, MemorySection,
    PerformanceSummary, RedisSection, RedisState, RegistrySection, SecurityConfiguration, SecuritySection,
};
use crate::state::AdminState;

/// How long the status waits for Redis's `INFO` and key count: a hung Redis must not make the
/// status itself slow (the health check's deadline is 80 ms).
pub(crate) const REDIS_STATUS_TIMEOUT: Duration = Duration::from_millis(100);

/// How long the (rare, one request at a time) key count may take: a `SCAN` of the whole
/// database. It only runs while the failover routes operations to Redis.
pub(crate) const KEY_COUNT_TIMEOUT: Duration = Duration::from_secs(2);

/// How old `redis.keys` may be. Counting walks the whole database with `SCAN`, so the status
/// (which answers `INFO` live on every request) recounts at most this often, and one request at
/// a time; the others report the last count.
pub(crate) const KEY_COUNT_MAX_AGE: Duration = Duration::from_secs(10);

/// The last key count and when it was taken.
#[derive(Debug)]
pub(crate) struct KeyCount {
    /// `u64::MAX` until the first count.
    last: AtomicU64,
    counted_at: tokio::sync::Mutex<Option<Instant>>,
}

impl Default for KeyCount {
    fn default() -> Self {
        Self {
            last: AtomicU64::new(u64::MAX),
            counted_at: tokio::sync::Mutex::new(None),
        }
    }
}

impl KeyCount {
    /// The key count, recounted when older than [`KEY_COUNT_MAX_AGE`] and nobody else is counting.
    async fn current(&self, redis: &dyn BackendServer) -> Option<u64> {
        if let Ok(mut counted_at) = self.counted_at.try_lock()
            && counted_at.is_none_or(|at| at.elapsed() >= KEY_COUNT_MAX_AGE)
        {
            if let Ok(Ok(n)) = tokio::time::timeout(KEY_COUNT_TIMEOUT, redis.count_keys()).await {
                self.last.store(n, Ordering::Relaxed);
            }
            *counted_at = Some(Instant::now());
        }
        let n = self.last.load(Ordering::Relaxed);
        (n != u64::MAX).then_some(n)
    }
}

/// The cache's backend, memory tier, performance, security and failover state.
#[utoipa::path(
    get,
    path = "/internal/cache/status",
    tag = "cache",
    responses(
        (status = 200, description = "The status", body = CacheStatus),
        (status = 401, description = "A wrong or malformed key (or none, with require_auth_for_reads)", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn status(_: ReadAccess, state: Data<AdminState>) -> Json<CacheStatus> {
    Json(collect(&state).await)
}

/// One bounded check of the Redis server behind a factory-built cache: `INFO`, within
/// [`REDIS_STATUS_TIMEOUT`], and how long it took. The status and the Prometheus scrape both use
/// it (and so record the server's memory in the monitor).
pub(crate) struct RedisProbe {
    /// The server's figures, or why there are none (it did not answer in time).
    pub(crate) result: Result<ServerStatus, String>,
    /// How long the check took (at most about [`REDIS_STATUS_TIMEOUT`]).
    pub(crate) took: Duration,
}

impl RedisProbe {
    /// Whether Redis answered `INFO`.
    pub(crate) fn reached(&self) -> bool {
        self.result.as_ref().is_ok_and(|s| s.connected)
    }
}

/// Probes the Redis server of `state`'s cache, `None` without one (a memory cache, a degraded
/// start, a cache not built by the factory).
pub(crate) async fn probe_redis(state: &AdminState) -> Option<RedisProbe> {
    let redis = state.built()?.server()?;
    let started = Instant::now();
    let result = match tokio::time::timeout(REDIS_STATUS_TIMEOUT, redis.server_status()).await {
        Ok(status) => Ok(status),
        Err(_) => Err(format!("Redis did not answer within {REDIS_STATUS_TIMEOUT:?}")),
    };
    let probe = RedisProbe {
        result,
        took: started.elapsed(),
    };
    if let (Some(monitor), Ok(status)) = (state.monitor(), &probe.result)
        && let Some(bytes) = status.used_memory_bytes
    {
        monitor.record_redis_memory(bytes);
    }
    Some(probe)
}

pub(crate) async fn collect(state: &AdminState) -> CacheStatus {
    let stats = state.cache().stats().await;
    let snapshot = state.monitor().map(|m| m.snapshot(Some(&stats)));
    let built = state.built();
    let mut redis_status = probe_redis(state).await.map(|probe| probe.result);
    if let (Some(redis), Some(Ok(status))) = (built.and_then(BuiltCache::server), &mut redis_status) {
        let routed = built
            .and_then(|b| b.failover.as_ref())
            .is_none_or(|f| f.state() == stratacache_factory::FailoverState::Primary);
        if status.connected && routed {
            status.keys_in_namespace = state.key_count().current(redis).await;
        }
    }
    let redis = redis_section(built, redis_status.as_ref());
    let ai_metrics = built
        .filter(|b| b.config.enable_ai_cache)
        .map(|b| ai_section(&b.config, state));
    CacheStatus {
        security: security_section(state, built, redis_status.as_ref().and_then(|r| r.as_ref().ok())),
        redis,
        memory: memory_section(&stats, built),
        performance: performance_summary(snapshot.as_ref(), &stats),
        ai_metrics,
        backend: built.map_or_else(|| stats.backend.clone(), |b| b.backend.as_str().to_owned()),
        preset: built.map(|b| b.config.preset.to_string()),
        layers: match built {
            Some(b) => b.layers.iter().map(|l| (*l).to_owned()).collect(),
            None if state.monitor().is_some() => vec!["monitoring".to_owned(), stats.backend.clone()],
            None => vec![stats.backend.clone()],
        },
        degraded: built.and_then(|b| b.degraded.clone()),
        failover: built.and_then(|b| b.failover.as_ref()).map(|f| {
            let primary = f.state() == stratacache_factory::FailoverState::Primary;
            FailoverSection {
                state: if primary { "primary" } else { "fallback" }.to_owned(),
                breaker: if primary { "closed" } else { "open" }.to_owned(),
                seconds_since_last_switch: f.since_last_switch().map(|d| d.as_secs_f64()),
                last_error: f.last_error(),
                counters: serde_json::to_value(f.counters()).unwrap_or_default(),
            }
        }),
        fleet: built.and_then(BuiltCache::fleet_status).map(fleet_section),
        compute: built.map(|b| compute_section(b.compute_status())),
        registry: RegistrySection {
            caches: {
                let mut names = state.registry().names();
                names.sort();
                names
            },
        },
        timestamp: now_timestamp(),
    }
}

/// The status's view of fleet invalidation.
fn fleet_section(fleet: stratacache_factory::FleetStatus) -> FleetSection {
    let status = match (fleet.publishing, fleet.subscribing, fleet.connected) {
        (_, true, true) => "connected",
        (_, true, false) => "disconnected",
        (true, false, _) => "publishing",
        (false, false, _) => "off",
    };
    FleetSection {
        status: status.to_owned(),
        publishing: fleet.publishing,
        subscribing: fleet.subscribing,
        l1_ttl_cap_seconds: fleet.l1_ttl_cap.map(|d| d.as_secs_f64()),
        counters: serde_json::json!({
            "published": fleet.published,
            "received": fleet.received,
            "own": fleet.own,
            "applied": fleet.applied,
            "flushes": fleet.flushes,
            "subscriptions": fleet.subscriptions,
            "apply_errors": fleet.apply_errors,
        }),
    }
}

/// The status's view of the compute layer: its gauges and every counter, by name.
pub(crate) fn compute_section(compute: stratacache_factory::ComputeStatus) -> ComputeSection {
    ComputeSection {
        computing: compute.computing,
        waiting: compute.waiting,
        counters: compute.counters,
    }
}

fn empty_redis(status: RedisState, configured: bool, message: String) -> RedisSection {
    RedisSection {
        status,
        configured,
        keys: None,
        memory_used: None,
        memory_used_bytes: None,
        connected_clients: None,
        version: None,
        url: None,
        database: None,
        namespace: None,
        message: Some(message),
    }
}

fn redis_section(built: Option<&BuiltCache>, status: Option<&Result<ServerStatus, String>>) -> RedisSection {
    let Some(built) = built else {
        return empty_redis(
            RedisState::Unavailable,
            false,
            "not a factory-built cache: no Redis status".to_owned(),
        );
    };
    let url = built.config.effective_redis_url().map(|u| u.redacted());
    let routed_elsewhere = built
        .failover
        .as_ref()
        .filter(|f| f.state() == stratacache_factory::FailoverState::Fallback);
    match status {
        Some(Ok(s)) => RedisSection {
            // "connected" must mean that writes land in Redis: while the failover still serves
            // from the fallback (breaker open, or the replay running), Redis answering is not
            // enough.
            status: match (s.connected, routed_elsewhere.is_some()) {
                (true, false) => RedisState::Connected,
                (true, true) => RedisState::Disconnected,
                (false, _) => RedisState::Error,
            },
            configured: true,
            keys: s.keys_in_namespace,
            memory_used: s.used_memory_human.clone(),
            memory_used_bytes: s.used_memory_bytes,
            connected_clients: s.connected_clients,
            version: s.version.clone(),
            url: Some(s.url.clone()),
            database: Some(s.database),
            namespace: Some(s.namespace.clone()),
            message: match (s.connected, routed_elsewhere.is_some()) {
                (true, true) => Some(
                    "Redis answers, but operations are served by the memory fallback until the \
                     failover returns to it (see failover)"
                        .to_owned(),
                ),
                _ => s.error.clone(),
            },
        },
        Some(Err(timeout)) => RedisSection {
            url,
            namespace: Some(built.config.namespace.clone()),
            ..empty_redis(RedisState::Error, true, timeout.clone())
        },
        None if built.backend == Backend::Memory && built.config.redis_url.is_some() => empty_redis(
            RedisState::Disconnected,
            true,
            format!(
                "a Redis URL is set but not used: preset {} runs on the memory cache",
                built.config.preset
            ),
        ),
        None if built.backend == Backend::Memory => empty_redis(
            RedisState::Unavailable,
            false,
            format!(
                "no Redis configured: a memory-only cache (preset {})",
                built.config.preset
            ),
        ),
        None => {
            let recovered = built
                .failover
                .as_ref()
                .is_some_and(|f| f.state() == stratacache_factory::FailoverState::Primary);
            let (state, message) = if recovered {
                (
                    RedisState::Connected,
                    "connected after a degraded start; server figures are not available".to_owned(),
                )
            } else {
                (
                    RedisState::Unavailable,
                    built
                        .degraded
                        .clone()
                        .unwrap_or_else(|| "Redis is not connected".to_owned()),
                )
            };
            RedisSection {
                url,
                namespace: Some(built.config.namespace.clone()),
                ..empty_redis(state, true, message)
            }
        }
    }
}

/// The first memory tier of the stack, and its role.
fn find_memory<'a>(stats: &'a CacheStats, parent: Option<&str>) -> Option<(&'a CacheStats, &'static str)> {
    if stats.backend == "memory" {
        let role = match parent {
            None => "cache",
            Some("tiered") => "l1",
            Some("failover") => "fallback",
            Some(_) => "tier",
        };
        return Some((stats, role));
    }
    stats
        .inner
        .iter()
        .find_map(|inner| find_memory(inner, Some(&stats.backend)))
}

fn memory_section(stats: &CacheStats, built: Option<&BuiltCache>) -> MemorySection {
    match find_memory(stats, None) {
        Some((m, role)) => MemorySection {
            status: if role == "fallback"
                && built
                    .and_then(|b| b.failover.as_ref())
                    .is_some_and(|f| f.state() == stratacache_factory::FailoverState::Primary)
            {
                "standby"
            } else {
                "active"
            }
            .to_owned(),
            role: Some(role.to_owned()),
            entries: m.entries,
            bytes: m.bytes,
            max_entries: m.max_entries,
            max_bytes: m.max_bytes,
            hits: m.hits,
            misses: m.misses,
            hit_ratio: m.hit_ratio(),
            writes: m.writes,
            evictions: m.evictions,
            expirations: m.expirations,
        },
        None => MemorySection {
            status: "unavailable".to_owned(),
            role: None,
            entries: None,
            bytes: None,
            max_entries: None,
            max_bytes: None,
            hits: 0,
            misses: 0,
            hit_ratio: None,
            writes: 0,
            evictions: 0,
            expirations: 0,
        },
    }
}

fn performance_summary(snapshot: Option<&PerformanceSnapshot>, stats: &CacheStats) -> PerformanceSummary {
    match snapshot {
        Some(s) => PerformanceSummary {
            monitoring_enabled: true,
            hit_ratio: s.hit_ratio,
            cache_hit_rate: s.cache_hit_rate,
            total_cache_operations: s.total_cache_operations,
            cache_hits: s.cache_hits,
            cache_misses: s.cache_misses,
            errors: s.cache_operations.errors,
            avg_duration: s.cache_operations.avg_duration,
            p95_duration: s.cache_operations.p95,
            slow_operations: Some(s.cache_operations.slow_operations),
            memory_status: Some(s.memory_usage.status.clone()),
            invalidation_alert_level: Some(s.invalidation.thresholds.current_alert_level.as_str().to_owned()),
            retention_hours: Some(s.retention_hours),
        },
        None => {
            let ratio = stats.hit_ratio();
            PerformanceSummary {
                monitoring_enabled: false,
                hit_ratio: ratio,
                cache_hit_rate: ratio.map_or(0.0, |r| r * 100.0),
                total_cache_operations: stats.reads() + stats.writes + stats.removals,
                cache_hits: stats.hits,
                cache_misses: stats.misses,
                errors: stats.errors,
                avg_duration: None,
                p95_duration: None,
                slow_operations: None,
                memory_status: None,
                invalidation_alert_level: None,
                retention_hours: None,
            }
        }
    }
}

fn ai_section(config: &CacheConfig, state: &AdminState) -> AiSection {
    AiSection {
        hash_algorithm: config.ai.hash_algorithm.as_str().to_owned(),
        text_hash_threshold: config.ai.text_hash_threshold,
        operation_ttls: config
            .ai
            .operation_ttls
            .iter()
            .map(|(op, ttl)| (op.clone(), ttl.as_secs()))
            .collect(),
        metrics: state
            .ai_cache()
            .and_then(|ai| serde_json::to_value(ai.metrics()).ok()),
    }
}

fn security_section(
    state: &AdminState,
    built: Option<&BuiltCache>,
    redis: Option<&ServerStatus>,
) -> SecuritySection {
    let api = ApiSecurity {
        authentication: if state.config().keys.is_empty() {
            "open"
        } else {
            "api_key"
        }
        .to_owned(),
        require_auth_for_reads: state.config().require_auth_for_reads,
    };
    let Some(built) = built else {
        return SecuritySection {
            configuration: SecurityConfiguration {
                tls_enabled: false,
                auth: "none".to_owned(),
                verify_certificates: false,
                encryption_enabled: false,
                environment: "unknown".to_owned(),
            },
            security_level: None,
            api,
        };
    };
    let config = &built.config;
    let uses_redis = !config.is_memory_only();
    let tls_enabled = redis.map_or(uses_redis && config.uses_tls(), |r| r.tls);
    let auth = match redis {
        Some(r) => r.auth.as_str(),
        None if !uses_redis => "none",
        None if config.acl_username.is_some() => "acl",
        None if config.has_authentication() => "password",
        None => "none",
    };
    let verify_certificates = tls_enabled && config.verify_certificates;
    let security_level = uses_redis.then(|| {
        let met = [tls_enabled, auth != "none", verify_certificates]
            .into_iter()
            .filter(|m| *m)
            .count();
        match met {
            3 => "HIGH",
            0 => "LOW",
            _ => "MEDIUM",
        }
        .to_owned()
    });
    SecuritySection {
        configuration: SecurityConfiguration {
            tls_enabled,
            auth: auth.to_owned(),
            verify_certificates,
            encryption_enabled: built.layers.contains(&"encryption"),
            environment: config.environment.as_str().to_owned(),
        },
        security_level,
        api,
    }
}
