//! Health reports for any cache, bounded by a timeout.
//!
//! [`HealthCheck::check`] (or [`check_health`] with the defaults) looks at any [`Cache`] and
//! returns a [`HealthReport`] with the fields of the reference's `get_cache_health_status`:
//!
//! ```json
//! {"cache_type": "redis", "status": "healthy", "ping_available": true, "ping_success": true,
//!  "operation_test": true, "errors": [], "warnings": [], "statistics": {"backend": "redis", ...},
//!  "check_duration_ms": 0.84, "timestamp": "2026-11-21T09:30:00Z"}
//! ```
//!
//! # What is checked
//!
//! Two things run side by side:
//!
//! - **statistics**: [`Cache::stats`], reported as `statistics`;
//! - **ping then probe**: [`Cache::health`] (for Redis a `PING`), then, unless
//!   [`HealthCheck::operation_probe`] is off or the ping said unhealthy, a round trip through the
//!   cache (when the ping said [`Degraded`](HealthStatus::Degraded), a read-only probe instead: a
//!   `get` of a fresh probe key, which must miss, so that checking a cache served by its fallback
//!   writes nothing that would have to be replayed on recovery): `set` of 16 random bytes with a TTL of [`PROBE_TTL`], `get` (which must return the
//!   same bytes: a stale value cannot pass) and `delete`. The probe key is
//!   `__stratacache_health__:<process id>:<counter>:<random>` ([`PROBE_KEY_PREFIX`]), a key space
//!   reserved for health checks: applications must not use keys starting with it. A namespaced
//!   backend adds its namespace as for any key. If the probe is interrupted after the write, the
//!   entry expires by itself after [`PROBE_TTL`]. The probe goes through the cache like any call:
//!   it counts one write, one hit and one removal in the cache's counters.
//!
//! The whole check, ping, probe and statistics together, is bounded by **one** deadline,
//! [`HealthCheck::timeout`] (80 ms by default). When it runs out, the check stops where it is and
//! answers at once: the report names the step that did not finish (`"timeout: ping did not finish
//! within 80ms"`), so a server that accepts connections and never replies cannot hold the caller.
//!
//! # Status rules
//!
//! - **unhealthy** when the ping did not answer in time or answered
//!   [`Unhealthy`](HealthStatus::Unhealthy), or when the probe (if enabled) failed, read back
//!   something else, or did not finish in time. A cache that answers `PING` but whose writes hang
//!   cannot serve requests: a probe timeout is unhealthy, not degraded.
//! - **degraded** otherwise, when [`Cache::health`] says [`Degraded`](HealthStatus::Degraded) (for
//!   example a remote cache served from its memory fallback; its messages become warnings) or any
//!   warning applies:
//!   - low hit ratio: below [`LOW_HIT_RATIO`] over at least [`MIN_READS_FOR_HIT_RATIO`] reads;
//!   - evictions: at least [`HIGH_EVICTION_SHARE`] of the written entries (over at least
//!     [`MIN_WRITES_FOR_EVICTIONS`] writes) were evicted for capacity: the cache is too small;
//!   - the statistics did not arrive before the deadline (`statistics` is then `null`);
//!   - the probe's `delete` found nothing to delete right after reading the entry.
//! - **healthy** otherwise.
//!
//! `ping_available` is `true` when [`Cache::health`] answered before the deadline (whatever it
//! said); `ping_success` when that answer was not unhealthy. `operation_test` is `true` when the
//! probe's round trip succeeded, and `false` when it failed, timed out or was not run (probe
//! disabled: then it does not affect the status; ping unhealthy: the probe is skipped).

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stratacache_core::{Bytes, Cache, CacheStats, Health, HealthStatus, Ttl};

