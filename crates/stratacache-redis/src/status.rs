//! [`RedisStatus`]: what an operator wants to see about the server behind a cache.

use crate::RedisCache;
use crate::conn::Idempotence::Idempotent;

/// Server information for status pages (the admin API's `redis` section): core's
/// [`ServerStatus`](stratacache_core::ServerStatus), built by [`RedisCache::status`]; fields the
/// server did not report are `None`.
pub type RedisStatus = stratacache_core::ServerStatus;

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
    let mut status = RedisStatus::new(
        endpoint.url.clone(),
        cache.inner.namespace.clone(),
        endpoint.database,
        endpoint.tls,
        endpoint.auth,
    );
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

/// The server as status pages read it (through `stratacache_factory::BuiltCache::server`).
#[stratacache_core::async_trait]
impl stratacache_core::BackendServer for RedisCache {
    async fn server_status(&self) -> RedisStatus {
        server(self).await
    }

    async fn count_keys(&self) -> stratacache_core::Result<u64> {
        count_keys(self).await
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
