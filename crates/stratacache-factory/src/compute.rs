//! Compute-on-miss on a built cache: the `compute` layer of the stack (a
//! [`ComputeCache`] outermost), [`BuiltCache::get_or_compute`] and its variants, what it counted
//! ([`ComputeStatus`]), and its settings in a [`CacheConfig`](crate::CacheConfig) (the `compute`
//! override key and the `CACHE_COMPUTE_*` variables), checked with the rest of the configuration.
//!
//! Nothing here names a field of [`ComputeConfig`] or [`ComputeStats`] beyond the variables it
//! reads: the counters are read from the stats' serde fields, and the settings are checked one
//! field at a time through their serde form, so fields added to either appear (in the status, the
//! metrics and `CACHE_CUSTOM_CONFIG`) without a change here.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use stratacache_compute::{ComputeCache, ComputeConfig, ComputeStats, Fetched};
use stratacache_core::{Bytes, Cache, Codec, Json, Result, Ttl};

use crate::factory::BuiltCache;
use crate::problem::{Problem, suggestion};

/// What the compute layer of a cache is doing and has counted, for status pages and metrics.
///
/// `counters` holds every unsigned integer field of [`ComputeStats`] under its serde name
/// (`computations`, `coalesced`, `lease_takeovers`, ...; nested structures flattened with `_`):
/// a field added to `ComputeStats` shows here, in the admin API's documents and in its
/// Prometheus families without any change to this crate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ComputeStatus {
    /// Keys being computed in this process right now ([`ComputeCache::computing`]).
    pub computing: u64,
    /// Callers of this process waiting for another caller's computation right now
    /// ([`ComputeCache::waiting`]).
    pub waiting: u64,
    /// The counters since start, by name (see above).
    pub counters: BTreeMap<String, u64>,
}

impl ComputeStatus {
    /// The status of `cache`.
    pub fn of<C: Cache>(cache: &ComputeCache<C>) -> Self {
        Self {
            computing: cache.computing() as u64,
            waiting: cache.waiting() as u64,
            counters: counters(&cache.compute_stats()),
        }
    }
}

