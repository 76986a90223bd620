//! The JSON bodies of the API's own responses (the monitor's and the health check's documents are
//! served as their crates define them). Every type serializes and deserializes, so clients in
//! Rust can read the API with them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `GET /internal/cache/status`.
///
/// The fields a dashboard relies on exist whatever the backend: `redis.status` (a string,
/// `"connected"` only when Redis answers) and `security.configuration.tls_enabled` (a boolean).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CacheStatus {
    /// The Redis server behind the cache.
    pub redis: RedisSection,
    /// The in-process memory tier.
    pub memory: MemorySection,
    /// A summary of the monitor's statistics (full document: `/internal/cache/metrics`).
    pub performance: PerformanceSummary,
    /// The AI cache's settings and counters; present only when the configuration enables the AI
    /// cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_metrics: Option<AiSection>,
    /// Transport security, authentication and encryption.
    pub security: SecuritySection,
    /// `"memory"`, `"redis"` or `"tiered"` (for a cache given to `AdminState::from_cache`: the
    /// backend its statistics name).
    pub backend: String,
    /// The configuration's preset, `null` for a cache not built by the factory.
    pub preset: Option<String>,
    /// The layers of the stack, outermost first.
    pub layers: Vec<String>,
    /// Why the cache started on its memory fallback, or `null`.
    pub degraded: Option<String>,
    /// The failover in front of Redis, `null` without one.
    pub failover: Option<FailoverSection>,
    /// Fleet invalidation (other instances' changes dropped from the memory tier), `null` for a
    /// cache without Redis.
    #[serde(default)]
    pub fleet: Option<FleetSection>,
    /// Compute-on-miss (`get_or_compute` on the built cache and its AI cache): what it is doing
    /// and what it counted; `null` for a cache not built by the factory.
    #[serde(default)]
    pub compute: Option<ComputeSection>,
    /// The application's registered caches.
    pub registry: RegistrySection,
    /// When the status was taken, ISO 8601 UTC.
    pub timestamp: String,
}

/// The state of the Redis server, as the dashboard reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RedisState {
    /// Redis answered.
    Connected,
    /// No Redis: a memory-only cache (`configured: false`), or Redis could not be reached at
    /// start and the cache runs on its memory fallback (`configured: true`).
    Unavailable,
    /// Redis is configured and connected once, but did not answer the status query now.
    Error,
    /// A Redis URL is set but not used: the preset is `disabled` (as the reference reports it).
    Disconnected,
}

/// The `redis` section of the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RedisSection {
    /// `connected`, `unavailable`, `error` or `disconnected`.
    pub status: RedisState,
    /// Whether a Redis URL is configured.
    pub configured: bool,
    /// Keys in the cache's namespace, counted with `SCAN` over the whole database: recounted at
    /// most every 10 s (and by one request at a time), so it may lag writes by that much.
    pub keys: Option<u64>,
    /// Redis `used_memory_human` (`"1.02M"`).
    pub memory_used: Option<String>,
    /// Redis `used_memory`, in bytes.
    pub memory_used_bytes: Option<u64>,
    /// Redis `connected_clients`.
    pub connected_clients: Option<u64>,
    /// Redis `redis_version`.
    pub version: Option<String>,
    /// The server URL without its password.
    pub url: Option<String>,
    /// The database index.
    pub database: Option<i64>,
    /// The key namespace.
    pub namespace: Option<String>,
    /// Why figures are missing, when they are.
    pub message: Option<String>,
}

