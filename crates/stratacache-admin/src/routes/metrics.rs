//! The monitor's documents: `/internal/cache/metrics`, `/internal/cache/invalidation-stats`,
//! `/internal/cache/invalidation-recommendations` and the Prometheus scrape at `/metrics`.
//!
//! Without monitoring (a preset or configuration with `enable_monitoring` off) there is nothing to
//! report: every one of them answers 503 `SERVICE_UNAVAILABLE` with
//! `details.reason = "monitoring_disabled"` (a Prometheus target then shows as down, which is
//! what it is).

use std::sync::Arc;

use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use stratacache_monitor::Monitor;
use stratacache_monitor::invalidation::RecommendationList;

use crate::auth::ReadAccess;
use crate::error::{ApiError, ErrorEnvelope};
use crate::state::AdminState;

fn monitor(state: &AdminState) -> Result<&Arc<Monitor>, ApiError> {
    state.monitor().ok_or_else(|| {
        ApiError::unavailable(
            "monitoring is disabled for this cache: enable it (ENABLE_MONITORING=true, or a preset \
             with monitoring) to get metrics",
        )
        .with_details(json!({ "reason": "monitoring_disabled" }))
    })
}

/// The monitor's performance statistics (the reference's `get_performance_stats()` document), with
/// the cache's compression, encryption and memory figures; for a factory-built cache also `fleet`
/// (fleet invalidation, when there is Redis) and `compute` (the compute layer's gauges and
/// counters, as in the status).
#[utoipa::path(
    get,
    path = "/internal/cache/metrics",
    tag = "monitoring",
    responses(
        (status = 200, description = "The performance snapshot (stratacache_monitor::PerformanceSnapshot)", body = Object),
        (status = 401, description = "A wrong or malformed key", body = ErrorEnvelope),
        (status = 503, description = "Monitoring is disabled", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn performance(_: ReadAccess, state: Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let monitor = monitor(&state)?;
    let stats = state.cache().stats().await;
    let mut body = serde_json::to_value(monitor.snapshot(Some(&stats))).unwrap_or_default();
    if let (Some(fields), Some(fleet)) = (
        body.as_object_mut(),
        state
            .built()
            .and_then(stratacache_factory::BuiltCache::fleet_status),
    ) {
        fields.insert(
            "fleet".to_owned(),
            serde_json::to_value(fleet).unwrap_or_default(),
        );
    }
    if let (Some(fields), Some(built)) = (body.as_object_mut(), state.built()) {
        let compute = super::status::compute_section(built.compute_status());
        fields.insert(
            "compute".to_owned(),
            serde_json::to_value(compute).unwrap_or_default(),
        );
    }
    Ok(HttpResponse::Ok().json(body))
}

/// The monitor's invalidation section: totals, rates, thresholds and alert level, patterns,
/// efficiency and the latest invalidations; plus the reference endpoint's own fields, which its
/// clients read: `frequency` (`hourly`, `daily`, `average_per_hour`), `total_operations` (the
/// number of invalidations) and `performance` (`avg_duration`, `max_duration` in seconds,
/// `avg_keys_per_invalidation`). `patterns` is shared by both.
#[utoipa::path(
    get,
    path = "/internal/cache/invalidation-stats",
    tag = "monitoring",
    responses(
        (status = 200, description = "The invalidation statistics (stratacache_monitor::invalidation::InvalidationStats)", body = Object),
        (status = 401, description = "A wrong or malformed key", body = ErrorEnvelope),
        (status = 503, description = "Monitoring is disabled", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn invalidation_stats(
    _: ReadAccess,
    state: Data<AdminState>,
) -> Result<HttpResponse, ApiError> {
    let stats = monitor(&state)?.invalidations().snapshot();
    let mut body = serde_json::to_value(&stats).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        fields.insert(
            "frequency".to_owned(),
            json!({
                "hourly": stats.rates.last_hour,
                "daily": stats.rates.last_24_hours,
                "average_per_hour": stats.rates.average_per_hour,
            }),
        );
        fields.insert("total_operations".to_owned(), json!(stats.total_invalidations));
        fields.insert(
            "performance".to_owned(),
            json!({
                "avg_duration": stats.efficiency.avg_duration,
                "max_duration": stats.efficiency.max_duration,
                "avg_keys_per_invalidation": stats.efficiency.avg_keys_per_invalidation,
            }),
        );
    }
    Ok(HttpResponse::Ok().json(body))
}

/// Advice drawn from the invalidation statistics: `{"recommendations": [{severity, issue,
/// message, suggestions}]}`, possibly empty.
#[utoipa::path(
    get,
    path = "/internal/cache/invalidation-recommendations",
    tag = "monitoring",
    responses(
        (status = 200, description = "`{\"recommendations\": [...]}`", body = Object),
        (status = 401, description = "A wrong or malformed key", body = ErrorEnvelope),
        (status = 503, description = "Monitoring is disabled", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn invalidation_recommendations(
    _: ReadAccess,
    state: Data<AdminState>,
) -> Result<HttpResponse, ApiError> {
    let list = RecommendationList::from(monitor(&state)?.invalidations().recommendations());
    Ok(HttpResponse::Ok().json(list))
}

/// The `Content-Type` of the Prometheus text exposition format 0.0.4.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus scrape, negotiated on `Accept`: the OpenMetrics text format 1.0
/// (`application/openmetrics-text; version=1.0.0; charset=utf-8`) when the scraper asks for
/// `application/openmetrics-text`, otherwise the Prometheus text format 0.0.4
/// (`text/plain; version=0.0.4; charset=utf-8`: counter families named with their `_total`
/// suffix, no `# EOF`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "monitoring",
    responses(
        (status = 200, description = "Prometheus text 0.0.4 by default, OpenMetrics 1.0 when `Accept` asks for application/openmetrics-text", content(
            (String = "text/plain; version=0.0.4; charset=utf-8"),
            (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )),
        (status = 401, description = "A wrong or malformed key", body = ErrorEnvelope),
        (status = 503, description = "Monitoring is disabled", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn prometheus(
    _: ReadAccess,
    state: Data<AdminState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let monitor = monitor(&state)?;
    // First, so that the Redis memory gauge of the monitor is the one just read.
    let probe = super::status::probe_redis(&state).await;
    let stats = state.cache().stats().await;
    let mut openmetrics = monitor.render_prometheus(Some(&stats));
    if let Some(built) = state.built() {
        append_redis(&mut openmetrics, built, probe.as_ref());
    }
    if let Some(failover) = state.built().and_then(|b| b.failover.as_ref()) {
        append_failover(&mut openmetrics, failover);
    }
    if let Some(fleet) = state
        .built()
        .and_then(stratacache_factory::BuiltCache::fleet_status)
    {
        append_fleet(&mut openmetrics, &fleet);
    }
    if let Some(built) = state.built() {
        append_compute(
            &mut openmetrics,
            &super::status::compute_section(built.compute_status()),
        );
    }
    let accept = req
        .headers()
        .get_all(ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Ok(if wants_openmetrics(&accept) {
        HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, stratacache_monitor::CONTENT_TYPE))
            .body(openmetrics)
    } else {
        HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, PROMETHEUS_TEXT))
            .body(to_prometheus_text(&openmetrics))
    })
}

/// Whether an `Accept` header asks for OpenMetrics (with a non-zero quality).
fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
    })
}

/// The OpenMetrics text of the monitor in the Prometheus text format 0.0.4: a counter family
/// `x` (samples `x_total`) is described as `x_total`, `unknown` becomes `untyped`, and the
/// `# UNIT` and `# EOF` lines (OpenMetrics only) are dropped. Samples are the same in both.
pub(crate) fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| line.strip_prefix(prefix).map(|rest| (prefix, rest)));
        match described {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let tail = if prefix == "# TYPE " && tail == "unknown" {
                    "untyped"
                } else {
                    tail
                };
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Takes the closing `# EOF` (and what follows) off `openmetrics`, to add families before it.
fn split_eof(openmetrics: &mut String) -> String {
    let body_end = openmetrics.rfind("# EOF").unwrap_or(openmetrics.len());
    openmetrics.split_off(body_end)
}

/// Adds the Redis reachability families (OpenMetrics text) before the closing `# EOF`:
/// `stratacache_redis_up` (1 when the scrape's bounded `INFO` answered, 0 when it failed or
/// timed out) and `stratacache_redis_probe_duration_seconds` (how long it took, at most about
/// 100 ms). Without a Redis client (a degraded start), `stratacache_redis_up` is the failover's
/// view: 1 once it routes to Redis again. Nothing for a memory-only cache.
pub(crate) fn append_redis(
    openmetrics: &mut String,
    built: &stratacache_factory::BuiltCache,
    probe: Option<&super::status::RedisProbe>,
) {
    use std::fmt::Write as _;
    let up = match probe {
        Some(probe) => probe.reached(),
        None if built.backend == stratacache_factory::Backend::Memory => return,
        None => built
            .failover
            .as_ref()
            .is_some_and(|f| f.state() == stratacache_factory::FailoverState::Primary),
    };
    let eof = split_eof(openmetrics);
    let out = openmetrics;
    let _ = writeln!(
        out,
        "# HELP stratacache_redis_up 1 when Redis answered INFO within 100 ms at this scrape, 0 \
         when it did not.\n# TYPE stratacache_redis_up gauge\nstratacache_redis_up {}",
        u8::from(up)
    );
    if let Some(probe) = probe {
        let _ = writeln!(
            out,
            "# HELP stratacache_redis_probe_duration_seconds How long this scrape's INFO to Redis \
             took (bounded by 100 ms).\n# TYPE stratacache_redis_probe_duration_seconds gauge\n\
             # UNIT stratacache_redis_probe_duration_seconds seconds\n\
             stratacache_redis_probe_duration_seconds {}",
            probe.took.as_secs_f64()
        );
    }
    out.push_str(&eof);
}

/// Adds the failover's families (OpenMetrics text) before the closing `# EOF`: the breaker's
/// state and every counter of [`FailoverCounters`](stratacache_factory::FailoverCounters).
pub(crate) fn append_failover(openmetrics: &mut String, failover: &stratacache_factory::FailoverCache) {
    use std::fmt::Write as _;
    let eof = split_eof(openmetrics);
    let open = u8::from(failover.state() == stratacache_factory::FailoverState::Fallback);
    let out = openmetrics;
    let _ = writeln!(
        out,
        "# HELP stratacache_failover_open 1 while operations are served by the memory fallback \
         (the breaker is open), 0 while Redis serves them.\n# TYPE stratacache_failover_open gauge\n\
         stratacache_failover_open {open}"
    );
    if let Some(since) = failover.since_last_switch() {
        let _ = writeln!(
            out,
            "# HELP stratacache_failover_seconds_since_switch Seconds since the breaker last opened \
             or closed.\n# TYPE stratacache_failover_seconds_since_switch gauge\n\
             stratacache_failover_seconds_since_switch {}",
            since.as_secs_f64()
        );
    }
    let c = failover.counters();
    for (name, help, value) in [
        ("trips", "Times the breaker opened.", c.trips),
        (
            "recoveries",
            "Times the breaker closed again after a replay.",
            c.recoveries,
        ),
        (
            "fallback_operations",
            "Operations served by the memory fallback.",
            c.fallback_operations,
        ),
        (
            "primary_failures",
            "Temporary failures of Redis that an operation fell back from.",
            c.primary_failures,
        ),
        ("probes", "Checks of Redis by the background task.", c.probes),
        ("failed_probes", "Checks of Redis that failed.", c.failed_probes),
        (
            "replayed_keys",
            "Keys and patterns removed from Redis by replays.",
            c.replayed,
        ),
        (
            "failed_replays",
            "Replays that failed and were retried.",
            c.failed_replays,
        ),
        (
            "primary_clears",
            "Replays of a clear() made during an outage.",
            c.primary_clears,
        ),
        (
            "unrecorded_keys",
            "Keys changed during an outage that did not fit in the replay record.",
            c.unrecorded,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP stratacache_failover_{name} {help}\n# TYPE stratacache_failover_{name} counter\n\
             stratacache_failover_{name}_total {value}"
        );
    }
    out.push_str(&eof);
}

/// Adds fleet invalidation's families (OpenMetrics text) before the closing `# EOF`: whether it
/// is connected, its message counters, and whole-L1 flushes by reason.
pub(crate) fn append_fleet(openmetrics: &mut String, fleet: &stratacache_factory::FleetStatus) {
    use std::fmt::Write as _;
    let eof = split_eof(openmetrics);
    let out = openmetrics;
    let _ = writeln!(
        out,
        "# HELP stratacache_fleet_connected 1 while the memory tier hears other instances' \
         changes, 0 while it cannot (or has no subscription).\n# TYPE stratacache_fleet_connected gauge\n\
         stratacache_fleet_connected {}",
        u8::from(fleet.connected)
    );
    for (name, help, value) in [
        (
            "published",
            "Invalidation messages this instance sent with its changes.",
            fleet.published,
        ),
        (
            "received",
            "Invalidation messages received (own ones included).",
            fleet.received,
        ),
        ("own", "This instance's own messages, skipped.", fleet.own),
        (
            "applied",
            "Other instances' messages applied to the memory tier.",
            fleet.applied,
        ),
        (
            "subscriptions",
            "Subscriptions established (the first and every re-subscription).",
            fleet.subscriptions,
        ),
        (
            "apply_errors",
            "Messages the memory tier could not apply.",
            fleet.apply_errors,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP stratacache_fleet_{name} {help}\n# TYPE stratacache_fleet_{name} counter\n\
             stratacache_fleet_{name}_total {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP stratacache_fleet_flushes Whole memory-tier flushes of fleet invalidation, by reason.\n\
         # TYPE stratacache_fleet_flushes counter"
    );
    for (reason, count) in fleet.flushes.by_reason() {
        let _ = writeln!(
            out,
            "stratacache_fleet_flushes_total{{reason=\"{reason}\"}} {count}"
        );
    }
    out.push_str(&eof);
}

/// What each compute counter counts, for its `# HELP` line. A counter not listed (one the compute
/// layer added later) is exported all the same, with [`compute_help`]'s generic text.
const COMPUTE_HELP: &[(&str, &str)] = &[
    (
        "hits",
        "get_or_compute calls answered from the cache, without computing.",
    ),
    (
        "computations",
        "Computations run by get_or_compute (by leaders, and by callers that stopped waiting).",
    ),
    (
        "coalesced",
        "get_or_compute callers that received another caller's outcome instead of computing.",
    ),
    (
        "takeovers",
        "Computations whose caller was cancelled, taken over by a waiting caller.",
    ),
    (
        "wait_timeouts",
        "get_or_compute callers that waited max_wait for another caller's computation.",
    ),
    ("errors", "Computations that returned an error (never cached)."),
    (
        "store_errors",
        "Computed values that could not be stored (returned all the same).",
    ),
    (
        "read_errors",
        "Reads by get_or_compute that failed and were treated as a miss.",
    ),
    (
        "superseded",
        "Computed values not stored because the key was changed while they were computed.",
    ),
    (
        "remote_waits",
        "Computations that found another process holding the key's lease and waited for its value.",
    ),
    (
        "lease_takeovers",
        "Leases taken after another process's ran out or was released without a value.",
    ),
    (
        "lease_errors",
        "Lease operations that failed, and leases lost while computing.",
    ),
];

/// The `# HELP` text of the compute counter `name`.
pub(crate) fn compute_help(name: &str) -> std::borrow::Cow<'static, str> {
    match COMPUTE_HELP.iter().find(|(n, _)| *n == name) {
        Some((_, help)) => (*help).into(),
        None => format!("The compute layer's {name} counter (ComputeStats::{name}).").into(),
    }
}

/// Adds the compute layer's families (OpenMetrics text) before the closing `# EOF`: two gauges
/// (keys being computed, callers waiting) and one counter `stratacache_compute_<name>` (samples
/// `..._total`) per counter of the [`ComputeStatus`](stratacache_factory::ComputeStatus), whatever
/// its fields are.
pub(crate) fn append_compute(openmetrics: &mut String, compute: &crate::schema::ComputeSection) {
    use std::fmt::Write as _;
    let eof = split_eof(openmetrics);
    let out = openmetrics;
    let _ = writeln!(
        out,
        "# HELP stratacache_compute_in_flight Keys being computed by get_or_compute in this \
         process right now.\n# TYPE stratacache_compute_in_flight gauge\n\
         stratacache_compute_in_flight {}",
        compute.computing
    );
    let _ = writeln!(
        out,
        "# HELP stratacache_compute_waiters Callers of get_or_compute waiting for another \
         caller's computation right now.\n# TYPE stratacache_compute_waiters gauge\n\
         stratacache_compute_waiters {}",
        compute.waiting
    );
    for (name, value) in &compute.counters {
        // Serde names are identifiers already; anything else would not be a metric name.
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let help = compute_help(&name);
        let _ = writeln!(
            out,
            "# HELP stratacache_compute_{name} {help}\n# TYPE stratacache_compute_{name} counter\n\
             stratacache_compute_{name}_total {value}"
        );
    }
    out.push_str(&eof);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every counter of the compute layer is exported, the ones added after this table with a
    /// generic help text; the families keep the text format's rules.
    #[test]
    fn compute_counters_are_exported_whatever_their_names() {
        let compute = crate::schema::ComputeSection {
            computing: 2,
            waiting: 5,
            counters: [("computations", 7), ("early_refreshes", 3)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        };
        let mut om = "# HELP a_g G.\n# TYPE a_g gauge\na_g 1\n# EOF\n".to_owned();
        append_compute(&mut om, &compute);
        assert!(om.ends_with("# EOF\n"), "{om}");
        for line in [
            "# TYPE stratacache_compute_in_flight gauge",
            "stratacache_compute_in_flight 2",
            "stratacache_compute_waiters 5",
            "# HELP stratacache_compute_computations Computations run by get_or_compute (by leaders, and by callers that stopped waiting).",
            "# TYPE stratacache_compute_computations counter",
            "stratacache_compute_computations_total 7",
            "# HELP stratacache_compute_early_refreshes The compute layer's early_refreshes counter (ComputeStats::early_refreshes).",
            "# TYPE stratacache_compute_early_refreshes counter",
            "stratacache_compute_early_refreshes_total 3",
        ] {
            assert!(om.lines().any(|l| l == line), "{line} missing from:\n{om}");
        }
        let text = to_prometheus_text(&om);
        assert!(text.contains("# TYPE stratacache_compute_early_refreshes_total counter\n"));
    }

    /// The help texts describe counters the compute layer has (a renamed or removed one would
    /// leave a stale text here and in docs/operations.md).
    #[test]
    fn every_described_compute_counter_exists() {
        let stats = serde_json::to_value(stratacache_factory::ComputeStats::default()).unwrap_or_default();
        for (name, _) in COMPUTE_HELP {
            assert!(
                stats.get(name).is_some(),
                "ComputeStats has no field {name}: {stats}"
            );
        }
    }

    #[test]
    fn accept_negotiates_the_format() {
        assert!(wants_openmetrics(
            "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"
        ));
        assert!(wants_openmetrics("text/plain, Application/OpenMetrics-Text"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
        assert!(!wants_openmetrics("text/plain; version=0.0.4"));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics(""));
    }

    #[test]
    fn counters_get_their_total_name_and_eof_goes() {
        let om = "# HELP a_ops Ops.\n# TYPE a_ops counter\na_ops_total{op=\"get\"} 1\n\
                  # HELP a_g G.\n# TYPE a_g gauge\na_g 0.5\n# TYPE a_u unknown\na_u 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP a_ops_total Ops.\n# TYPE a_ops_total counter\na_ops_total{op=\"get\"} 1\n\
             # HELP a_g G.\n# TYPE a_g gauge\na_g 0.5\n# TYPE a_u untyped\na_u 1\n"
        );
    }
}