/// The unsigned integer fields of `stats` by serde name, nested structures flattened with `_`.
/// Other values (none in [`ComputeStats`] today) are left out: a counter is a `u64`.
fn counters<T: Serialize>(stats: &T) -> BTreeMap<String, u64> {
    fn flatten(value: &Value, prefix: &str, out: &mut BTreeMap<String, u64>) {
        match value {
            Value::Object(fields) => {
                for (name, value) in fields {
                    let name = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}_{name}")
                    };
                    flatten(value, &name, out);
                }
            }
            Value::Number(n) => {
                if let Some(n) = n.as_u64() {
                    out.insert(prefix.to_owned(), n);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    match serde_json::to_value(stats) {
        Ok(value) => flatten(&value, "", &mut out),
        Err(e) => tracing::warn!(error = %e, "the compute counters could not be read"),
    }
    out
}

/// `get_or_compute` on the built stack, through its outermost layer, the `compute` layer
/// ([`BuiltCache::compute`]). Writes made through [`BuiltCache::cache`] (by the application, the
/// admin API or the AI cache) go through it too, so they supersede the computations of the keys
/// they change.
impl BuiltCache {
    /// The cached value of `key`, or the value `compute` returns, stored for `ttl` through the
    /// whole stack (compression, encryption, Redis): of concurrent callers missing `key` in
    /// this process, one computes and the others wait for it; across processes sharing a Redis,
    /// the computing one holds the key's lease and the others wait for the value
    /// (`CACHE_COMPUTE_DISTRIBUTED`). See [`ComputeCache::get_or_compute`] for the details, and
    /// the `compute` settings of the configuration for the waits, the lease and the TTL jitter.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> stratacache_core::Result<()> {
    /// use stratacache_core::{Bytes, Ttl};
    /// use stratacache_factory::CacheFactory;
    ///
    /// let built = CacheFactory::for_web_app(None).await?;
    /// let page = built
    ///     .get_or_compute("page:home", Ttl::secs(300), || async { Ok(Bytes::from("<h1>Home</h1>")) })
    ///     .await?;
    /// assert_eq!(page, "<h1>Home</h1>");
    /// // Cached now: this computation does not run.
    /// let again = built.get_or_compute("page:home", Ttl::secs(300), || async { unreachable!() }).await?;
    /// assert_eq!(again, page);
    /// assert_eq!(built.compute_stats().computations, 1);
    /// assert_eq!(built.layers[0], "compute");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ComputeCache::get_or_compute`]: the computation's error (shared by every caller
    /// that waited for it, never cached), a timeout after `max_wait` under
    /// `on_wait_timeout: fail`, an invalid TTL.
    pub async fn get_or_compute<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Bytes>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        self.compute.get_or_compute(key, ttl, compute).await
    }

    /// [`get_or_compute`](Self::get_or_compute), telling where the value came from (the cache,
    /// this caller's computation, or another caller's).
    ///
    /// # Errors
    ///
    /// As [`get_or_compute`](Self::get_or_compute).
    pub async fn fetch<F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<Fetched>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        self.compute.fetch(key, ttl, compute).await
    }

    /// [`get_or_compute`](Self::get_or_compute) of a typed value, encoded with codec `K`
    /// ([`Json`], or `stratacache_core::Postcard` with core's `postcard` feature).
    ///
    /// # Errors
    ///
    /// As [`ComputeCache::get_or_compute_as`]: those of
    /// [`get_or_compute`](Self::get_or_compute), and
    /// [`ErrorKind::Serialization`](stratacache_core::ErrorKind::Serialization) when the value
    /// does not encode or the cached bytes do not decode.
    pub async fn get_or_compute_as<K, T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        K: Codec,
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        self.compute
            .get_or_compute_as::<K, T, F, Fut>(key, ttl, compute)
            .await
    }

    /// [`get_or_compute_as`](Self::get_or_compute_as) with JSON.
    ///
    /// # Errors
    ///
    /// As [`get_or_compute_as`](Self::get_or_compute_as).
    pub async fn get_or_compute_json<T, F, Fut>(&self, key: &str, ttl: Ttl, compute: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        self.get_or_compute_as::<Json, T, F, Fut>(key, ttl, compute).await
    }

    /// What the compute layer counted since start.
    pub fn compute_stats(&self) -> ComputeStats {
        self.compute.compute_stats()
    }

    /// What the compute layer is doing now and its counters by name, as the admin API reports
    /// them.
    pub fn compute_status(&self) -> ComputeStatus {
        ComputeStatus::of(&self.compute)
    }
}

// ---- settings: checked, read from the environment and from `CACHE_CUSTOM_CONFIG` ----

/// The serde form of `config`, a JSON object.
fn fields(config: &ComputeConfig) -> Map<String, Value> {
    match serde_json::to_value(config) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    }
}

/// The settings of `fields`, or why they do not deserialize.
fn from_fields(fields: Map<String, Value>) -> std::result::Result<ComputeConfig, String> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| e.to_string())
}

/// What [`ComputeConfig::validate`] accepts, from its message (`"x = v is out of range
/// (accepted: R)"`), or the whole message.
fn accepted(message: &str) -> String {
    match message.split_once("(accepted: ") {
        Some((_, range)) => range.strip_suffix(')').unwrap_or(range).to_owned(),
        None => message.to_owned(),
    }
}

