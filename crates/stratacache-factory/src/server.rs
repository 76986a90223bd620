//! [`BackendServer`]: the server behind a factory-built cache (Redis, with the `redis` feature),
//! reported as plain data ([`ServerStatus`], [`ServerAuth`]).
//!
//! Status pages (the admin API's `redis` section and its Prometheus reachability gauges) read
//! the server through [`BuiltCache::server`](crate::BuiltCache::server) and these types, so they
//! need no backend crate of their own: a build without the `redis` feature compiles no Redis
//! client, and [`BuiltCache::server`](crate::BuiltCache::server) is then always `None`.

use stratacache_core::{Result, async_trait};

/// How a cache authenticates to its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerAuth {
    /// No authentication.
    None,
    /// A password (Redis: `AUTH <password>`, the `default` user).
    Password,
    /// A user name and a password (Redis: `AUTH <username> <password>`, an ACL user).
    Acl,
}

impl ServerAuth {
    /// `"none"`, `"password"` or `"acl"` (the serialized names).
    ///
    /// ```
    /// use stratacache_factory::ServerAuth;
    ///
    /// assert_eq!(ServerAuth::Acl.as_str(), "acl");
    /// assert_eq!(serde_json::to_value(ServerAuth::Password).unwrap(), "password");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Password => "password",
            Self::Acl => "acl",
        }
    }
}

/// What the server behind a cache reports about itself, for status pages: the figures of one
/// [`BackendServer::server_status`] call. Fields the server did not report are `None`; nothing
/// in it is secret (the URL has its password removed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerStatus {
    /// Whether the server answered.
    pub connected: bool,
    /// The server's version (Redis: `redis_version` from `INFO server`).
    pub version: Option<String>,
    /// The memory the server uses, in bytes (Redis: `used_memory`).
    pub used_memory_bytes: Option<u64>,
    /// The same, for people (Redis: `used_memory_human`, e.g. `"1.02M"`).
    pub used_memory_human: Option<String>,
    /// The clients connected to the server (Redis: `connected_clients`).
    pub connected_clients: Option<u64>,
    /// Keys in this cache's namespace: `None` from [`BackendServer::server_status`], which does
    /// not count them (see [`BackendServer::count_keys`]).
    pub keys_in_namespace: Option<u64>,
    /// The cache's namespace.
    pub namespace: String,
    /// The database index.
    pub database: i64,
    /// The server URL, password removed.
    pub url: String,
    /// Whether connections use TLS.
    pub tls: bool,
    /// How the cache authenticates.
    pub auth: ServerAuth,
    /// Why something is missing, when it is.
    pub error: Option<String>,
}

/// The server a factory-built cache stores its entries on, as status pages see it: what
/// [`BuiltCache::server`](crate::BuiltCache::server) returns. With the `redis` feature, the
/// factory implements it for the Redis cache it connected at start.
///
/// Neither method has a deadline of its own beyond the backend's command timeouts: a caller that
/// must answer quickly (a status page) bounds them with a timeout.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
/// use stratacache_factory::CacheFactory;
///
/// // A memory cache has no server to report.
/// let built = CacheFactory::for_web_app(None).await?;
/// assert!(built.server().is_none());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait BackendServer: Send + Sync {
    /// The server's figures without the key count (`keys_in_namespace` is `None`): one round
    /// trip (Redis: `INFO`). Never fails: an unreachable server shows as `connected: false`,
    /// with the reason in `error`.
    async fn server_status(&self) -> ServerStatus;

    /// The number of keys in the cache's namespace. It may walk the whole database (Redis has
    /// no per-prefix count: `SCAN MATCH`), so call it at a slow pace.
    ///
    /// # Errors
    ///
    /// Connection and timeout errors of the backend.
    async fn count_keys(&self) -> Result<u64>;
}

#[cfg(feature = "redis")]
mod redis {
    use stratacache_core::{Result, async_trait};
    use stratacache_redis::{AuthMethod, RedisCache, RedisStatus};

    use super::{BackendServer, ServerAuth, ServerStatus};

    impl From<AuthMethod> for ServerAuth {
        fn from(auth: AuthMethod) -> Self {
            match auth {
                AuthMethod::None => Self::None,
                AuthMethod::Password => Self::Password,
                AuthMethod::Acl => Self::Acl,
            }
        }
    }

    impl From<RedisStatus> for ServerStatus {
        fn from(s: RedisStatus) -> Self {
            Self {
                connected: s.connected,
                version: s.version,
                used_memory_bytes: s.used_memory_bytes,
                used_memory_human: s.used_memory_human,
                connected_clients: s.connected_clients,
                keys_in_namespace: s.keys_in_namespace,
                namespace: s.namespace,
                database: s.database,
                url: s.url,
                tls: s.tls,
                auth: s.auth.into(),
                error: s.error,
            }
        }
    }

    #[async_trait]
    impl BackendServer for RedisCache {
        async fn server_status(&self) -> ServerStatus {
            RedisCache::server_status(self).await.into()
        }

        async fn count_keys(&self) -> Result<u64> {
            RedisCache::count_keys(self).await
        }
    }
}
