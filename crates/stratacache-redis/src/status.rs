//! [`RedisStatus`]: what an operator wants to see about the server behind a cache.

use serde::Serialize;

use crate::RedisCache;
use crate::conn::Idempotence::Idempotent;
use crate::connect::AuthMethod;

/// Server information for status pages (the admin API's `redis` section).
///
/// Built by [`RedisCache::status`]; fields the server did not report are `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RedisStatus {
    /// Whether the server answered.
    pub connected: bool,
    /// `redis_version` from `INFO server`.
    pub version: Option<String>,
    /// `used_memory` in bytes.
    pub used_memory_bytes: Option<u64>,
    /// `used_memory_human` (`"1.02M"`).
    pub used_memory_human: Option<String>,
    /// `connected_clients`.
    pub connected_clients: Option<u64>,
    /// Keys in this cache's namespace (counted with `SCAN`).
    pub keys_in_namespace: Option<u64>,
    /// The namespace.
    pub namespace: String,
    /// The database index.
    pub database: i64,
    /// The server URL, password removed.
    pub url: String,
    /// Whether connections use TLS.
    pub tls: bool,
    /// How the cache authenticates.
    pub auth: AuthMethod,
    /// Why something is missing, when it is.
    pub error: Option<String>,
}

fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

pub(crate) async fn collect(cache: &RedisCache) -> RedisStatus {
    let mut status = server(cache).await;
    if status.connected {
        match count_keys(cache).await {
            Ok(n) => status.keys_in_namespace = Some(n),
            Err(e) => status.error = Some(e.to_string()),
        }
    }
    status
}

/// The status without the key count: one `INFO` round trip.
pub(crate) async fn server(cache: &RedisCache) -> RedisStatus {
    let endpoint = &cache.inner.endpoint;
    let mut status = RedisStatus {
        connected: false,
        version: None,
        used_memory_bytes: None,
        used_memory_human: None,
        connected_clients: None,
        keys_in_namespace: None,
        namespace: cache.inner.namespace.clone(),
        database: endpoint.database,
        url: endpoint.url.clone(),
        tls: endpoint.tls,
        auth: endpoint.auth,
        error: None,
    };
    let info: Result<String, _> = cache
        .run("INFO", Idempotent, |mut c| async move {
            redis::cmd("INFO")
                .arg("server")
                .arg("memory")
                .arg("clients")
                .query_async(&mut c)
                .await
        })
        .await;
    match info {
        Ok(info) => {
            status.connected = true;
            status.version = field(&info, "redis_version").map(str::to_owned);
            status.used_memory_bytes = field(&info, "used_memory").and_then(|v| v.parse().ok());
            status.used_memory_human = field(&info, "used_memory_human").map(str::to_owned);
            status.connected_clients = field(&info, "connected_clients").and_then(|v| v.parse().ok());
        }
        Err(e) => status.error = Some(e.to_string()),
    }
    status
}

pub(crate) async fn count_keys(cache: &RedisCache) -> stratacache_core::Result<u64> {
    let pattern = format!("{}*", stratacache_core::glob::escape(&cache.redis_key("")));
    let (mut cursor, mut total) = (0, 0u64);
    loop {
        let (next, keys) = cache.scan_page(&pattern, cursor).await?;
        total += keys.len() as u64;
        if next == 0 {
            return Ok(total);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn info_fields() {
        let info = "# Server\r\nredis_version:7.0.15\r\nused_memory:1024\r\nused_memory_human:1.00K\r\n";
        assert_eq!(super::field(info, "redis_version"), Some("7.0.15"));
        assert_eq!(super::field(info, "used_memory"), Some("1024"));
        assert_eq!(super::field(info, "used_memory_human"), Some("1.00K"));
        assert_eq!(super::field(info, "missing"), None);
    }
}
