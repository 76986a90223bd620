//! The counters of `AiResponseCache`: the exact JSON of its metrics after a scripted workload, and
//! exact totals under many concurrent tasks.

// Test code: unwrapping fails the test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use stratacache_core::{ErrorKind, SharedCache};
use stratacache_factory::{AiResponseCache, CacheFactory};
use stratacache_memory::MemoryCache;

/// An AI cache with the `ai-development` settings (tiers: small < 500, medium < 2000,
/// large < 10 000 characters; TTLs for summarize, sentiment, key_points, questions and qa) over a
/// memory cache large enough to keep everything.
async fn ai_cache() -> AiResponseCache {
    let settings = CacheFactory::for_ai_app(None).await.unwrap().config.ai;
    let memory: SharedCache = Arc::new(MemoryCache::new(100_000).unwrap());
    AiResponseCache::new(memory, &settings, Duration::from_secs(3600)).unwrap()
}

fn text(len: usize) -> String {
    "x".repeat(len)
}

#[tokio::test]
async fn metrics_json_after_a_scripted_workload() {
    let ai = ai_cache().await;
    let o = Map::new();
    assert_eq!(
        serde_json::to_value(ai.metrics()).unwrap(),
        json!({"by_operation": {}, "by_text_tier": {}, "invalidated": {}}),
        "metrics of a fresh AI cache"
    );
    let (small, medium, large, xlarge) = (text(10), text(1000), text(5000), text(20_000));
    let get = async |t: &str, op: &str| ai.get::<Value>(t, op, &o).await.unwrap().is_some();

    ai.set(&small, "summarize", &o, &json!(1)).await.unwrap();
    ai.set(&medium, "summarize", &o, &json!(2)).await.unwrap();
    assert!(get(&small, "summarize").await);
    assert!(!get(&large, "summarize").await);
    ai.set(&xlarge, "qa", &o, &json!(3)).await.unwrap();
    assert!(get(&xlarge, "qa").await);
    assert!(get(&xlarge, "qa").await);
    assert!(!get(&small, "qa").await);
    // An operation the preset does not list.
    ai.set(&small, "translate", &o, &json!(4)).await.unwrap();
    assert!(!get(&medium, "translate").await);
    assert!(!get(&small, "sentiment").await);
    // A hit whose value is not the requested type counts as a hit, then fails.
    ai.set(&small, "questions", &o, &json!({"a": 1})).await.unwrap();
    let err = ai.get::<u64>(&small, "questions", &o).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    // Refused requests count nothing.
    let err = ai.get::<Value>(&small, "Not An Op", &o).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let too_long = text(50_001);
    let err = ai.set(&too_long, "qa", &o, &json!(0)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // Invalidations are summed per operation, also when they remove nothing.
    assert_eq!(ai.invalidate_by_operation("summarize").await.unwrap(), 2);
    assert_eq!(ai.invalidate_by_operation("summarize").await.unwrap(), 0);
    assert_eq!(ai.invalidate_by_operation("key_points").await.unwrap(), 0);
    assert_eq!(ai.invalidate_by_operation("custom").await.unwrap(), 0);

    let m = |hits: u64, misses: u64, sets: u64| {
        let reads = hits + misses;
        let ratio = (reads > 0).then(|| hits as f64 / reads as f64);
        json!({"hits": hits, "misses": misses, "sets": sets, "hit_ratio": ratio})
    };
    let expected = json!({
        "by_operation": {
            "qa": m(2, 1, 1),
            "questions": m(1, 0, 1),
            "sentiment": m(0, 1, 0),
            "summarize": m(1, 1, 2),
            "translate": m(0, 1, 1),
        },
        "by_text_tier": {
            "large": m(0, 1, 0),
            "medium": m(0, 1, 1),
            "small": m(2, 2, 3),
            "xlarge": m(2, 0, 1),
        },
        "invalidated": {"custom": 0, "key_points": 0, "summarize": 2},
    });
    assert_eq!(serde_json::to_value(ai.metrics()).unwrap(), expected);
    // The rendered JSON, key order included.
    assert_eq!(
        serde_json::to_string(&ai.metrics()).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
}

/// 16 tasks on two threads read and write listed and unlisted operations in every tier; the
/// totals per operation and per tier are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_are_counted_exactly() {
    const TASKS: usize = 16;
    const ROUNDS: usize = 300;
    let ai = Arc::new(ai_cache().await);
    let ops = ["summarize", "qa", "sentiment", "translate", "classify"];
    let texts = [text(3), text(600), text(2500), text(12_000)];
    let tiers = ["small", "medium", "large", "xlarge"];
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let (ai, texts) = (Arc::clone(&ai), texts.clone());
        handles.push(tokio::spawn(async move {
            let o = Map::new();
            for r in 0..ROUNDS {
                let (op, text) = (ops[(t + r) % ops.len()], &texts[(t * 7 + r) % texts.len()]);
                // Every task writes its own texts (one per tier), so task t's first read of a
                // (text, operation) pair may hit another task's write: read a key of its own.
                let own = format!("{t}:{text}");
                ai.set(&own, op, &o, &json!(r)).await.unwrap();
                assert!(ai.get::<Value>(&own, op, &o).await.unwrap().is_some());
                let miss = format!("{t}:{r}:miss:{text}");
                assert!(ai.get::<Value>(&miss, op, &o).await.unwrap().is_none());
                tokio::task::yield_now().await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    // Each round is one set, one hit and one miss of its operation and tier.
    let mut by_op: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_tier: BTreeMap<&str, u64> = BTreeMap::new();
    for t in 0..TASKS {
        for r in 0..ROUNDS {
            *by_op.entry(ops[(t + r) % ops.len()]).or_default() += 1;
            // The prefix "t:" adds two or three characters: no text is near a tier boundary.
            *by_tier.entry(tiers[(t * 7 + r) % texts.len()]).or_default() += 1;
        }
    }
    let m = ai.metrics();
    let rounds_of = |map: &BTreeMap<String, stratacache_factory::OperationMetrics>| {
        map.iter()
            .map(|(k, v)| {
                assert_eq!((v.hits, v.misses), (v.sets, v.sets), "{k}: {v:?}");
                assert_eq!(v.hit_ratio, Some(0.5), "{k}: {v:?}");
                (k.clone(), v.sets)
            })
            .collect::<BTreeMap<String, u64>>()
    };
    let own = |map: BTreeMap<&str, u64>| map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(rounds_of(&m.by_operation), own(by_op));
    assert_eq!(rounds_of(&m.by_text_tier), own(by_tier));
    let total: u64 = m.by_operation.values().map(|v| v.sets).sum();
    assert_eq!(total, (TASKS * ROUNDS) as u64);
}
