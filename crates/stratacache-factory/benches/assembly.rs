//! How long the factory takes: assembling a stack (memory only; over a live local Redis) and
//! detecting a dead Redis at start (a loopback port nothing listens on) before returning a working
//! memory fallback. The reference bound for assembly was 500 ms; the bound for detecting a
//! dead Redis is 100 ms. Figures are printed, never asserted.
//!
//! Run with `cargo bench -p stratacache-factory --bench assembly`. Without `--bench` it does a
//! short smoke run; with `--list` (nextest) it lists nothing.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use stratacache_factory::{CacheConfig, CacheFactory};
use stratacache_testkit::bench::{closed_port, median};
use stratacache_testkit::redis::{RedisMode, RedisServer};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median and worst of `rounds` timings of `build`, in ms.
async fn time<F, Fut>(rounds: usize, mut build: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Duration>,
{
    let mut all = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        all.push(ms(build().await));
    }
    let worst = all.iter().copied().fold(0.0, f64::max);
    (median(all), worst)
}

fn main() {
    let Some(full) = stratacache_testkit::bench::full_run("assembly") else {
        return;
    };
    let rounds = if full { 50 } else { 3 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("Factory timings, median and worst of {rounds} rounds");
        let (med, worst) = time(rounds, || async {
            let start = Instant::now();
            let built = CacheFactory::for_web_app(None).await.unwrap();
            let elapsed = start.elapsed();
            built.close().await.unwrap();
            elapsed
        })
        .await;
        println!("assemble memory-only web stack      median {med:>8.3} ms  worst {worst:>8.3} ms  (reference bound 500 ms)");

        let port = closed_port();
        let (med, worst) = time(rounds, || async {
            let mut config = CacheConfig::testing();
            config.redis_url = Some(format!("redis://127.0.0.1:{port}").into());
            let start = Instant::now();
            let built = CacheFactory::from_config(config).await.unwrap();
            let elapsed = start.elapsed();
            assert!(built.is_degraded());
            built.close().await.unwrap();
            elapsed
        })
        .await;
        println!("detect dead Redis, start on memory  median {med:>8.3} ms  worst {worst:>8.3} ms  (target < 100 ms)");

        let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
            println!("assemble over Redis: skipped (no redis-server)");
            return;
        };
        let (med, worst) = time(rounds, || async {
            let mut config = CacheConfig::testing();
            config.redis_url = Some(server.url().into());
            config.enable_l1_cache = true;
            let start = Instant::now();
            let built = CacheFactory::from_config(config).await.unwrap();
            let elapsed = start.elapsed();
            assert!(!built.is_degraded());
            built.close().await.unwrap();
            elapsed
        })
        .await;
        println!("assemble tiered stack over Redis    median {med:>8.3} ms  worst {worst:>8.3} ms  (reference bound 500 ms)");
    });
}
