//! The error envelope every failure of the API answers with, and the one place where cache errors
//! become HTTP statuses.
//!
//! ```json
//! {"success": false, "error": "ttl must be between 1 and 604800 seconds", "error_code": "VALIDATION_ERROR",
//!  "details": {"parameter": "ttl"}, "timestamp": "2026-11-21T09:30:00Z"}
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::QueryPayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stratacache_core::ErrorKind;
use utoipa::ToSchema;

/// The `error_code` of an [`ErrorEnvelope`]: what kind of failure, in the reference's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: a parameter, key, TTL or body was refused.
    ValidationError,
    /// 401: a key is required and was missing, malformed or wrong.
    AuthenticationError,
    /// 404: no such route, or no such entry.
    NotFound,
    /// 405: the path exists, not with this method (the `Allow` header lists those it accepts).
    MethodNotAllowed,
    /// 413: the request body is larger than [`AdminConfig::max_body_bytes`](crate::AdminConfig).
    PayloadTooLarge,
    /// 500: the cache failed (a backend error, a value that cannot be decrypted, ...).
    InfrastructureError,
    /// 503: the cache cannot serve now (connection lost, timeout), or a feature is disabled.
    ServiceUnavailable,
    /// 500: the cache or the API is misconfigured.
    ConfigurationError,
}

impl ErrorCode {
    /// The wire name (`"VALIDATION_ERROR"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "VALIDATION_ERROR",
            Self::AuthenticationError => "AUTHENTICATION_ERROR",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::InfrastructureError => "INFRASTRUCTURE_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::ConfigurationError => "CONFIGURATION_ERROR",
        }
    }

    /// The code of an error response with `status` that carries no envelope of its own (used by
    /// the fallback that wraps responses produced outside the handlers).
    fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Self::AuthenticationError,
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => Self::ServiceUnavailable,
            s if s.is_client_error() => Self::ValidationError,
            _ => Self::InfrastructureError,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response (the reference's error envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    /// What went wrong, for a human. Never contains an API key or a Redis password.
    pub error: String,
    /// What kind of failure.
    pub error_code: ErrorCode,
    /// Machine-readable context (`{"parameter": "ttl"}`, `{"kind": "connection"}`, ...), or `null`.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// When the error was produced, ISO 8601 UTC to the second (`2026-11-21T09:30:00Z`).
    pub timestamp: String,
    /// The reference's own error body, `{"message": ..., "context": {...}}`, which its clients
    /// read: present on 401 answers only (absent from the JSON otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
}

/// Now, ISO 8601 UTC to the second.
pub(crate) fn now_timestamp() -> String {
    stratacache_core::format_timestamp(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// A failed request: a status, an [`ErrorCode`], a message and optional details. Handlers return
/// it; its response is the [`ErrorEnvelope`].
#[derive(Debug, Clone)]
pub struct ApiError(Box<Inner>);

/// Boxed: handlers and extractors pass errors by value in `Result`s.
#[derive(Debug, Clone)]
struct Inner {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    details: Option<Value>,
    detail: Option<Value>,
    allow: Option<String>,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            status,
            code,
            message: message.into(),
            details: None,
            detail: None,
            allow: None,
        }))
    }

    /// 400 `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::ValidationError, message)
    }

    /// 400 `VALIDATION_ERROR` about one request parameter, named in `details.parameter`.
    pub fn invalid_parameter(parameter: &str, message: impl Into<String>) -> Self {
        Self::validation(message).with_details(json!({ "parameter": parameter }))
    }

    /// 401 `AUTHENTICATION_ERROR`, with `WWW-Authenticate: Bearer`. `reason` (`missing`,
    /// `empty`, `malformed`, `invalid`) goes in `details.reason`; the message names
    /// authentication and the API key, and never repeats what the client sent. The body also
    /// carries the reference's `detail: {message, context}`.
    pub fn unauthorized(reason: &'static str) -> Self {
        const HOW: &str = "send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`";
        let message = match reason {
            "missing" => format!("authentication required: no API key was sent; {HOW}"),
            "empty" => format!("authentication failed: the API key is empty; {HOW}"),
            "malformed" => format!("authentication failed: the API key credentials are malformed; {HOW}"),
            _ => "authentication failed: invalid API key".to_owned(),
        };
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::AuthenticationError,
            message.clone(),
        )
        .with_details(json!({ "reason": reason }));
        error.0.detail = Some(json!({
            "message": message,
            "context": {
                "reason": reason,
                "credentials_provided": reason != "missing",
                "auth_methods": ["bearer", "x-api-key"],
            },
        }));
        error
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    /// 405 `METHOD_NOT_ALLOWED` with an `Allow` header listing `allowed`.
    pub fn method_not_allowed(method: &Method, path: &str, allowed: &[Method]) -> Self {
        let allow = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            format!("method {method} is not allowed on {path}; allowed: {allow}"),
        )
        .with_details(json!({ "method": method.as_str(), "allowed": allowed.iter().map(Method::as_str).collect::<Vec<_>>() }));
        error.0.allow = Some(allow);
        error
    }

    /// 413 `PAYLOAD_TOO_LARGE`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
        .with_details(json!({ "max_body_bytes": limit }))
    }

    /// 503 `SERVICE_UNAVAILABLE`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            message,
        )
    }

    /// Replaces the details.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.0.details = Some(details);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The error code.
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    /// The message (`error` in the envelope).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The envelope this error answers with, timestamped now.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            success: false,
            error: self.0.message.clone(),
            error_code: self.0.code,
            details: self.0.details.clone(),
            timestamp: now_timestamp(),
            detail: self.0.detail.clone(),
        }
    }
}

