//! The Prometheus text exposition, parsed back with a small parser of the text format.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use stratacache_core::{Bytes, Cache, LayerExt, Ttl};
use stratacache_memory::MemoryCache;
use stratacache_monitor::{ManualClock, MonitorConfig, MonitoringLayer, Operation};

/// Metric families: name → (type, help), and samples: `name{labels}` → value.
#[derive(Debug, Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    help: BTreeMap<String, String>,
    samples: BTreeMap<String, f64>,
}

impl Exposition {
    fn parse(text: &str) -> Self {
        let mut e = Self::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').unwrap();
                e.types.insert(name.to_owned(), ty.to_owned());
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                e.help.insert(name.to_owned(), help.to_owned());
            } else if line.starts_with('#') || line.is_empty() {
                continue;
            } else {
                // `name{k="v",...} value` or `name value`; label values here hold no spaces.
                let (series, value) = line.rsplit_once(' ').unwrap();
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
                };
                // Labels are sorted by name so that lookups do not depend on the encoder's order.
                let series = match series.split_once('{') {
                    Some((name, labels)) => {
                        let labels = labels.strip_suffix('}').unwrap();
                        let mut pairs: Vec<&str> = labels.split(',').collect();
                        assert!(
                            pairs.iter().all(|kv| kv.contains("=\"") && kv.ends_with('"')),
                            "{line}"
                        );
                        pairs.sort_unstable();
                        format!("{name}{{{}}}", pairs.join(","))
                    }
                    None => series.to_owned(),
                };
                let name = series.split('{').next().unwrap();
                assert!(
                    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(
                    e.samples.insert(series.clone(), value).is_none(),
                    "duplicate {series}"
                );
            }
        }
        e
    }

    fn get(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no sample {series}"))
    }
}

#[tokio::test]
async fn exposition_reports_known_operations() {
    let clock = ManualClock::new(Duration::from_secs(1_795_253_400));
    let layer = MonitoringLayer::with_clock(MonitorConfig::default(), Arc::new(clock)).unwrap();
    let cache = MemoryCache::new(1_000).unwrap().layer(layer.clone());
    let v = Bytes::from_static(b"value");
    cache.set("a", v.clone(), Ttl::Never).await.unwrap();
    cache.set("b", v.clone(), Ttl::Never).await.unwrap();
    assert!(
        cache
            .set("c", v.clone(), Ttl::After(Duration::ZERO))
            .await
            .is_err()
    );
    cache.get("a").await.unwrap();
    cache.get("nope").await.unwrap();
    cache.get_many(&["a", "b", "x"]).await.unwrap();
    cache.invalidate_pattern("a*").await.unwrap();
    let monitor = layer.monitor();
    monitor.record_latency(Operation::Delete, Duration::from_millis(30));
    monitor.record_latency(Operation::Delete, Duration::from_millis(70));
    monitor.record_key_generation(Duration::from_micros(20), 100);
    monitor.record_redis_memory(4096);

    let text = cache.render_prometheus().await;
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
    let e = Exposition::parse(&text);

    assert_eq!(e.types["stratacache_operations"], "counter");
    assert_eq!(e.types["stratacache_operation_duration_seconds"], "histogram");
    assert_eq!(e.types["stratacache_hit_ratio"], "gauge");
    assert!(e.help.contains_key("stratacache_invalidations"));
    assert_eq!(
        e.get(r#"stratacache_operations_total{op="set",result="ok"}"#),
        2.0
    );
    assert_eq!(
        e.get(r#"stratacache_operations_total{op="set",result="error"}"#),
        1.0
    );
    assert_eq!(
        e.get(r#"stratacache_operations_total{op="get",result="ok"}"#),
        2.0
    );
    assert_eq!(e.get(r#"stratacache_reads_total{op="get",result="hit"}"#), 1.0);
    assert_eq!(e.get(r#"stratacache_reads_total{op="get",result="miss"}"#), 1.0);
    assert_eq!(
        e.get(r#"stratacache_reads_total{op="get_many",result="hit"}"#),
        2.0
    );
    assert_eq!(
        e.get(r#"stratacache_reads_total{op="get_many",result="miss"}"#),
        1.0
    );
    assert_eq!(e.get(r#"stratacache_errors_total{kind="invalid_input"}"#), 1.0);
    assert_eq!(e.get(r#"stratacache_errors_total{kind="timeout"}"#), 0.0);
    assert_eq!(e.get("stratacache_hit_ratio"), 0.6);
    assert_eq!(e.get("stratacache_invalidations_total"), 1.0);
    assert_eq!(e.get("stratacache_invalidated_keys_total"), 1.0);
    assert_eq!(e.get("stratacache_invalidation_alert_level"), 0.0);
    assert_eq!(e.get(r#"stratacache_slow_operations_total{op="delete"}"#), 1.0);
    assert_eq!(e.get("stratacache_redis_used_memory_bytes"), 4096.0);
    assert_eq!(e.get("stratacache_cache_entries"), 1.0);

    // The histogram: cumulative buckets, `+Inf` = count, sum in seconds. Each exported `le` is
    // the recording histogram's edge at or just below the nominal ladder value (within 12.5 %).
    let bucket_near = |metric: &str, labels: &str, nominal: f64| -> f64 {
        let (le, value) = e
            .samples
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{metric}{{")) && k.contains(labels))
            .filter_map(|(k, v)| {
                let le: f64 = k.split(r#"le=""#).nth(1)?.split('"').next()?.parse().ok()?;
                (le <= nominal).then_some((le, *v))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap_or_else(|| panic!("no {metric} bucket at or below {nominal}"));
        assert!(le > nominal * 0.875, "le {le} is too far below {nominal}");
        value
    };
    let delete = |nominal: f64| {
        bucket_near(
            "stratacache_operation_duration_seconds_bucket",
            r#"op="delete""#,
            nominal,
        )
    };
    assert_eq!(delete(0.025), 0.0);
    assert_eq!(delete(0.05), 1.0);
    assert_eq!(delete(0.1), 2.0);
    assert_eq!(
        e.get(r#"stratacache_operation_duration_seconds_bucket{le="+Inf",op="delete"}"#),
        2.0
    );
    assert_eq!(
        e.get(r#"stratacache_operation_duration_seconds_count{op="delete"}"#),
        2.0
    );
    assert!((e.get(r#"stratacache_operation_duration_seconds_sum{op="delete"}"#) - 0.1).abs() < 1e-9);
    assert_eq!(e.get("stratacache_key_generation_duration_seconds_count"), 1.0);
    assert_eq!(
        bucket_near(
            "stratacache_key_generation_duration_seconds_bucket",
            "",
            0.000_025
        ),
        1.0
    );
    // Every bucket of `set` is there, and `+Inf` holds the three calls.
    let buckets: Vec<f64> = e
        .samples
        .iter()
        .filter(|(k, _)| {
            k.starts_with("stratacache_operation_duration_seconds_bucket{") && k.contains(r#"op="set""#)
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(buckets.len(), 20);
    assert_eq!(
        buckets.iter().copied().fold(0.0, f64::max),
        3.0,
        "+Inf holds every set"
    );
    // No compression or encryption layer: no such metrics.
    assert!(!text.contains("stratacache_compression"));
    assert!(!text.contains("stratacache_encryption"));
}
