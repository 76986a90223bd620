//! XFetch (probabilistic early refresh) against plain expiry, on a hot key under steady load:
//! 16 tasks read one key in a loop (a read every 2 ms each) for 8 s; the key lives 1 s and takes
//! 50 ms to compute. Both variants coalesce (single-flight and the lease); plain expiry lets the
//! key expire, and every reader that arrives during its recomputation waits for it; XFetch
//! (β = 1) has one reader refresh it shortly before it expires, and the others keep reading the
//! value; with `get_or_revalidate` that refresh runs in the background and no reader waits. Printed for each, in the same run: the computations per TTL period, the calls that
//! waited for a computation (a miss seen by a caller: answered `Computed` or `Shared`, not from
//! the cache), and the callers' p50 / p99 / max latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stratacache_compute::{ComputeCache, ComputeConfig, Freshness, Source};
use stratacache_core::{Bytes, Ttl};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::bench::percentile;

const TASKS: usize = 16;
const TTL: Duration = Duration::from_secs(1);
const COMPUTE: Duration = Duration::from_millis(50);
const PAUSE: Duration = Duration::from_millis(2);

struct Outcome {
    computations: u64,
    early_refreshes: u64,
    waited: usize,
    calls: usize,
    latencies_ms: Vec<f64>,
}

async fn steady_load(cache: Arc<ComputeCache<RedisCache>>, run_for: Duration, background: bool) -> Outcome {
    let until = Instant::now() + run_for;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    let compute = || async {
                        tokio::time::sleep(COMPUTE).await;
                        Ok(Bytes::from_static(b"value"))
                    };
                    let fetched = if background {
                        cache
                            .get_or_revalidate("xfetch:hot", Ttl::After(TTL), compute)
                            .await
                    } else {
                        cache.fetch("xfetch:hot", Ttl::After(TTL), compute).await
                    }
                    .unwrap();
                    seen.push((started.elapsed().as_secs_f64() * 1e3, fetched.source));
                    tokio::time::sleep(PAUSE).await;
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let stats = cache.compute_stats();
    Outcome {
        computations: stats.computations,
        early_refreshes: stats.early_refreshes,
        waited: all.iter().filter(|(_, s)| *s != Source::Cache).count(),
        calls: all.len(),
        latencies_ms: all.iter().map(|(ms, _)| *ms).collect(),
    }
}

/// Runs both variants on the server at `url`, in a namespace of their own each.
pub(crate) fn xfetch_vs_plain_expiry(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    namespace: &str,
    full: bool,
) {
    let run_for = if full {
        Duration::from_secs(8)
    } else {
        Duration::from_secs(2)
    };
    println!(
        "XFetch vs plain expiry: one hot key read by {TASKS} tasks (a read every {} ms each) for {} s; TTL {} s, computation {} ms",
        PAUSE.as_millis(),
        run_for.as_secs(),
        TTL.as_secs(),
        COMPUTE.as_millis()
    );
    println!(
        "  {:<28} {:>22} {:>16} {:>28} {:>9} {:>9} {:>9}",
        "", "computations per TTL", "early refreshes", "calls that waited (of all)", "p50", "p99", "max"
    );
    let variants = [
        ("plain expiry (baseline)", 0.0, false),
        ("XFetch, beta 1", 1.0, false),
        ("XFetch, beta 1, background", 1.0, true),
    ];
    for (label, beta, background) in variants {
        let outcome = runtime.block_on(async {
            let mut config = RedisConfig::new(url);
            config.namespace = format!(
                "{namespace}-{}-{background}",
                if beta > 0.0 { "xfetch" } else { "plain" }
            );
            let redis = RedisCache::connect(config).await.unwrap();
            let compute = ComputeConfig {
                freshness: Freshness {
                    early_refresh: beta,
                    ..Freshness::default()
                },
                ..ComputeConfig::default()
            };
            let cache = Arc::new(ComputeCache::with_config(redis, compute).unwrap());
            steady_load(cache, run_for, background).await
        });
        #[allow(clippy::cast_precision_loss)]
        let per_ttl = outcome.computations as f64 / (run_for.as_secs_f64() / TTL.as_secs_f64());
        println!(
            "  {label:<28} {per_ttl:>22.2} {:>16} {:>28} {:>6.1} ms {:>6.1} ms {:>6.1} ms",
            outcome.early_refreshes,
            format!("{} of {}", outcome.waited, outcome.calls),
            percentile(&outcome.latencies_ms, 50.0),
            percentile(&outcome.latencies_ms, 99.0),
            percentile(&outcome.latencies_ms, 100.0),
        );
    }
}
