//! `POST /internal/cache/invalidate`.

use actix_web::HttpRequest;
use actix_web::web::{Data, Json, Query};
use serde::Deserialize;

use crate::auth::Protected;
use crate::error::{ApiError, ErrorEnvelope};
use crate::schema::InvalidationResult;
use crate::state::AdminState;

/// The context recorded when the request gives none.
pub const DEFAULT_OPERATION_CONTEXT: &str = "admin_api";
/// What an absent or empty `pattern` invalidates: every key.
const ALL_KEYS: &str = "*";
/// The longest accepted `operation_context`, in characters.
pub const MAX_CONTEXT_LEN: usize = 256;

#[derive(Debug, Deserialize)]
pub(crate) struct InvalidateQuery {
    pattern: Option<String>,
    tag: Option<String>,
    operation_context: Option<String>,
}

/// Checks a text parameter: not empty, at most `max` characters (as the OpenAPI document's
/// `maxLength` counts), no control characters.
pub(crate) fn check_text(parameter: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid_parameter(
            parameter,
            format!("{parameter} must not be empty"),
        ));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(ApiError::invalid_parameter(
            parameter,
            format!("{parameter} is {chars} characters long; the limit is {max}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid_parameter(
            parameter,
            format!("{parameter} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Whether the percent-encoded `raw` text (a path or a query string) decodes to valid UTF-8.
/// actix-web and serde_urlencoded decode invalid sequences lossily (to U+FFFD), which would make
/// `%FF` and `%FE` the same key: the handlers refuse such requests instead.
pub(crate) fn percent_decodes_to_utf8(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits: at most 0xff.
                decoded.push(u8::try_from(hi * 16 + lo).unwrap_or(u8::MAX));
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// Refuses a decoded `value` that stands for invalid UTF-8 in the raw request text.
pub(crate) fn check_utf8(parameter: &str, value: &str, raw: &str) -> Result<(), ApiError> {
    if value.contains('\u{FFFD}') && !percent_decodes_to_utf8(raw) {
        return Err(ApiError::invalid_parameter(
            parameter,
            format!("{parameter} must be valid UTF-8 once percent-decoded"),
        ));
    }
    Ok(())
}

/// Removes every entry whose key matches the glob `pattern` (Redis `MATCH` syntax: `*`, `?`,
/// `[...]`, `\` escapes) over the application's keys, and records the invalidation with its
/// context in the monitor. As in the reference, no `pattern` (or an empty one) means every key:
/// it invalidates `*` and logs a warning with the number of keys removed. With `tag` instead, it
/// removes every entry written with that tag (`set_with_tags`), recorded as the pattern
/// `tag:<tag>`; `pattern` and `tag` together are refused.
///
/// A failed invalidation is never reported as a success: the cache's error answers 503
/// (`SERVICE_UNAVAILABLE`: connection lost, timeout) or 500 (`INFRASTRUCTURE_ERROR`).
#[utoipa::path(
    post,
    path = "/internal/cache/invalidate",
    tag = "cache",
    params(
        ("pattern" = Option<String>, Query, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", description = "Glob over the application's keys (Redis MATCH syntax); at most max_pattern_len (default 256) characters, no control characters; absent or empty: every key"),
        ("tag" = Option<String>, Query, min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "Remove every entry with this tag instead of matching a pattern; 1 to 256 characters, no control characters; not together with pattern"),
        ("operation_context" = Option<String>, Query, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", description = "Why (recorded with the invalidation); default `admin_api`, at most 256 characters, no control characters"),
    ),
    responses(
        (status = 200, description = "Invalidated", body = InvalidationResult),
        (status = 400, description = "Too long, control characters, invalid UTF-8, or pattern and tag together", body = ErrorEnvelope),
        (status = 401, description = "No valid API key", body = ErrorEnvelope),
        (status = 500, description = "The cache failed", body = ErrorEnvelope),
        (status = 503, description = "The cache cannot be reached", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub(crate) async fn invalidate(
    _: Protected,
    state: Data<AdminState>,
    req: HttpRequest,
    query: Query<InvalidateQuery>,
) -> Result<Json<InvalidationResult>, ApiError> {
    let InvalidateQuery {
        pattern,
        tag,
        operation_context,
    } = query.into_inner();
    let context = operation_context.unwrap_or_else(|| DEFAULT_OPERATION_CONTEXT.to_owned());
    if !context.is_empty() {
        check_text("operation_context", &context, MAX_CONTEXT_LEN)?;
        check_utf8("operation_context", &context, req.query_string())?;
    }
    if let Some(tag) = tag {
        if pattern.as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(ApiError::invalid_parameter(
                "tag",
                "give pattern or tag, not both",
            ));
        }
        return invalidate_tag(&state, &req, tag, context).await;
    }
    let pattern = pattern.unwrap_or_default();
    let everything = pattern.is_empty();
    if !everything {
        check_text("pattern", &pattern, state.config().max_pattern_len)?;
        check_utf8("pattern", &pattern, req.query_string())?;
    }
    let keys_removed = state
        .invalidate(if everything { ALL_KEYS } else { &pattern }, &context)
        .await?;
    if everything {
        tracing::warn!(
            operation_context = context,
            keys_removed,
            "admin API: invalidation without a pattern removed every key"
        );
    } else {
        tracing::info!(
            pattern,
            operation_context = context,
            keys_removed,
            "admin API: cache invalidated"
        );
    }
    Ok(Json(InvalidationResult {
        message: format!("Cache invalidated for pattern: {pattern}"),
        pattern,
        tag: None,
        keys_removed,
        operation_context: context,
    }))
}

/// `?tag=`: every entry with `tag`.
async fn invalidate_tag(
    state: &AdminState,
    req: &HttpRequest,
    tag: String,
    context: String,
) -> Result<Json<InvalidationResult>, ApiError> {
    check_text("tag", &tag, stratacache_core::MAX_TAG_LEN)?;
    check_utf8("tag", &tag, req.query_string())?;
    let keys_removed = state.invalidate_tag(&tag, &context).await.map_err(|e| {
        if e.kind() == stratacache_core::ErrorKind::Unsupported {
            ApiError::invalid_parameter("tag", "this cache does not support tags")
        } else {
            ApiError::from(e)
        }
    })?;
    tracing::info!(
        tag,
        operation_context = context,
        keys_removed,
        "admin API: tag invalidated"
    );
    Ok(Json(InvalidationResult {
        message: format!("Cache invalidated for tag: {tag}"),
        pattern: String::new(),
        tag: Some(tag),
        keys_removed,
        operation_context: context,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn text_parameters_are_checked() {
        assert!(check_text("pattern", "user:*", 10).is_ok());
        assert!(percent_decodes_to_utf8("a%20b%E2%82%AC/%2F?x=%C3%A9"));
        assert!(percent_decodes_to_utf8("100%"));
        assert!(!percent_decodes_to_utf8("%FF"));
        assert!(!percent_decodes_to_utf8("%E2%82"));
        assert!(check_utf8("key", "\u{FFFD}", "%EF%BF%BD").is_ok());
        assert!(check_utf8("key", "\u{FFFD}", "%FF").is_err());
        for (value, what) in [
            ("", "empty"),
            ("01234567890", "long"),
            ("a\nb", "control"),
            ("a\u{7f}", "control"),
        ] {
            let err = check_text("pattern", value, 10).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{what}");
        }
    }
}
