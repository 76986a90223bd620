//! `GET /internal/cache/health` and its liveness answer `GET /internal/cache/health/live`.

use actix_web::HttpResponse;
use actix_web::web::Data;
use stratacache_core::HealthStatus;
use stratacache_factory::HealthCheck;

use crate::auth::ReadAccess;
use crate::error::ErrorEnvelope;
use crate::state::AdminState;

/// The cache's health report (ping, a set / get / delete probe through the cache, statistics),
/// bounded by `health_timeout` (80 ms by default). The body is the report in every case; the
/// status is 200 when the cache is healthy or degraded (it serves requests) and 503 when it is
/// unhealthy, so that load balancers can read the status alone.
#[utoipa::path(
    get,
    path = "/internal/cache/health",
    tag = "cache",
    responses(
        (status = 200, description = "Healthy or degraded (stratacache_factory::HealthReport)", body = Object),
        (status = 401, description = "A wrong or malformed key", body = ErrorEnvelope),
        (status = 503, description = "Unhealthy (the same report)", body = Object),
    ),
    security((), ("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn health(_: ReadAccess, state: Data<AdminState>) -> HttpResponse {
    let check = HealthCheck {
        timeout: state.config().health_timeout,
        operation_probe: true,
    };
    let report = check.check(state.cache().as_ref()).await;
    let mut response = match report.status {
        HealthStatus::Unhealthy => HttpResponse::ServiceUnavailable(),
        _ => HttpResponse::Ok(),
    };
    response.json(report)
}

/// Liveness for orchestrators: 200 `{"status": "alive"}` while the process serves HTTP. It
/// touches no cache and never asks for a key (even with `require_auth_for_reads`), so it shows
/// nothing but that the server runs; readiness and the cache's health are
/// `GET /internal/cache/health`.
#[utoipa::path(
    get,
    path = "/internal/cache/health/live",
    tag = "cache",
    responses(
        (status = 200, description = "The server runs: `{\"status\": \"alive\"}`", body = Object),
    ),
    security(()),
)]
pub(crate) async fn liveness() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "alive" }))
}