/// The default deadline of a whole check: [`HealthCheck::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(80);
/// The start of every probe key: `__stratacache_health__:<pid>:<counter>:<random>`.
pub const PROBE_KEY_PREFIX: &str = "__stratacache_health__:";
/// The TTL of the probe entry, so that an interrupted probe leaves nothing behind for long.
pub const PROBE_TTL: Duration = Duration::from_secs(60);
/// A hit ratio below this fraction (over enough reads) is a warning.
pub const LOW_HIT_RATIO: f64 = 0.10;
/// The reads needed before the hit ratio is judged.
pub const MIN_READS_FOR_HIT_RATIO: u64 = 1_000;
/// Evictions reaching this fraction of the written entries (over enough writes) are a warning.
pub const HIGH_EVICTION_SHARE: f64 = 0.10;
/// The writes needed before evictions are judged.
pub const MIN_WRITES_FOR_EVICTIONS: u64 = 100;

/// The health of one cache, as [`HealthCheck::check`] found it; serializes to the reference's
/// `get_cache_health_status` fields (see the [module documentation](self) for their meaning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The backend, as [`Cache::health`] (or else [`Cache::stats`]) names it: `"memory"`,
    /// `"redis"`, `"tiered"`, ...; `"unknown"` when neither answered in time.
    pub cache_type: String,
    /// The verdict: `"healthy"`, `"degraded"` or `"unhealthy"` (see the status rules).
    pub status: HealthStatus,
    /// Whether [`Cache::health`] answered before the deadline.
    pub ping_available: bool,
    /// Whether it answered, and not [`HealthStatus::Unhealthy`].
    pub ping_success: bool,
    /// Whether the probe's set / get / delete round trip succeeded and read back the bytes written
    /// (`false` when it was not run).
    pub operation_test: bool,
    /// Why the cache is unhealthy, one line each (`"timeout: ping did not finish within 80ms"`,
    /// `"ping: connection: ..."`, `"probe get: ..."`).
    pub errors: Vec<String>,
    /// Why it is degraded, one line each.
    pub warnings: Vec<String>,
    /// The cache's counters, or `null` when they did not arrive before the deadline.
    pub statistics: Option<CacheStats>,
    /// How long the check took, in milliseconds.
    pub check_duration_ms: f64,
    /// When the check started, ISO 8601 in UTC to the second: `"2026-11-21T09:30:00Z"`.
    pub timestamp: String,
}

impl HealthReport {
    /// Whether the status is [`HealthStatus::Healthy`].
    pub fn is_healthy(&self) -> bool {
        self.status == HealthStatus::Healthy
    }
}

/// How to check a cache's health: the deadline and whether to write a probe entry.
///
/// ```
/// use std::time::Duration;
///
/// use stratacache_factory::health::HealthCheck;
/// use stratacache_memory::MemoryCache;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = MemoryCache::new(1_000).expect("valid capacity");
/// let check = HealthCheck { timeout: Duration::from_millis(50), ..HealthCheck::default() };
/// let report = check.check(&cache).await;
/// assert!(report.is_healthy(), "{report:?}");
/// assert!(report.operation_test);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheck {
    /// The deadline of the whole check (ping, probe and statistics together);
    /// [`DEFAULT_TIMEOUT`] (80 ms) by default.
    pub timeout: Duration,
    /// Whether to run the set / get / delete probe after the ping; `true` by default.
    pub operation_probe: bool,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            operation_probe: true,
        }
    }
}

/// Checks `cache` with the default [`HealthCheck`] (80 ms deadline, with the probe).
pub async fn check_health(cache: &dyn Cache) -> HealthReport {
    HealthCheck::default().check(cache).await
}

/// The step of the ping-then-probe sequence in progress (named in timeout errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Ping,
    ProbeSet,
    ProbeGet,
    ProbeDelete,
    ProbeRead,
    Done,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Ping => "ping",
            Step::ProbeSet => "probe set",
            Step::ProbeGet => "probe get",
            Step::ProbeDelete => "probe delete",
            Step::ProbeRead => "probe read",
            Step::Done => "done",
        }
    }
}

/// What the ping and the probe found, filled in as they go (read after a timeout too).
#[derive(Debug)]
struct Checks {
    step: Step,
    ping: Option<Health>,
    /// `None`: not run (or interrupted); `Some(Ok)`: the round trip worked.
    probe: Option<Result<(), String>>,
    warnings: Vec<String>,
}