/// Checks `config` as [`ComputeConfig::validate`] does, but every setting on its own (each with
/// the others at their defaults), so that every invalid one is reported, as `compute.<setting>`
/// with the value as configured (seconds for durations) and the accepted range; then the whole,
/// for rules between settings.
pub(crate) fn check(config: &ComputeConfig, p: &mut Vec<Problem>) {
    let defaults = fields(&ComputeConfig::default());
    let before = p.len();
    let alone = |alone: Map<String, Value>, setting: String, value: &Value, p: &mut Vec<Problem>| {
        let outcome = from_fields(alone).and_then(|c| c.validate().map_err(|e| accepted(e.message())));
        if let Err(accepted) = outcome {
            p.push(Problem::new(setting, value.to_string(), accepted));
        }
    };
    for (name, value) in fields(config) {
        if defaults.get(&name) == Some(&value) {
            continue;
        }
        // A group of settings (the freshness policy): each of its settings on its own.
        if let (Value::Object(group), Some(Value::Object(default_group))) = (&value, defaults.get(&name)) {
            for (sub, sub_value) in group {
                if default_group.get(sub) == Some(sub_value) {
                    continue;
                }
                let mut fields = defaults.clone();
                let mut changed = default_group.clone();
                changed.insert(sub.clone(), sub_value.clone());
                fields.insert(name.clone(), Value::Object(changed));
                alone(fields, format!("compute.{name}.{sub}"), sub_value, p);
            }
            continue;
        }
        let mut fields = defaults.clone();
        fields.insert(name.clone(), value.clone());
        alone(fields, format!("compute.{name}"), &value, p);
    }
    if p.len() == before
        && let Err(e) = config.validate()
    {
        p.push(Problem::new(
            "compute",
            e.message().to_owned(),
            accepted(e.message()),
        ));
    }
}

/// Applies the `compute` override key: a JSON object of settings merged into `config` (absent
/// settings keep their value). Unknown settings and values of the wrong type are problems naming
/// `compute.<setting>`; ranges are checked later, by [`check`].
pub(crate) fn apply_override(
    config: &mut ComputeConfig,
    value: &Value,
    accepted: &str,
    p: &mut Vec<Problem>,
) {
    let Value::Object(given) = value else {
        p.push(Problem::new("compute", value.to_string(), accepted));
        return;
    };
    let current = fields(config);
    let mut merged = current.clone();
    let mut ok = true;
    for (name, value) in given {
        if !current.contains_key(name) {
            let valid: Vec<&str> = current.keys().map(String::as_str).collect();
            p.push(Problem::new(
                "compute",
                format!("unknown setting {name:?}"),
                format!(
                    "one of: {}{}",
                    valid.join(", "),
                    suggestion(name, valid.iter().copied())
                ),
            ));
            ok = false;
            continue;
        }
        let mut alone = current.clone();
        alone.insert(name.clone(), value.clone());
        if let Err(e) = from_fields(alone) {
            p.push(Problem::new(format!("compute.{name}"), value.to_string(), e));
            ok = false;
            continue;
        }
        merged.insert(name.clone(), value.clone());
    }
    if ok {
        match from_fields(merged) {
            Ok(merged) => *config = merged,
            Err(e) => p.push(Problem::new("compute", value.to_string(), e)),
        }
    }
}

