//! The compute layer through the admin API: after real `get_or_compute` calls on the built cache
//! the API serves, its gauges and counters are in the status (`compute`), in the JSON metrics
//! document (`compute`, next to the monitor's unchanged fields) and in the Prometheus scrape
//! (`stratacache_compute_*`), with the values the calls produced; with two instances over one
//! redis-server, the lease counters of the instance that waited.

#![allow(clippy::unwrap_used)]

mod api_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use api_support::{TestServer, assert_prometheus_text, open_config, redact};
use serde_json::json;
use stratacache_core::{Bytes, Cache, Error, ErrorKind, Ttl};
use stratacache_factory::{BuiltCache, CacheFactory};

const PATIENCE: Duration = Duration::from_secs(10);

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A value of `key` computed by one caller while `followers` others wait for it.
async fn coalesced(built: &BuiltCache, key: &'static str, followers: usize) {
    let mut callers = Vec::new();
    for _ in 0..=followers {
        let built = built.clone();
        callers.push(actix_web::rt::spawn(async move {
            built
                .get_or_compute(key, Ttl::secs(60), || async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(Bytes::from_static(b"v"))
                })
                .await
                .unwrap()
        }));
    }
    for caller in callers {
        assert_eq!(caller.await.unwrap(), "v");
    }
}

