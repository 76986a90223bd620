//! The monitor's documents: `/internal/cache/metrics`, `/internal/cache/invalidation-stats`,
//! `/internal/cache/invalidation-recommendations` and the Prometheus scrape at `/metrics`.
//!
//! Without monitoring (a preset or configuration with `enable_monitoring` off) there is nothing to
//! report: every one of them answers 503 `SERVICE_UNAVAILABLE` with
//! `details.reason = "monitoring_disabled"` (a Prometheus target then shows as down, which is
//! what it is).

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Data;
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
/// the cache's compression, encryption and memory figures.
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
    Ok(HttpResponse::Ok().json(monitor.snapshot(Some(&stats))))
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

/// The Prometheus scrape: the monitor's counters and histograms in the OpenMetrics text format
/// 1.0 (`Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8`), which
/// Prometheus reads natively.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "monitoring",
    responses(
        (status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 401, description = "A wrong or malformed key", body = ErrorEnvelope),
        (status = 503, description = "Monitoring is disabled", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn prometheus(_: ReadAccess, state: Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let monitor = monitor(&state)?;
    let stats = state.cache().stats().await;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, stratacache_monitor::CONTENT_TYPE))
        .body(monitor.render_prometheus(Some(&stats))))
}