/// The `CACHE_COMPUTE_*` variables (listed in [`ENV_VARS`](crate::ENV_VARS)).
pub(crate) fn apply_env(
    config: &mut ComputeConfig,
    get: &impl Fn(&str) -> Option<String>,
    p: &mut Vec<Problem>,
) {
    let seconds = |name: &str, accepted: &str, field: &mut Duration, p: &mut Vec<Problem>| {
        let Some(v) = get(name) else { return };
        match v
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
        {
            Some(d) => *field = d,
            None => p.push(Problem::new(name, format!("{v:?}"), accepted)),
        }
    };
    seconds(
        "CACHE_COMPUTE_MAX_WAIT",
        "seconds, 0.001..=3600",
        &mut config.max_wait,
        p,
    );
    seconds("CACHE_COMPUTE_LEASE", "seconds, 0.1..=600", &mut config.lease, p);
    seconds(
        "CACHE_COMPUTE_POLL_INTERVAL",
        "seconds, 0.001..=1",
        &mut config.poll_interval,
        p,
    );
    seconds(
        "CACHE_COMPUTE_NEGATIVE_TTL",
        "seconds, 0..=3600",
        &mut config.negative_ttl,
        p,
    );
    seconds(
        "CACHE_COMPUTE_STALE_WHILE_REVALIDATE",
        "seconds, 0..=604800",
        &mut config.freshness.stale_while_revalidate,
        p,
    );
    seconds(
        "CACHE_COMPUTE_STALE_IF_ERROR",
        "seconds, 0..=604800",
        &mut config.freshness.stale_if_error,
        p,
    );
    if let Some(v) = get("CACHE_COMPUTE_EARLY_REFRESH") {
        match v.trim().parse::<f64>() {
            Ok(beta) if beta.is_finite() => config.freshness.early_refresh = beta,
            _ => p.push(Problem::new(
                "CACHE_COMPUTE_EARLY_REFRESH",
                format!("{v:?}"),
                "a number, 0..=100",
            )),
        }
    }
    if let Some(v) = get("CACHE_COMPUTE_TTL_JITTER") {
        match v.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => config.ttl_jitter = f,
            _ => p.push(Problem::new(
                "CACHE_COMPUTE_TTL_JITTER",
                format!("{v:?}"),
                "a fraction, 0..=0.5",
            )),
        }
    }
    if let Some(v) = get("CACHE_COMPUTE_DISTRIBUTED") {
        match crate::env::parse_bool(&v) {
            Some(b) => config.distributed = b,
            None => p.push(Problem::new(
                "CACHE_COMPUTE_DISTRIBUTED",
                format!("{v:?}"),
                crate::env::BOOL,
            )),
        }
    }
    if let Some(v) = get("CACHE_COMPUTE_ON_WAIT_TIMEOUT") {
        let name = v.trim().to_ascii_lowercase().replace('-', "_");
        match serde_json::from_value(Value::String(name)) {
            Ok(policy) => config.on_wait_timeout = policy,
            Err(_) => p.push(Problem::new(
                "CACHE_COMPUTE_ON_WAIT_TIMEOUT",
                format!("{v:?}"),
                "compute_self or fail",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields added to the stats later are read without a change: any `u64` field by name,
    /// nested ones flattened, other values left out.
    #[test]
    fn counters_are_read_from_any_serde_fields() {
        #[derive(Serialize)]
        struct Later {
            hits: u64,
            early_refreshes: u64,
            stale: Nested,
            mean_compute_seconds: f64,
            label: &'static str,
        }
        #[derive(Serialize)]
        struct Nested {
            served: u64,
            refused: u64,
        }
        let later = Later {
            hits: 3,
            early_refreshes: 2,
            stale: Nested {
                served: 5,
                refused: 1,
            },
            mean_compute_seconds: 0.5,
            label: "x",
        };
        let counted = counters(&later);
        let expected: BTreeMap<String, u64> = [
            ("early_refreshes", 2),
            ("hits", 3),
            ("stale_refused", 1),
            ("stale_served", 5),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(counted, expected);
    }

    #[test]
    fn every_field_of_compute_stats_is_a_counter() {
        let counted = counters(&ComputeStats::default());
        let Ok(Value::Object(fields)) = serde_json::to_value(ComputeStats::default()) else {
            panic!("ComputeStats serializes to an object");
        };
        assert_eq!(counted.len(), fields.len(), "{counted:?}");
        assert!(counted.contains_key("computations") && counted.contains_key("lease_takeovers"));
    }

    #[test]
    fn the_accepted_range_is_read_from_the_message() {
        assert_eq!(
            accepted("max_wait = 0ns is out of range (accepted: 1 ms to 1 hour)"),
            "1 ms to 1 hour"
        );
        assert_eq!(accepted("something else"), "something else");
    }
}
