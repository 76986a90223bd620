//! [`BackendServer`]: the server behind a cache (Redis), reported as plain data
//! ([`ServerStatus`], [`ServerAuth`]) for status pages.
//!
//! Backends that have a server implement the trait (`RedisCache` does); status pages (the admin
//! API's `redis` section and its Prometheus reachability gauges) read it through
//! `stratacache_factory::BuiltCache::server`, so they need no backend crate of their own.

use async_trait::async_trait;

use crate::Result;

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
    /// use stratacache_core::ServerAuth;
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
#[non_exhaustive]
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

impl ServerStatus {
    /// What a cache knows of its server before asking it: not connected yet, nothing reported;
    /// the backend fills in the rest (fields are public; new ones may be added, so this is the
    /// way to build one).
    ///
    /// ```
    /// use stratacache_core::{ServerAuth, ServerStatus};
    ///
    /// let mut status = ServerStatus::new("redis://cache:6379", "web", 0, true, ServerAuth::Acl);
    /// status.connected = true;
    /// status.version = Some("7.0.15".to_owned());
    /// assert_eq!((status.database, status.keys_in_namespace), (0, None));
    /// ```
    pub fn new(
        url: impl Into<String>,
        namespace: impl Into<String>,
        database: i64,
        tls: bool,
        auth: ServerAuth,
    ) -> Self {
        Self {
            connected: false,
            version: None,
            used_memory_bytes: None,
            used_memory_human: None,
            connected_clients: None,
            keys_in_namespace: None,
            namespace: namespace.into(),
            database,
            url: url.into(),
            tls,
            auth,
            error: None,
        }
    }
}

/// The server a backend stores its entries on, as status pages see it. `RedisCache` implements
/// it; `stratacache_factory::BuiltCache::server` returns the one behind a factory-built cache
/// (`None` without a server, e.g. a memory cache).
///
/// Neither method has a deadline of its own beyond the backend's command timeouts: a caller that
/// must answer quickly (a status page) bounds them with a timeout.
///
/// ```
/// use stratacache_core::BackendServer;
///
/// /// One line for a status page.
/// async fn describe(server: &dyn BackendServer) -> String {
///     let status = server.server_status().await;
///     match (status.connected, status.version) {
///         (true, Some(version)) => format!("{} up, version {version}", status.url),
///         (true, None) => format!("{} up", status.url),
///         (false, _) => format!("{} down: {}", status.url, status.error.unwrap_or_default()),
///     }
/// }
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