impl HealthCheck {
    /// Checks `cache` and reports; never fails and never takes (much) longer than
    /// [`timeout`](Self::timeout). See the [module documentation](self) for what is checked and
    /// how the status is decided.
    pub async fn check(&self, cache: &dyn Cache) -> HealthReport {
        let start = Instant::now();
        let timestamp = stratacache_core::format_timestamp(
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(),
        );
        let mut statistics = None;
        let mut checks = Checks {
            step: Step::Ping,
            ping: None,
            probe: None,
            warnings: Vec::new(),
        };
        let work = async {
            tokio::join!(
                async { statistics = Some(cache.stats().await) },
                run_checks(cache, self.operation_probe, &mut checks),
            )
        };
        let finished = tokio::time::timeout(self.timeout, work).await.is_ok();

        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        if !finished && checks.step != Step::Done {
            errors.push(format!(
                "timeout: {} did not finish within {:?}",
                checks.step.name(),
                self.timeout
            ));
        }
        let ping_available = checks.ping.is_some();
        let ping_success = checks
            .ping
            .as_ref()
            .is_some_and(|h| h.status != HealthStatus::Unhealthy);
        let mut status = if ping_success {
            HealthStatus::Healthy
        } else {
            HealthStatus::Unhealthy
        };
        if let Some(ping) = &checks.ping {
            match ping.status {
                HealthStatus::Unhealthy => {
                    errors.extend(ping.messages.iter().map(|m| format!("ping: {m}")));
                    if ping.messages.is_empty() {
                        errors.push("ping: the cache reports itself unhealthy".to_owned());
                    }
                }
                HealthStatus::Degraded => {
                    status = HealthStatus::Degraded;
                    warnings.extend(ping.messages.iter().map(|m| format!("degraded: {m}")));
                    if ping.messages.is_empty() {
                        warnings.push("degraded: the cache reports itself degraded".to_owned());
                    }
                }
                HealthStatus::Healthy => {}
            }
        }
        let operation_test = matches!(checks.probe, Some(Ok(())));
        if let Some(Err(e)) = &checks.probe {
            errors.push(e.clone());
        }
        if self.operation_probe && ping_success && !operation_test {
            status = HealthStatus::Unhealthy;
        }
        warnings.append(&mut checks.warnings);
        match &statistics {
            Some(stats) => warnings.extend(stats_warnings(stats)),
            None => warnings.push(format!("statistics did not arrive within {:?}", self.timeout)),
        }
        if status == HealthStatus::Healthy && !warnings.is_empty() {
            status = HealthStatus::Degraded;
        }
        let cache_type = checks
            .ping
            .as_ref()
            .map(|h| h.backend.clone())
            .or_else(|| statistics.as_ref().map(|s| s.backend.clone()))
            .unwrap_or_else(|| "unknown".to_owned());
        if status != HealthStatus::Healthy {
            tracing::debug!(cache_type, ?status, ?errors, ?warnings, "cache health check");
        }
        HealthReport {
            cache_type,
            status,
            ping_available,
            ping_success,
            operation_test,
            errors,
            warnings,
            statistics,
            check_duration_ms: start.elapsed().as_secs_f64() * 1000.0,
            timestamp,
        }
    }
}

/// The ping, then the probe; records each step before starting it.
async fn run_checks(cache: &dyn Cache, probe: bool, checks: &mut Checks) {
    checks.step = Step::Ping;
    let ping = cache.health().await;
    let status = ping.status;
    checks.ping = Some(ping);
    if probe {
        checks.probe = match status {
            HealthStatus::Healthy => Some(run_probe(cache, checks).await),
            HealthStatus::Degraded => Some(run_read_probe(cache, checks).await),
            HealthStatus::Unhealthy => None,
        };
    }
    checks.step = Step::Done;
}