/// The value of `name`'s sample in a scrape.
fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[actix_web::test]
async fn compute_counters_are_in_the_status_the_metrics_and_the_scrape() {
    let built = CacheFactory::for_web_app(None).await.unwrap();
    let server = TestServer::built(built.clone(), open_config());

    // One computation shared by nine callers; two hits; one failed computation; one
    // computation superseded by a write through the API's cache.
    coalesced(&built, "hot", 9).await;
    for _ in 0..2 {
        built
            .get_or_compute("hot", Ttl::secs(60), || async { unreachable!("cached") })
            .await
            .unwrap();
    }
    let err = built
        .get_or_compute("failing", Ttl::secs(60), || async {
            Err(Error::new(ErrorKind::Timeout, "the model did not answer"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let (release, held) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let leader = {
        let (built, release, held) = (built.clone(), Arc::clone(&release), Arc::clone(&held));
        actix_web::rt::spawn(async move {
            built
                .get_or_compute("profile", Ttl::secs(60), || async move {
                    held.notify_one();
                    release.notified().await;
                    Ok(Bytes::from_static(b"old"))
                })
                .await
                .unwrap()
        })
    };
    held.notified().await;
    let follower = {
        let built = built.clone();
        actix_web::rt::spawn(async move {
            built
                .get_or_compute("profile", Ttl::secs(60), || async { unreachable!("waits") })
                .await
                .unwrap()
        })
    };
    eventually("the follower waits", || built.compute.waiting() == 1).await;

    // While the computation runs, the gauges show it.
    let status = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(status["compute"]["computing"], 1, "{status}");
    assert_eq!(status["compute"]["waiting"], 1, "{status}");
    let scrape = server.get("/metrics", &[]).await.text();
    assert_eq!(
        sample(&scrape, "stratacache_compute_in_flight"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "stratacache_compute_waiters"),
        Some(1.0),
        "{scrape}"
    );

    // An operator's PUT supersedes it: the computed value is returned, not stored.
    let put = server
        .send("PUT", "/internal/cache/entries/profile?ttl=60", &[], "new")
        .await;
    assert_eq!(put.status, 201, "{}", put.text());
    release.notify_one();
    assert_eq!(leader.await.unwrap(), "old");
    assert_eq!(follower.await.unwrap(), "old");
    assert_eq!(built.cache.get("profile").await.unwrap().unwrap(), "new");

    let expected = json!({
        "computing": 0,
        "waiting": 0,
        "counters": {
            "hits": 2,
            "computations": 3,
            "coalesced": 10,
            "takeovers": 0,
            "wait_timeouts": 0,
            "errors": 1,
            "store_errors": 0,
            "read_errors": 0,
            "superseded": 1,
            "remote_waits": 0,
            "lease_takeovers": 0,
            "lease_errors": 0,
        },
    });
    let status = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(status["layers"][0], "compute", "{status}");
    let metrics = server.get("/internal/cache/metrics", &[]).await.json();
    // Every counter the compute layer has, with the values above (and any it adds later, at 0).
    for (name, value) in expected["counters"].as_object().unwrap() {
        assert_eq!(&metrics["compute"]["counters"][name], value, "{name}: {metrics}");
    }
    assert_eq!(status["compute"], metrics["compute"]);
    // The shape, with the counters named above (the compute layer may have more).
    let mut section = metrics["compute"].clone();
    section["counters"]
        .as_object_mut()
        .unwrap()
        .retain(|name, _| expected["counters"].get(name).is_some());
    assert_eq!(section, expected);
    insta::assert_json_snapshot!("compute_section", section);
    assert_eq!(
        redact(json!({"compute": metrics["compute"]}))["compute"]["counters"],
        api_support::COMPUTE_COUNTERS
    );
    // The monitor's own fields are still there, as the reference names them.
    for field in [
        "cache_hit_rate",
        "cache_hits",
        "cache_misses",
        "total_cache_operations",
        "since_start",
    ] {
        assert!(metrics.get(field).is_some(), "{field}: {metrics}");
    }

    let text = server.get("/metrics", &[]).await.text();
    assert_prometheus_text(&text);
    for (name, value) in [
        ("stratacache_compute_in_flight", 0.0),
        ("stratacache_compute_waiters", 0.0),
        ("stratacache_compute_hits_total", 2.0),
        ("stratacache_compute_computations_total", 3.0),
        ("stratacache_compute_coalesced_total", 10.0),
        ("stratacache_compute_errors_total", 1.0),
        ("stratacache_compute_superseded_total", 1.0),
        ("stratacache_compute_remote_waits_total", 0.0),
    ] {
        assert_eq!(sample(&text, name), Some(value), "{name}:\n{text}");
    }
    assert!(
        text.contains("# TYPE stratacache_compute_computations_total counter\n"),
        "{text}"
    );
    let openmetrics = server
        .get("/metrics", &[("accept", "application/openmetrics-text")])
        .await
        .text();
    assert!(
        openmetrics.contains(
            "# TYPE stratacache_compute_computations counter\nstratacache_compute_computations_total 3\n"
        ),
        "{openmetrics}"
    );
    assert!(openmetrics.trim_end().ends_with("# EOF"), "{openmetrics}");
    assert_documented(&text);
    server.stop().await;
}

/// Every compute family of the scrape is in the metrics table of docs/operations.md, but for
/// counters added to the compute layer after it (exported with the generic help text, and
/// covered by the table's `stratacache_compute_<counter>_total` row).
fn assert_documented(scrape: &str) {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md")).unwrap();
    assert!(doc.contains("| `stratacache_compute_<counter>_total` |"));
    let mut documented = 0;
    for line in scrape.lines() {
        let Some(rest) = line.strip_prefix("# HELP stratacache_compute_") else {
            continue;
        };
        let (name, help) = rest.split_once(' ').unwrap();
        if help.starts_with("The compute layer's ") {
            continue;
        }
        assert!(
            doc.contains(&format!("| `stratacache_compute_{name}` |")),
            "stratacache_compute_{name} is not in the table of docs/operations.md"
        );
        documented += 1;
    }
    assert!(documented >= 14, "{documented} compute families");
}

/// Two instances over one redis-server, each served by its own API: 40 callers across both make
/// one computation, and the instance that waited for the other's lease shows it.
#[cfg(feature = "redis")]
#[actix_web::test]
async fn two_instances_report_one_computation_and_the_remote_wait() {
    use stratacache_factory::{CacheConfig, Environment};
    use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

    let Some(redis) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let mut config = CacheConfig::web_app();
    config.environment = Environment::Testing;
    config.redis_url = Some(redis.url().into());
    config.namespace = unique_namespace("admin-compute");
    let a = CacheFactory::from_config(config.clone()).await.unwrap();
    let b = CacheFactory::from_config(config).await.unwrap();
    let servers = [
        TestServer::built(a.clone(), open_config()),
        TestServer::built(b.clone(), open_config()),
    ];
    let mut callers = Vec::new();
    for i in 0..40 {
        let built = if i % 2 == 0 { a.clone() } else { b.clone() };
        callers.push(actix_web::rt::spawn(async move {
            built
                .get_or_compute("hot", Ttl::secs(60), || async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(Bytes::from_static(b"once"))
                })
                .await
                .unwrap()
        }));
    }
    for caller in callers {
        assert_eq!(caller.await.unwrap(), "once");
    }
    let mut totals = std::collections::BTreeMap::<String, u64>::new();
    for server in &servers {
        let metrics = server.get("/internal/cache/metrics", &[]).await.json();
        let scrape = server.get("/metrics", &[]).await.text();
        assert_prometheus_text(&scrape);
        for (name, value) in metrics["compute"]["counters"].as_object().unwrap() {
            let value = value.as_u64().unwrap();
            *totals.entry(name.clone()).or_default() += value;
            let family = format!("stratacache_compute_{name}_total");
            assert_eq!(
                sample(&scrape, &family),
                Some(value as f64),
                "{family}:\n{scrape}"
            );
        }
    }
    assert_eq!(totals["computations"], 1, "{totals:?}");
    assert_eq!(totals["remote_waits"], 1, "{totals:?}");
    // Every other caller got the value without computing: from its leader, or (the other
    // instance's leader) from Redis once the first computation was stored.
    assert_eq!(totals["coalesced"] + totals["hits"], 39, "{totals:?}");
    assert_eq!(totals["lease_errors"], 0, "{totals:?}");
    let body: serde_json::Value = servers[1].get("/internal/cache/status", &[]).await.json();
    assert_eq!(body["compute"]["computing"], 0, "{body}");
    for server in servers {
        server.stop().await;
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}
