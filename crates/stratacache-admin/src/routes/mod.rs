//! The route table: one list drives both what [`configure`](crate::configure) mounts and what
//! [`routes`] reports (and the OpenAPI test checks the document against it).

pub(crate) mod entries;
pub(crate) mod health;
pub(crate) mod invalidate;
pub(crate) mod metrics;
pub(crate) mod openapi;
pub(crate) mod status;

use actix_web::http::Method;
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, ResponseError, Route};

use crate::error::{ApiError, query_error};
use crate::state::AdminState;

/// Whether a route needs an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteAuth {
    /// A key is always required (when keys are configured).
    Required,
    /// A key is optional (a wrong one is refused), unless
    /// [`AdminConfig::require_auth_for_reads`](crate::AdminConfig::require_auth_for_reads).
    Optional,
    /// No key is ever asked for, even with `require_auth_for_reads` (the liveness answer).
    Public,
}

/// One route of the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteInfo {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` for path parameters (as in the OpenAPI document).
    pub path: &'static str,
    /// Whether it needs a key.
    pub auth: RouteAuth,
}

struct RouteDef {
    method: Method,
    path: &'static str,
    auth: RouteAuth,
    route: fn() -> Route,
}

const STATUS: &str = "/internal/cache/status";
const INVALIDATE: &str = "/internal/cache/invalidate";
const INVALIDATION_STATS: &str = "/internal/cache/invalidation-stats";
const INVALIDATION_RECOMMENDATIONS: &str = "/internal/cache/invalidation-recommendations";
const METRICS: &str = "/internal/cache/metrics";
const HEALTH: &str = "/internal/cache/health";
const LIVENESS: &str = "/internal/cache/health/live";
const OPENAPI: &str = "/internal/cache/openapi.json";
const PROMETHEUS: &str = "/metrics";
const ENTRY: &str = "/internal/cache/entries/{key}";

const ROUTES: [RouteDef; 12] = [
    RouteDef {
        method: Method::GET,
        path: STATUS,
        auth: RouteAuth::Optional,
        route: || web::get().to(status::status),
    },
    RouteDef {
        method: Method::POST,
        path: INVALIDATE,
        auth: RouteAuth::Required,
        route: || web::post().to(invalidate::invalidate),
    },
    RouteDef {
        method: Method::GET,
        path: INVALIDATION_STATS,
        auth: RouteAuth::Optional,
        route: || web::get().to(metrics::invalidation_stats),
    },
    RouteDef {
        method: Method::GET,
        path: INVALIDATION_RECOMMENDATIONS,
        auth: RouteAuth::Optional,
        route: || web::get().to(metrics::invalidation_recommendations),
    },
    RouteDef {
        method: Method::GET,
        path: METRICS,
        auth: RouteAuth::Optional,
        route: || web::get().to(metrics::performance),
    },
    RouteDef {
        method: Method::GET,
        path: HEALTH,
        auth: RouteAuth::Optional,
        route: || web::get().to(health::health),
    },
    RouteDef {
        method: Method::GET,
        path: LIVENESS,
        auth: RouteAuth::Public,
        route: || web::get().to(health::liveness),
    },
    RouteDef {
        method: Method::GET,
        path: OPENAPI,
        auth: RouteAuth::Optional,
        route: || web::get().to(openapi::openapi_json),
    },
    RouteDef {
        method: Method::GET,
        path: PROMETHEUS,
        auth: RouteAuth::Optional,
        route: || web::get().to(metrics::prometheus),
    },
    RouteDef {
        method: Method::GET,
        path: ENTRY,
        auth: RouteAuth::Required,
        route: || web::get().to(entries::get_entry),
    },
    RouteDef {
        method: Method::PUT,
        path: ENTRY,
        auth: RouteAuth::Required,
        route: || web::put().to(entries::put_entry),
    },
    RouteDef {
        method: Method::DELETE,
        path: ENTRY,
        auth: RouteAuth::Required,
        route: || web::delete().to(entries::delete_entry),
    },
];

/// Every route of the API, in the order they are mounted.
pub fn routes() -> Vec<RouteInfo> {
    ROUTES
        .iter()
        .map(|r| RouteInfo {
            method: r.method.clone(),
            path: r.path,
            auth: r.auth,
        })
        .collect()
}

/// Mounts one resource per path: its methods, the state, the query error handler, and a 405 for
/// the other methods (with `Allow`).
pub(crate) fn mount(cfg: &mut ServiceConfig, state: AdminState) {
    let data = web::Data::new(state);
    let mut paths: Vec<&'static str> = Vec::new();
    for def in &ROUTES {
        if !paths.contains(&def.path) {
            paths.push(def.path);
        }
    }
    for path in paths {
        let defs: Vec<&RouteDef> = ROUTES.iter().filter(|r| r.path == path).collect();
        let allowed: Vec<Method> = defs.iter().map(|d| d.method.clone()).collect();
        let mut resource = web::resource(path)
            .app_data(data.clone())
            .app_data(web::QueryConfig::default().error_handler(query_error));
        for def in defs {
            resource = resource.route((def.route)());
        }
        resource = resource.default_service(web::to(move |req: HttpRequest| {
            let allowed = allowed.clone();
            async move { ApiError::method_not_allowed(req.method(), req.path(), &allowed).error_response() }
        }));
        cfg.service(resource);
    }
}
