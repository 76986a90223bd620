#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
mod config;
pub mod error;
mod routes;
pub mod schema;
mod screen;
pub mod server;
mod state;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::DefaultHeaders;
use actix_web::web::{self, ServiceConfig};
use actix_web::{App, Route};

pub use auth::{ADDITIONAL_API_KEYS_VAR, API_KEY_HEADER, API_KEY_VAR, ApiKeys};
pub use config::{
    AdminConfig, DEFAULT_HEALTH_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_PATTERN_LEN, MIN_API_KEY_LEN,
    REQUIRE_AUTH_FOR_READS_VAR,
};
pub use error::{ApiError, ErrorCode, ErrorEnvelope};
pub use routes::entries::{MAX_ENTRY_TTL, MAX_KEY_LEN};
pub use routes::invalidate::{DEFAULT_OPERATION_CONTEXT, MAX_CONTEXT_LEN};
pub use routes::openapi::{openapi, openapi_for};
pub use routes::{RouteAuth, RouteInfo, routes};
pub use state::AdminState;

/// Mounts every route of the API (see [`routes`]) on an actix-web application or scope:
/// `App::new().configure(stratacache_admin::configure(state.clone()))`.
///
/// | route | key | answers |
/// |---|---|---|
/// | `GET /internal/cache/status` | optional | [`schema::CacheStatus`] |
/// | `POST /internal/cache/invalidate?pattern=P&operation_context=C` | required | [`schema::InvalidationResult`]; no or an empty pattern means every key (as in the reference, logged as a warning); 400 for a too long (> [`AdminConfig::max_pattern_len`]) or control-character pattern; 503 / 500 when the cache fails, never 200 |
/// | `GET /internal/cache/invalidation-stats` | optional | the monitor's invalidation section |
/// | `GET /internal/cache/invalidation-recommendations` | optional | `{"recommendations": [...]}` |
/// | `GET /internal/cache/metrics` | optional | the monitor's `PerformanceSnapshot` |
/// | `GET /internal/cache/health` | optional | the `HealthReport`: 200 healthy or degraded, 503 unhealthy |
/// | `GET /internal/cache/health/live` | never | liveness for orchestrators: `{"status": "alive"}`, 200 while the process serves; touches no cache |
/// | `GET /internal/cache/openapi.json` | optional | the OpenAPI 3 document as the running configuration enforces it ([`openapi_for`]) |
/// | `GET /metrics` | optional | Prometheus scrape: text format 0.0.4 by default, OpenMetrics text 1.0 (`Content-Type` [`stratacache_monitor::CONTENT_TYPE`]) when `Accept` asks for `application/openmetrics-text` |
/// | `GET /internal/cache/entries/{key}` | required | [`schema::Entry`], 404 `NOT_FOUND` when absent |
/// | `PUT /internal/cache/entries/{key}?ttl=SECONDS` | required | the raw body as value; 201 (new) or 200 (replaced) with [`schema::Entry`]; TTL 1..=604 800 s ([`MAX_ENTRY_TTL`]) else 400; body over [`AdminConfig::max_body_bytes`] → 413 `PAYLOAD_TOO_LARGE` |
/// | `DELETE /internal/cache/entries/{key}` | required | [`schema::DeletedEntry`] |
///
/// Keys are 1 to [`MAX_KEY_LEN`] characters without control characters, percent-encoded in the path.
/// Authentication is described in [`auth`]; every error answers with the [`ErrorEnvelope`], and
/// cache errors map to statuses as `ApiError`'s `From<stratacache_core::Error>` says.
///
/// **Without monitoring** (a configuration with `enable_monitoring` off), the four monitor routes
/// (`metrics`, `invalidation-stats`, `invalidation-recommendations`, `/metrics`) answer 503
/// `SERVICE_UNAVAILABLE` with `details.reason = "monitoring_disabled"`; the status then reports
/// the cache's own counters (`performance.monitoring_enabled: false`).
///
/// Each route carries its own state and query-string error handler, so mounting the API does not
/// change anything else in the application. What a `ServiceConfig` cannot hold (the JSON 404 of
/// unknown routes, the error envelope of responses produced outside the handlers, the security
/// headers) is in [`default_service`], [`error::envelope_errors`] and [`security_headers`];
/// [`app`] wires them all.
pub fn configure(state: AdminState) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg| routes::mount(cfg, state)
}

/// The JSON 404 (`NOT_FOUND` in the envelope) for unknown routes:
/// `App::new().default_service(stratacache_admin::default_service())`. A known path with another
/// method answers 405 `METHOD_NOT_ALLOWED` with an `Allow` header, from [`configure`] itself.
pub fn default_service() -> Route {
    web::to(error::not_found)
}

/// The security headers of every response: `X-Content-Type-Options: nosniff`,
/// `X-Frame-Options: DENY`, `Cache-Control: no-store`, `Referrer-Policy: no-referrer` and
/// `Content-Security-Policy: default-src 'none'` (a handler's own value wins).
pub fn security_headers() -> DefaultHeaders {
    SECURITY_HEADERS
        .into_iter()
        .fold(DefaultHeaders::new(), |headers, header| headers.add(header))
}

/// The headers of [`security_headers`], also sent by the requests [`server::AdminServer`]
/// refuses before routing.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'none'"),
];

/// The largest request head accepted by [`app`]: 16 KiB of header names and values. Larger heads
/// answer 431 with `VALIDATION_ERROR` in the envelope (heads above 128 KiB or with more than 96
/// headers never reach the application: [`server::AdminServer`] refuses them).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses requests whose headers add up to more than [`MAX_HEADER_BYTES`].
pub async fn limit_headers(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let size: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        let error = ApiError::new(
            actix_web::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::ValidationError,
            format!("request headers of {size} bytes exceed the limit of {MAX_HEADER_BYTES} bytes"),
        );
        // A response, not an error: the outer middleware (security headers) still applies.
        let response = actix_web::ResponseError::error_response(&error);
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// The whole API as an application: [`configure`], the JSON [`default_service`], the error
/// envelope for every other error response ([`error::envelope_errors`]), the header size limit
/// ([`limit_headers`]) and the [`security_headers`]. The server binary and the tests build the
/// same application with it, served by [`server::AdminServer`] (actix-web's `HttpServer` also
/// serves it, without the envelope on the requests actix-http refuses before routing):
///
/// ```no_run
/// # async fn run(state: stratacache_admin::AdminState) -> std::io::Result<()> {
/// stratacache_admin::server::AdminServer::new(move || stratacache_admin::app(state.clone()))
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// # }
/// ```
pub fn app(
    state: AdminState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(configure(state))
        .default_service(default_service())
        .wrap(actix_web::middleware::from_fn(limit_headers))
        .wrap(error::envelope_errors())
        .wrap(security_headers())
}