/// The `memory` section of the status: the in-process memory tier's counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemorySection {
    /// `"active"` when the memory tier serves requests (a memory-only cache, the L1 tier, or the
    /// failover's fallback while Redis is unavailable), `"standby"` for a fallback while Redis
    /// serves, `"unavailable"` when the cache has no memory tier.
    pub status: String,
    /// `"cache"` (a memory-only cache), `"l1"` (the memory tier in front of Redis), `"fallback"`
    /// (the failover's memory fallback, which holds entries only while Redis is unavailable), or
    /// `null` when the cache has no memory tier.
    pub role: Option<String>,
    /// Live entries.
    pub entries: Option<u64>,
    /// Bytes of keys and values.
    pub bytes: Option<u64>,
    /// The entry bound.
    pub max_entries: Option<u64>,
    /// The byte bound.
    pub max_bytes: Option<u64>,
    /// Reads that found an entry in this tier.
    pub hits: u64,
    /// Reads that found nothing in this tier.
    pub misses: u64,
    /// `hits / (hits + misses)`, `null` before the first read.
    pub hit_ratio: Option<f64>,
    /// Entries written.
    pub writes: u64,
    /// Entries evicted for capacity.
    pub evictions: u64,
    /// Entries expired.
    pub expirations: u64,
}

/// The `performance` section of the status.
///
/// With monitoring, the figures cover the monitor's retention window (one hour by default);
/// without it (`monitoring_enabled: false`), they are the cache's own counters since start and
/// the timing fields are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PerformanceSummary {
    /// Whether the cache is monitored.
    pub monitoring_enabled: bool,
    /// Hits as a fraction of reads (`0..=1`), `null` before the first read.
    pub hit_ratio: Option<f64>,
    /// Hits as a percentage of reads (`0..=100`), as the reference reports it.
    pub cache_hit_rate: f64,
    /// Cache operations (monitored) or reads and writes (counters).
    pub total_cache_operations: u64,
    /// Reads that found an entry.
    pub cache_hits: u64,
    /// Reads that found nothing.
    pub cache_misses: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Mean operation time, seconds.
    pub avg_duration: Option<f64>,
    /// 95th percentile of operation times, seconds.
    pub p95_duration: Option<f64>,
    /// Operations slower than the monitor's threshold.
    pub slow_operations: Option<u64>,
    /// `normal`, `warning`, `critical` or `unknown`.
    pub memory_status: Option<String>,
    /// The invalidation alert level: `normal`, `warning` or `critical`.
    pub invalidation_alert_level: Option<String>,
    /// The retention window, hours.
    pub retention_hours: Option<f64>,
}

/// The `ai_metrics` section of the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AiSection {
    /// `blake3` (hashed keys) or `sha256` (the reference's keys).
    pub hash_algorithm: String,
    /// Texts longer than this (characters) are hashed in keys.
    pub text_hash_threshold: usize,
    /// The TTL of each operation, seconds.
    pub operation_ttls: BTreeMap<String, u64>,
    /// Hits, misses and sets by operation and text tier, when the application gave its AI cache
    /// to `AdminState::with_ai_cache`; `null` otherwise.
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<Value>,
}

/// The `security` section of the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecuritySection {
    /// How the cache reaches Redis and protects values.
    pub configuration: SecurityConfiguration,
    /// `HIGH` (TLS, authentication and certificate verification), `MEDIUM` (some of them) or
    /// `LOW` (none); `null` for a cache without Redis.
    pub security_level: Option<String>,
    /// How this API authenticates its callers.
    pub api: ApiSecurity,
}

/// `security.configuration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecurityConfiguration {
    /// Whether connections to Redis use TLS (`false` without Redis).
    pub tls_enabled: bool,
    /// How the cache authenticates to Redis: `none`, `password` or `acl`.
    pub auth: String,
    /// Whether Redis's certificate is verified (`false` without TLS).
    pub verify_certificates: bool,
    /// Whether values are encrypted at rest (an encryption layer is in the stack).
    pub encryption_enabled: bool,
    /// `development`, `testing`, `staging`, `production`, or `unknown` for a cache not built by
    /// the factory.
    pub environment: String,
}

/// `security.api`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiSecurity {
    /// `api_key` when keys are configured, `open` when none is (development and testing only).
    pub authentication: String,
    /// Whether reads require a key too.
    pub require_auth_for_reads: bool,
}