/// The one mapping from cache errors to HTTP: `InvalidInput` → 400 `VALIDATION_ERROR`;
/// `Connection`, `Timeout`, `Unavailable`, `Closed` (a cache closed at shutdown) → 503
/// `SERVICE_UNAVAILABLE`; `Configuration` → 500
/// `CONFIGURATION_ERROR`; every other kind → 500 `INFRASTRUCTURE_ERROR`. The message is the
/// error's own (stratacache errors never carry secrets; their sources, which may quote a server's
/// reply, are logged, not returned) and `details.kind` the [`ErrorKind`] name.
impl From<stratacache_core::Error> for ApiError {
    fn from(e: stratacache_core::Error) -> Self {
        let kind = e.kind();
        let (status, code) = match kind {
            ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, ErrorCode::ValidationError),
            k if k.is_temporary() || k == ErrorKind::Closed => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ServiceUnavailable)
            }
            ErrorKind::Configuration => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::ConfigurationError),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InfrastructureError),
        };
        if status.is_server_error() {
            tracing::warn!(error = ?e, "admin API: cache operation failed");
        }
        Self::new(status, code, format!("cache operation failed: {e}"))
            .with_details(json!({ "kind": kind.as_str() }))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.0.status.as_u16(),
            self.0.code,
            self.0.message
        )
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut response = HttpResponse::build(self.0.status);
        if self.0.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(allow) = &self.0.allow
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            response.insert_header((header::ALLOW, value));
        }
        response.json(self.envelope())
    }
}

/// The query-string error handler: 400 `VALIDATION_ERROR` in the envelope.
#[allow(clippy::needless_pass_by_value)] // the signature `QueryConfig::error_handler` asks for
pub(crate) fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::validation(format!("invalid query string: {err}"))
        .with_details(json!({ "parameter": "query" }))
        .into()
}

/// The JSON 404 of unknown routes.
pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found(format!("no route for {} {}", req.method(), req.path()))
        .with_details(json!({ "path": req.path() }))
        .error_response()
}

/// Whether a response already carries a JSON body (an envelope or a report).
fn is_json<B>(response: &HttpResponse<B>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// A middleware that turns every error response without a JSON body (produced by actix-web
/// itself, or by an extractor outside this crate) into the envelope, with the same status.
pub fn envelope_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        if is_json(res.response()) {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let code = ErrorCode::for_status(status);
        let message = match res.response().error() {
            Some(e) if status.is_client_error() => e.to_string(),
            _ => status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_ascii_lowercase(),
        };
        let (req, old) = res.into_parts();
        let mut error = ApiError::new(status, code, message);
        if let Some(allow) = old.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()) {
            error.0.allow = Some(allow.to_owned());
        }
        let mut new = error.error_response();
        if let Some(www) = old.headers().get(header::WWW_AUTHENTICATE) {
            new.headers_mut().insert(header::WWW_AUTHENTICATE, www.clone());
        }
        let res: ServiceResponse<EitherBody<B>> = ServiceResponse::new(req, new).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(res))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_kind_maps_to_one_status() {
        for kind in ErrorKind::ALL {
            let e = ApiError::from(stratacache_core::Error::new(kind, "x"));
            let expected = match kind {
                ErrorKind::InvalidInput => 400,
                ErrorKind::Connection | ErrorKind::Timeout | ErrorKind::Unavailable | ErrorKind::Closed => {
                    503
                }
                _ => 500,
            };
            assert_eq!(e.status().as_u16(), expected, "{kind}");
            assert_eq!(e.envelope().details.unwrap()["kind"], kind.as_str());
        }
    }

    #[actix_web::test]
    async fn responses_without_a_json_body_get_the_envelope() {
        use actix_web::{App, test, web};

        let app = test::init_service(
            App::new()
                .wrap(envelope_errors())
                .route(
                    "/boom",
                    web::get().to(|| async { HttpResponse::InternalServerError().body("boom") }),
                )
                .route(
                    "/bad",
                    web::get().to(|| async { HttpResponse::BadRequest().body("bad") }),
                )
                .route(
                    "/teapot",
                    web::get().to(|| async {
                        HttpResponse::build(StatusCode::UNAUTHORIZED)
                            .insert_header((header::WWW_AUTHENTICATE, "Basic"))
                            .finish()
                    }),
                )
                .route(
                    "/json",
                    web::get().to(|| async { ApiError::not_found("gone").error_response() }),
                ),
        )
        .await;
        for (path, status, code) in [
            ("/boom", 500, "INFRASTRUCTURE_ERROR"),
            ("/bad", 400, "VALIDATION_ERROR"),
            ("/teapot", 401, "AUTHENTICATION_ERROR"),
            ("/json", 404, "NOT_FOUND"),
        ] {
            let res = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status().as_u16(), status, "{path}");
            let www = res.headers().get(header::WWW_AUTHENTICATE).cloned();
            let body: ErrorEnvelope = test::read_body_json(res).await;
            assert_eq!((body.success, body.error_code.as_str()), (false, code), "{path}");
            if path == "/json" {
                assert_eq!(body.error, "gone");
            }
            if path == "/teapot" {
                assert_eq!(www.unwrap(), "Basic");
            }
        }
    }

    #[test]
    fn codes_serialize_as_their_names() {
        for code in [
            ErrorCode::ValidationError,
            ErrorCode::AuthenticationError,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::PayloadTooLarge,
            ErrorCode::InfrastructureError,
            ErrorCode::ServiceUnavailable,
            ErrorCode::ConfigurationError,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