/// Set, get (same bytes?) and delete one probe entry.
async fn run_probe(cache: &dyn Cache, checks: &mut Checks) -> Result<(), String> {
    let (key, value) = probe_entry();
    checks.step = Step::ProbeSet;
    cache
        .set(&key, value.clone(), Ttl::After(PROBE_TTL))
        .await
        .map_err(|e| format!("probe set: {e}"))?;
    checks.step = Step::ProbeGet;
    match cache.get(&key).await {
        Ok(Some(read)) if read == value => {}
        Ok(Some(_)) => return Err("probe get: read back other bytes than were written".to_owned()),
        Ok(None) => return Err("probe get: the entry just written was not found".to_owned()),
        Err(e) => return Err(format!("probe get: {e}")),
    }
    checks.step = Step::ProbeDelete;
    let existed = cache
        .delete(&key)
        .await
        .map_err(|e| format!("probe delete: {e}"))?;
    if !existed {
        checks
            .warnings
            .push("probe delete: the entry read a moment before was already gone".to_owned());
    }
    Ok(())
}

/// The probe of a degraded cache: one `get` of a fresh probe key, which must miss. A degraded
/// cache (a remote one served by its fallback) would record a probe write for the replay on
/// recovery, so health checks would grow that record without bound; a read goes through every
/// layer without changing anything.
async fn run_read_probe(cache: &dyn Cache, checks: &mut Checks) -> Result<(), String> {
    let (key, _) = probe_entry();
    checks.step = Step::ProbeRead;
    match cache.get(&key).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err("probe read: a probe key never written was found".to_owned()),
        Err(e) => Err(format!("probe read: {e}")),
    }
}

/// A fresh probe key in the reserved key space and 16 unpredictable bytes.
fn probe_entry() -> (String, Bytes) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let a = RandomState::new().hash_one((n, nanos));
    let b = RandomState::new().hash_one((nanos, n, "stratacache health"));
    let key = format!("{PROBE_KEY_PREFIX}{}:{n}:{a:016x}", std::process::id());
    let mut value = Vec::with_capacity(16);
    value.extend_from_slice(&a.to_le_bytes());
    value.extend_from_slice(&b.to_le_bytes());
    (key, Bytes::from(value))
}

/// Warnings drawn from the counters: low hit ratio, heavy evictions.
fn stats_warnings(stats: &CacheStats) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(ratio) = stats.hit_ratio()
        && stats.reads() >= MIN_READS_FOR_HIT_RATIO
        && ratio < LOW_HIT_RATIO
    {
        warnings.push(format!(
            "low hit ratio: {:.1}% of {} reads (below {:.0}%)",
            ratio * 100.0,
            stats.reads(),
            LOW_HIT_RATIO * 100.0
        ));
    }
    if stats.writes >= MIN_WRITES_FOR_EVICTIONS
        && stats.evictions as f64 >= stats.writes as f64 * HIGH_EVICTION_SHARE
    {
        warnings.push(format!(
            "evictions: {} of {} written entries were evicted for capacity (the cache may be too small)",
            stats.evictions, stats.writes
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_entries_are_fresh_and_reserved() {
        let (k1, v1) = probe_entry();
        let (k2, v2) = probe_entry();
        assert!(k1.starts_with(PROBE_KEY_PREFIX));
        assert_ne!(k1, k2);
        assert_ne!(v1, v2);
        assert_eq!(v1.len(), 16);
    }

    #[test]
    fn warnings_need_enough_traffic() {
        let mut stats = CacheStats::new("memory");
        stats.misses = 999;
        stats.writes = 99;
        stats.evictions = 99;
        assert!(stats_warnings(&stats).is_empty());
        stats.misses = 1_000;
        stats.writes = 100;
        let warnings = stats_warnings(&stats);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("low hit ratio: 0.0% of 1000 reads"),
            "{warnings:?}"
        );
        assert!(warnings[1].starts_with("evictions: 99 of 100"), "{warnings:?}");
        stats.hits = 200;
        stats.evictions = 9;
        assert!(stats_warnings(&stats).is_empty());
    }
}
