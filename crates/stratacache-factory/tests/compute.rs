//! `get_or_compute` on the factory's stacks and on the AI cache: one computation for concurrent
//! misses (in one process, and across two built caches over one redis-server, as two processes
//! of a service would have), writes through the built cache superseding a computation in flight
//! (the compute layer is outermost), and the AI cache storing computed responses with the
//! operation's TTL.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use stratacache_core::{Bytes, Cache, Error, ErrorKind, Ttl};
use stratacache_factory::{AiResponseCache, BuiltCache, CacheConfig, CacheFactory, Environment, Source};
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

/// How long each computation takes: long enough for every caller to arrive while it runs.
const COMPUTE_TIME: Duration = Duration::from_millis(200);

fn server() -> Option<RedisServer> {
    RedisServer::builder(RedisMode::Plain).local().start_or_skip()
}

/// `config` on `server` in `namespace`, in the testing environment (no password needed).
fn on_redis(mut config: CacheConfig, server: &RedisServer, namespace: &str) -> CacheConfig {
    config.environment = Environment::Testing;
    config.redis_url = Some(server.url().into());
    config.namespace = namespace.to_owned();
    config
}

/// `n` concurrent callers of `get_or_compute` on `key`, alternating over `caches`; returns what
/// they got and how many times the computation ran.
async fn stampede(caches: &[&BuiltCache], key: &'static str, n: usize) -> (Vec<Bytes>, usize) {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for i in 0..n {
        let built = caches[i % caches.len()].clone();
        let runs = Arc::clone(&runs);
        callers.push(tokio::spawn(async move {
            built
                .get_or_compute(key, Ttl::secs(60), || async move {
                    runs.fetch_add(1, SeqCst);
                    tokio::time::sleep(COMPUTE_TIME).await;
                    Ok(Bytes::from_static(b"computed once"))
                })
                .await
                .unwrap()
        }));
    }
    let mut values = Vec::new();
    for caller in callers {
        values.push(caller.await.unwrap());
    }
    (values, runs.load(SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_on_a_built_cache_compute_once() {
    let built = CacheFactory::for_web_app(None).await.unwrap();
    assert_eq!(built.layers[0], "compute");
    let (values, runs) = stampede(&[&built], "hot", 20).await;
    assert!(values.iter().all(|v| v == "computed once"), "{values:?}");
    assert_eq!(runs, 1);
    let stats = built.compute_stats();
    assert_eq!((stats.computations, stats.coalesced), (1, 19), "{stats:?}");
    // Stored through the whole stack: a plain read finds it, and the next call does not compute.
    assert_eq!(built.cache.get("hot").await.unwrap().unwrap(), "computed once");
    let fetched = built
        .fetch("hot", Ttl::secs(60), || async { unreachable!("cached") })
        .await
        .unwrap();
    assert_eq!(
        (fetched.value, fetched.source),
        ("computed once".into(), Source::Cache)
    );
    let status = built.compute_status();
    assert_eq!((status.computing, status.waiting), (0, 0));
    assert_eq!(status.counters["computations"], 1);
    assert_eq!(status.counters["coalesced"], 19);
    assert_eq!(status.counters["hits"], 1);
}

/// The compute layer is outermost: a write through `BuiltCache::cache` while a key is computed
/// supersedes the computation, whose (older) value is returned but not stored over the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_the_built_cache_supersedes_a_computation() {
    let built = CacheFactory::for_web_app(None).await.unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let computing = {
        let (built, started) = (built.clone(), Arc::clone(&started));
        tokio::spawn(async move {
            built
                .get_or_compute("profile", Ttl::secs(60), || async move {
                    started.notify_one();
                    tokio::time::sleep(COMPUTE_TIME).await;
                    Ok(Bytes::from_static(b"computed from old data"))
                })
                .await
                .unwrap()
        })
    };
    started.notified().await;
    built
        .cache
        .set("profile", Bytes::from_static(b"written"), Ttl::secs(60))
        .await
        .unwrap();
    assert_eq!(computing.await.unwrap(), "computed from old data");
    assert_eq!(built.cache.get("profile").await.unwrap().unwrap(), "written");
    assert_eq!(built.compute_stats().superseded, 1);
}

#[tokio::test]
async fn typed_values_are_computed_and_read_back() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Report {
        total: u32,
    }
    let built = CacheFactory::for_web_app(None).await.unwrap();
    let report: Report = built
        .get_or_compute_json("report", Ttl::secs(60), || async { Ok(Report { total: 7 }) })
        .await
        .unwrap();
    assert_eq!(report, Report { total: 7 });
    let cached: Report = built
        .get_or_compute_as::<stratacache_core::Json, _, _, _>("report", Ttl::secs(60), || async {
            unreachable!("cached")
        })
        .await
        .unwrap();
    assert_eq!(cached, report);
    // A computation's error is returned, not cached.
    let err = built
        .get_or_compute_json::<Report, _, _>("failing", Ttl::secs(60), || async {
            Err(Error::new(ErrorKind::Timeout, "the model did not answer"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(built.cache.get("failing").await.unwrap().is_none());
    assert_eq!(built.compute_stats().errors, 1);
}

/// Two built caches (memory tier over one redis-server, one namespace: two processes of a
/// service) and 50 callers across both: one computation in all, the other instance waiting for
/// the first one's lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_built_caches_over_one_redis_compute_a_key_once() {
    let Some(server) = server() else { return };
    let namespace = unique_namespace("compute");
    let config = on_redis(CacheConfig::web_app(), &server, &namespace);
    let a = CacheFactory::from_config(config.clone()).await.unwrap();
    let b = CacheFactory::from_config(config).await.unwrap();
    assert_eq!(a.layers[..2], ["compute", "monitoring"]);
    assert!(a.layers.contains(&"tiered"));
    let (values, runs) = stampede(&[&a, &b], "hot", 50).await;
    assert!(values.iter().all(|v| v == "computed once"), "{values:?}");
    assert_eq!(runs, 1, "one computation across both instances");
    let (sa, sb) = (a.compute_stats(), b.compute_stats());
    assert_eq!(sa.computations + sb.computations, 1, "{sa:?} {sb:?}");
    assert_eq!(sa.remote_waits + sb.remote_waits, 1, "{sa:?} {sb:?}");
    // The value is in Redis, where the other instance found it.
    let redis = a.redis.as_ref().unwrap();
    assert!(redis.exists("hot").await.unwrap());
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// The settings come from the configuration: `CACHE_COMPUTE_ON_WAIT_TIMEOUT=fail` with a short
/// `CACHE_COMPUTE_MAX_WAIT` makes a caller give up on a slow computation with a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compute_settings_of_the_configuration_apply() {
    let env = [
        ("CACHE_PRESET", "simple"),
        ("CACHE_COMPUTE_MAX_WAIT", "0.05"),
        ("CACHE_COMPUTE_ON_WAIT_TIMEOUT", "fail"),
    ];
    let config =
        CacheConfig::from_env_with(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
            .unwrap();
    let built = CacheFactory::from_config(config).await.unwrap();
    assert_eq!(built.compute.config().max_wait, Duration::from_millis(50));
    let slow = {
        let built = built.clone();
        tokio::spawn(async move {
            built
                .get_or_compute("slow", Ttl::secs(60), || async {
                    tokio::time::sleep(COMPUTE_TIME).await;
                    Ok(Bytes::from_static(b"late"))
                })
                .await
        })
    };
    while built.compute.computing() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let err = built
        .get_or_compute("slow", Ttl::secs(60), || async { unreachable!("waits") })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(slow.await.unwrap().unwrap(), "late");
    assert_eq!(built.compute_stats().wait_timeouts, 1);
}

// ---- the AI cache ----

fn options() -> Map<String, Value> {
    let mut options = Map::new();
    options.insert("model".to_owned(), json!("small"));
    options
}

/// A computed response is stored with its operation's TTL (read from Redis), an operation
/// without one with the default TTL; the counters see a miss and a set, then a hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_get_or_compute_stores_with_the_operation_ttl() {
    let Some(server) = server() else { return };
    let config = on_redis(CacheConfig::ai_app(), &server, &unique_namespace("ai-compute"));
    let (sentiment, default) = (config.ai.operation_ttls["sentiment"], config.default_ttl);
    assert_ne!(sentiment, default);
    let built = CacheFactory::from_config(config).await.unwrap();
    let ai = AiResponseCache::from_built(&built).unwrap();
    let redis = built.redis.clone().unwrap();
    for (operation, expected) in [("sentiment", sentiment), ("translate", default)] {
        let text = format!("text to {operation}");
        let response: Value = ai
            .get_or_compute(&text, operation, &options(), || async {
                Ok(json!({"label": "positive"}))
            })
            .await
            .unwrap();
        assert_eq!(response, json!({"label": "positive"}));
        let key = ai.key(&text, operation, &options()).unwrap();
        let stored = redis.ttl(&key).await.unwrap().and_then(|e| e.duration()).unwrap();
        assert!(
            stored <= expected && stored + Duration::from_secs(5) > expected,
            "{operation}: stored for {stored:?}, expected {expected:?}"
        );
        assert_eq!(ai.ttl_for(operation), expected);
        // Now cached: no computation, the same response.
        let again = ai
            .fetch::<Value, _, _>(&text, operation, &options(), || async { unreachable!("cached") })
            .await
            .unwrap();
        assert_eq!((again.response, again.source), (response, Source::Cache));
        let metrics = &ai.metrics().by_operation[operation];
        assert_eq!(
            (metrics.hits, metrics.misses, metrics.sets),
            (1, 1, 1),
            "{metrics:?}"
        );
    }
    // The AI cache shares the built cache's compute layer.
    assert_eq!(built.compute_stats().computations, 2);
    built.close().await.unwrap();
}

/// `CACHE_COMPUTE_TTL_JITTER` shortens the operation's TTL by at most its fraction.
#[tokio::test]
async fn ai_get_or_compute_applies_the_ttl_jitter() {
    let mut config = CacheConfig::ai_app();
    config.compute.ttl_jitter = 0.5;
    let built = CacheFactory::from_config(config).await.unwrap();
    let ai = AiResponseCache::from_built(&built).unwrap();
    let full = ai.ttl_for("summarize");
    let mut shortest = full;
    for i in 0..20 {
        let text = format!("article {i}");
        let _: Value = ai
            .get_or_compute(&text, "summarize", &options(), || async { Ok(json!("short")) })
            .await
            .unwrap();
        let key = ai.key(&text, "summarize", &options()).unwrap();
        let ttl = built
            .cache
            .ttl(&key)
            .await
            .unwrap()
            .and_then(|e| e.duration())
            .unwrap();
        assert!(ttl <= full && ttl >= full / 2 - Duration::from_secs(1), "{ttl:?}");
        shortest = shortest.min(ttl);
    }
    assert!(shortest < full * 9 / 10, "jittered: {shortest:?} of {full:?}");
}

/// Two AI caches on two built caches over one redis-server: the model is called once for 20
/// concurrent callers across both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_call_is_made_once_per_key_fleet_wide() {
    let Some(server) = server() else { return };
    let config = on_redis(CacheConfig::ai_app(), &server, &unique_namespace("ai-fleet"));
    let a = CacheFactory::from_config(config.clone()).await.unwrap();
    let b = CacheFactory::from_config(config).await.unwrap();
    let ais = [
        Arc::new(AiResponseCache::from_built(&a).unwrap()),
        Arc::new(AiResponseCache::from_built(&b).unwrap()),
    ];
    let calls = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for i in 0..20 {
        let (ai, calls) = (Arc::clone(&ais[i % 2]), Arc::clone(&calls));
        callers.push(tokio::spawn(async move {
            ai.get_or_compute::<Value, _, _>("one long document", "summarize", &options(), || async move {
                calls.fetch_add(1, SeqCst);
                tokio::time::sleep(COMPUTE_TIME).await;
                Ok(json!({"summary": "short"}))
            })
            .await
            .unwrap()
        }));
    }
    for caller in callers {
        assert_eq!(caller.await.unwrap(), json!({"summary": "short"}));
    }
    assert_eq!(calls.load(SeqCst), 1, "one model call for the fleet");
    let computed: u64 = ais
        .iter()
        .map(|ai| ai.metrics().by_operation["summarize"].sets)
        .sum();
    assert_eq!(computed, 1);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// A bad operation name or text is refused before anything is computed; a failed model call is
/// returned to the caller, counted as a miss, and not cached.
#[tokio::test]
async fn ai_get_or_compute_refuses_bad_input_and_does_not_cache_errors() {
    let built = CacheFactory::for_ai_app(None).await.unwrap();
    let ai = AiResponseCache::from_built(&built).unwrap();
    let err = ai
        .get_or_compute::<Value, _, _>("text", "Not An Operation", &options(), || async {
            unreachable!("refused first")
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = ai
        .get_or_compute::<Value, _, _>("text", "qa", &options(), || async {
            Err(Error::new(ErrorKind::Connection, "the model is down"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    let answer: Value = ai
        .get_or_compute("text", "qa", &options(), || async { Ok(json!("42")) })
        .await
        .unwrap();
    assert_eq!(answer, json!("42"));
    let qa = &ai.metrics().by_operation["qa"];
    assert_eq!((qa.hits, qa.misses, qa.sets), (0, 2, 1), "{qa:?}");
    assert_eq!(built.compute_stats().computations, 2);
}

/// Stale-if-error on the factory's tiered stack when Redis goes down: the failover's memory
/// fallback starts empty and the model fails too, yet the last value is served from this
/// process's copies, within the window; past it, the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_and_the_model_failing_the_last_value_is_served_within_the_window() {
    let Some(mut server) = server() else { return };
    let mut config = on_redis(CacheConfig::web_app(), &server, &unique_namespace("sie"));
    config.compute.freshness.stale_if_error = Duration::from_millis(1500);
    let built = CacheFactory::from_config(config).await.unwrap();
    let ttl = Ttl::After(Duration::from_millis(300));
    let model_down = || async { Err(Error::new(ErrorKind::Unavailable, "the model is down")) };
    built
        .get_or_compute("answer", ttl, || async { Ok(Bytes::from_static(b"last good")) })
        .await
        .unwrap();
    server.stop();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let served = built.fetch("answer", ttl, model_down).await.unwrap();
    assert_eq!(
        (served.value.as_ref(), served.source),
        (&b"last good"[..], Source::Stale),
        "layers: {:?}",
        built.layers
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late = built.fetch("answer", ttl, model_down).await.unwrap_err();
    assert_eq!(late.kind(), ErrorKind::Unavailable);
    assert_eq!(built.compute_stats().stale_if_error, 1);
}
