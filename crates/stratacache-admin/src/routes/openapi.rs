//! The OpenAPI 3 document of the API, served at `GET /internal/cache/openapi.json`.

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::ReadAccess;
use crate::error::{ErrorCode, ErrorEnvelope};
use crate::schema;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "stratacache admin API",
        description = "Status, invalidation, metrics, health and entry inspection of one stratacache \
                       cache. Errors answer with the error envelope. Routes marked with an optional \
                       security requirement accept no key (unless require_auth_for_reads is set); a \
                       wrong key is always refused. With no key configured (development and testing \
                       only) every route is open.",
    ),
    paths(
        super::status::status,
        super::invalidate::invalidate,
        super::metrics::invalidation_stats,
        super::metrics::invalidation_recommendations,
        super::metrics::performance,
        super::health::health,
        super::health::liveness,
        openapi_json,
        super::metrics::prometheus,
        super::entries::get_entry,
        super::entries::put_entry,
        super::entries::delete_entry,
    ),
    components(schemas(
        ErrorEnvelope,
        ErrorCode,
        schema::CacheStatus,
        schema::RedisState,
        schema::RedisSection,
        schema::MemorySection,
        schema::PerformanceSummary,
        schema::AiSection,
        schema::SecuritySection,
        schema::SecurityConfiguration,
        schema::ApiSecurity,
        schema::FailoverSection,
        schema::RegistrySection,
        schema::InvalidationResult,
        schema::Entry,
        schema::ValueEncoding,
        schema::DeletedEntry,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "cache", description = "Status, health and invalidation"),
        (name = "monitoring", description = "The monitor's statistics and the Prometheus scrape"),
        (name = "entries", description = "Reading, writing and deleting single entries"),
    ),
)]
struct ApiDoc;

/// The two ways to send a key: `Authorization: Bearer <key>` and `X-API-Key: <key>`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The OpenAPI 3 document of every route of the API (the one served at
/// `/internal/cache/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This document.
#[utoipa::path(
    get,
    path = "/internal/cache/openapi.json",
    tag = "cache",
    responses(
        (status = 200, description = "The OpenAPI 3 document", body = Object),
        (status = 401, description = "A wrong or malformed key", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn openapi_json(_: ReadAccess) -> HttpResponse {
    HttpResponse::Ok().json(openapi())
}