/// The `failover` section of the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FailoverSection {
    /// `primary` (Redis serves) or `fallback` (the memory fallback serves).
    pub state: String,
    /// The circuit breaker: `closed` (operations go to Redis) or `open` (to the fallback).
    pub breaker: String,
    /// Seconds since the breaker last opened or closed; `null` when it never switched.
    pub seconds_since_last_switch: Option<f64>,
    /// Why the breaker is open; `null` while closed.
    pub last_error: Option<String>,
    /// Trips, recoveries, fallback operations, probes, replays.
    #[schema(value_type = Object)]
    pub counters: Value,
}

/// The `fleet` section of the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FleetSection {
    /// `connected` (the memory tier hears other instances' changes), `disconnected` (it cannot:
    /// its copies live at most `l1_ttl_cap_seconds`), `publishing` (this cache has no memory tier
    /// and only announces its changes) or `off` (`CACHE_FLEET_INVALIDATION=false`).
    pub status: String,
    /// Whether this cache announces its changes on the namespace's channel.
    pub publishing: bool,
    /// Whether its memory tier listens for other instances' changes.
    pub subscribing: bool,
    /// The cap on new memory-tier lifetimes while disconnected, seconds; `null` while connected.
    pub l1_ttl_cap_seconds: Option<f64>,
    /// Messages published, received, own (skipped), applied; flushes by reason; subscriptions;
    /// apply errors.
    #[schema(value_type = Object)]
    pub counters: Value,
}

/// The `compute` section of the status (also the `compute` object of `/internal/cache/metrics`):
/// the factory's `ComputeStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComputeSection {
    /// Keys being computed in this process right now.
    pub computing: u64,
    /// Callers of this process waiting for another caller's computation right now.
    pub waiting: u64,
    /// Every counter of the compute layer since start, by name (snake_case): `hits` (calls
    /// answered from the cache), `computations`, `coalesced` (callers that received another's
    /// outcome), `takeovers`, `wait_timeouts`, `errors`, `store_errors`, `read_errors`,
    /// `superseded`, `remote_waits` (flights that waited for another process's lease),
    /// `lease_takeovers`, `lease_errors`, and any counter the compute layer adds later.
    pub counters: BTreeMap<String, u64>,
}

/// The `registry` section of the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegistrySection {
    /// The names of the registered caches, sorted.
    pub caches: Vec<String>,
}

/// `POST /internal/cache/invalidate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvalidationResult {
    /// `"Cache invalidated for pattern: <pattern>"` (the reference's message).
    pub message: String,
    /// The pattern, as given (empty for a tag invalidation).
    pub pattern: String,
    /// The tag, for `?tag=` (absent for a pattern invalidation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// How many entries were removed.
    pub keys_removed: u64,
    /// The context recorded with the invalidation.
    pub operation_context: String,
}

/// How [`Entry::value`] is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ValueEncoding {
    /// The value is valid UTF-8 and shown as is.
    #[serde(rename = "utf-8")]
    Utf8,
    /// The value is not UTF-8 and shown in standard base64 (with padding).
    #[serde(rename = "base64")]
    Base64,
}

/// `GET` and `PUT /internal/cache/entries/{key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    /// The key, as the application uses it (the namespace is not shown).
    pub key: String,
    /// The value: the text when it is valid UTF-8, else base64.
    pub value: String,
    /// `utf-8` or `base64`.
    pub encoding: ValueEncoding,
    /// The size of the value in bytes (before base64).
    pub size_bytes: usize,
    /// The remaining lifetime in whole seconds (rounded up), `null` when the entry never expires.
    pub ttl_seconds: Option<u64>,
}

/// `DELETE /internal/cache/entries/{key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeletedEntry {
    /// The key.
    pub key: String,
    /// Whether an entry existed and was removed.
    pub deleted: bool,
}
