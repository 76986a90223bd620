//! The OpenAPI 3 document of the API, served at `GET /internal/cache/openapi.json`.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use crate::auth::ReadAccess;
use crate::error::{ErrorCode, ErrorEnvelope};
use crate::schema;
use crate::{AdminConfig, AdminState};

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
        schema::FleetSection,
        schema::ComputeSection,
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

/// The OpenAPI 3 document of every route of the API, for a server with API keys and the default
/// read access: the data routes require a key, the read-only routes take one optionally.
/// [`openapi_for`] is the document of a given configuration (the one served at
/// `/internal/cache/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The OpenAPI 3 document as a server with `config` enforces it, so that a client (or a fuzzer)
/// reading it knows which requests need a key: with no key configured every route is open (no
/// requirement); with [`AdminConfig::require_auth_for_reads`] the read-only routes require a key
/// too. The liveness route never requires one.
pub fn openapi_for(config: &AdminConfig) -> utoipa::openapi::OpenApi {
    let mut doc = openapi();
    let open = config.keys.is_empty();
    if !open && !config.require_auth_for_reads {
        return doc;
    }
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
        ];
        for operation in operations.into_iter().flatten() {
            let Some(security) = operation.security.as_mut() else {
                continue;
            };
            let optional = security.contains(&SecurityRequirement::default());
            if open {
                *security = vec![SecurityRequirement::default()];
            } else if optional && security.len() > 1 {
                // A read route: the key becomes required (liveness has only `{}` and stays open).
                security.retain(|requirement| *requirement != SecurityRequirement::default());
            }
        }
    }
    doc
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
pub(crate) async fn openapi_json(_: ReadAccess, state: web::Data<AdminState>) -> HttpResponse {
    HttpResponse::Ok().json(openapi_for(state.config()))
}
