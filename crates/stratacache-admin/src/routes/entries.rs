//! Entry inspection: `GET`, `PUT` and `DELETE /internal/cache/entries/{key}`.
//!
//! Keys are the application's keys (the stack adds its namespace), percent-encoded in the path
//! (`user%2F1` for `user/1`); 1 to [`MAX_KEY_LEN`] bytes, no control characters. Every call goes
//! through the monitored cache, so it shows in the metrics like any other operation.

use std::time::Duration;

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::{Data, Json, Path, Payload, Query};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use stratacache_core::{Bytes, Expiry, Ttl};

use crate::auth::Protected;
use crate::error::{ApiError, ErrorEnvelope};
use crate::routes::invalidate::{check_text, check_utf8};
use crate::schema::{DeletedEntry, Entry, ValueEncoding};
use crate::state::AdminState;

/// The longest accepted key, in characters (as the OpenAPI document's `maxLength` counts).
pub const MAX_KEY_LEN: usize = 1024;
/// The longest TTL `PUT` accepts: 7 days (604 800 s), the longest default TTL a preset accepts.
pub const MAX_ENTRY_TTL: Duration = Duration::from_secs(stratacache_factory::config::DEFAULT_TTL_RANGE.1);

#[derive(Debug, Deserialize)]
pub(crate) struct PutQuery {
    ttl: Option<String>,
}

fn checked_key(req: &HttpRequest, key: Path<String>) -> Result<String, ApiError> {
    let key = key.into_inner();
    check_text("key", &key, MAX_KEY_LEN)?;
    check_utf8("key", &key, req.uri().path())?;
    Ok(key)
}

/// `?ttl=SECONDS`: absent → the cache's default TTL; otherwise a whole number from 1 to 604 800.
fn parse_ttl(ttl: Option<&str>) -> Result<Ttl, ApiError> {
    let Some(raw) = ttl else {
        return Ok(Ttl::Default);
    };
    let max = MAX_ENTRY_TTL.as_secs();
    match raw.trim().parse::<u64>() {
        Ok(secs) if (1..=max).contains(&secs) => Ok(Ttl::secs(secs)),
        _ => Err(ApiError::invalid_parameter(
            "ttl",
            format!("ttl must be a whole number of seconds from 1 to {max} (7 days)"),
        )),
    }
}

/// Whole seconds left, rounded up; `None` for an entry that never expires.
fn ttl_seconds(expiry: Expiry) -> Option<u64> {
    match expiry {
        Expiry::Never => None,
        Expiry::After(d) => Some(d.as_secs() + u64::from(d.subsec_nanos() > 0)),
    }
}

fn entry(key: String, value: &Bytes, ttl_seconds: Option<u64>) -> Entry {
    let (value_text, encoding) = match std::str::from_utf8(value) {
        Ok(text) => (text.to_owned(), ValueEncoding::Utf8),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(value),
            ValueEncoding::Base64,
        ),
    };
    Entry {
        key,
        value: value_text,
        encoding,
        size_bytes: value.len(),
        ttl_seconds,
    }
}

/// Reads one entry with its remaining lifetime (counts as a read: a hit or a miss).
#[utoipa::path(
    get,
    path = "/internal/cache/entries/{key}",
    tag = "entries",
    params(("key" = String, Path, min_length = 1, max_length = 1024, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "The key, percent-encoded; 1 to 1024 characters, no control characters")),
    responses(
        (status = 200, description = "The entry", body = Entry),
        (status = 400, description = "An invalid key (empty, too long, control characters, not UTF-8)", body = ErrorEnvelope),
        (status = 401, description = "No valid API key", body = ErrorEnvelope),
        (status = 404, description = "No such entry", body = ErrorEnvelope),
        (status = 500, description = "The cache failed", body = ErrorEnvelope),
        (status = 503, description = "The cache cannot be reached", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn get_entry(
    _: Protected,
    state: Data<AdminState>,
    req: HttpRequest,
    key: Path<String>,
) -> Result<Json<Entry>, ApiError> {
    let key = checked_key(&req, key)?;
    match state.cache().get_with_ttl(&key).await? {
        Some((value, expiry)) => Ok(Json(entry(key, &value, ttl_seconds(expiry)))),
        None => {
            Err(ApiError::not_found(format!("no entry for key {key:?}")).with_details(json!({ "key": key })))
        }
    }
}

/// Writes the raw request body as the value of `key`, for `ttl` seconds (the cache's default TTL
/// without it). Answers 201 when the key was new, 200 when it replaced an entry, with the entry as
/// stored.
#[utoipa::path(
    put,
    path = "/internal/cache/entries/{key}",
    tag = "entries",
    params(
        ("key" = String, Path, min_length = 1, max_length = 1024, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "The key, percent-encoded; 1 to 1024 characters, no control characters"),
        ("ttl" = Option<u64>, Query, minimum = 1, maximum = 604800, description = "Lifetime in seconds, 1 to 604800 (7 days); the cache's default TTL when absent"),
    ),
    request_body(content = Option<Vec<u8>>, description = "The value, as raw bytes (at most max_body_bytes, 1 MiB by default); optional: no body stores an empty value", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Replaced an entry", body = Entry),
        (status = 201, description = "Created an entry", body = Entry),
        (status = 400, description = "An invalid key or TTL", body = ErrorEnvelope),
        (status = 401, description = "No valid API key", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than max_body_bytes", body = ErrorEnvelope),
        (status = 500, description = "The cache failed", body = ErrorEnvelope),
        (status = 503, description = "The cache cannot be reached", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn put_entry(
    _: Protected,
    state: Data<AdminState>,
    req: HttpRequest,
    key: Path<String>,
    query: Query<PutQuery>,
    body: Payload,
) -> Result<HttpResponse, ApiError> {
    let key = checked_key(&req, key)?;
    let ttl = parse_ttl(query.ttl.as_deref())?;
    let limit = state.config().max_body_bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    let value = body
        .to_bytes_limited(limit)
        .await
        .map_err(|_| ApiError::payload_too_large(limit))?
        .map_err(|e| ApiError::validation(format!("cannot read the request body: {e}")))?;
    let cache = state.cache();
    let existed = cache.exists(&key).await?;
    cache.set(&key, value.clone(), ttl).await?;
    let left = match cache.ttl(&key).await? {
        Some(expiry) => ttl_seconds(expiry),
        // Gone already (evicted): report what was asked.
        None => match ttl {
            Ttl::After(d) => ttl_seconds(Expiry::After(d)),
            _ => None,
        },
    };
    let mut response = if existed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(response.json(entry(key, &value, left)))
}

/// Deletes one entry; `deleted` says whether it existed.
#[utoipa::path(
    delete,
    path = "/internal/cache/entries/{key}",
    tag = "entries",
    params(("key" = String, Path, min_length = 1, max_length = 1024, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "The key, percent-encoded; 1 to 1024 characters, no control characters")),
    responses(
        (status = 200, description = "Deleted, or there was nothing to delete", body = DeletedEntry),
        (status = 400, description = "An invalid key (empty, too long, control characters, not UTF-8)", body = ErrorEnvelope),
        (status = 401, description = "No valid API key", body = ErrorEnvelope),
        (status = 500, description = "The cache failed", body = ErrorEnvelope),
        (status = 503, description = "The cache cannot be reached", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn delete_entry(
    _: Protected,
    state: Data<AdminState>,
    req: HttpRequest,
    key: Path<String>,
) -> Result<Json<DeletedEntry>, ApiError> {
    let key = checked_key(&req, key)?;
    let deleted = state.cache().delete(&key).await?;
    Ok(Json(DeletedEntry { key, deleted }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ttls_are_whole_seconds_up_to_seven_days() {
        assert_eq!(parse_ttl(None).unwrap(), Ttl::Default);
        assert_eq!(parse_ttl(Some("60")).unwrap(), Ttl::secs(60));
        assert_eq!(parse_ttl(Some("604800")).unwrap(), Ttl::secs(604_800));
        for bad in ["0", "-1", "1.5", "abc", "", "604801", "99999999999999999999999"] {
            assert!(parse_ttl(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_text_or_base64() {
        let text = entry("k".into(), &Bytes::from_static("héllo".as_bytes()), Some(5));
        assert_eq!(
            (text.value.as_str(), text.encoding, text.size_bytes),
            ("héllo", ValueEncoding::Utf8, 6)
        );
        let binary = entry("k".into(), &Bytes::from_static(&[0xff, 0x00, 0x10]), None);
        assert_eq!(
            (binary.value.as_str(), binary.encoding),
            ("/wAQ", ValueEncoding::Base64)
        );
        assert_eq!(ttl_seconds(Expiry::After(Duration::from_millis(1_001))), Some(2));
        assert_eq!(ttl_seconds(Expiry::After(Duration::from_secs(3))), Some(3));
        assert_eq!(ttl_seconds(Expiry::Never), None);
    }
}
