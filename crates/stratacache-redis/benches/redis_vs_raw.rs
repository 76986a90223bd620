//! `RedisCache` against a raw redis-rs `MultiplexedConnection` and `redis-benchmark`, in one run on
//! one local `redis-server` (started by the testkit fixture): GET and SET at 1 task and at 50
//! tasks, MGET of 16 keys, non-pipelined, 100-byte values. Prints every figure and ratio.
//!
//! Targets: at 1 task a RedisCache GET costs at most 1.15× the raw multiplexed GET; at 50 tasks
//! its throughput is at least 80 % of the raw connection's; MGET of 16 reaches 150 K keys/s.
//!
//! Run with `cargo xtask bench redis` (or `cargo bench -p stratacache-redis`). Without `--bench`
//! it does a short smoke run; with `--list` (nextest) it lists nothing.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use redis::aio::MultiplexedConnection;
use stratacache_core::{Bytes, Cache, Ttl};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::bench::median;
use stratacache_testkit::redis::{RedisMode, RedisServer};

const KEYS: usize = 1_000;
const VALUE_LEN: usize = 100;
const NAMESPACE: &str = "bench";

fn key(i: usize) -> String {
    format!("k{}", i % KEYS)
}

/// Runs `ops` calls of `op` spread over `tasks` tasks; returns ops/s.
async fn throughput<F, Fut>(tasks: usize, ops: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                for i in 0..ops / tasks {
                    op(t * 7919 + i).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

/// `redis-benchmark -t <test> -c <clients> -d <size>`: requests per second, or None if it is missing.
fn redis_benchmark(port: u16, test: &str, clients: usize, requests: usize) -> Option<f64> {
    let out = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            test,
            "-c",
            &clients.to_string(),
        ])
        .args([
            "-n",
            &requests.to_string(),
            "-d",
            &VALUE_LEN.to_string(),
            "-r",
            &KEYS.to_string(),
            "--csv",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // CSV: "test","rps",...
    text.lines()
        .skip(1)
        .find_map(|l| l.split(',').nth(1)?.trim_matches('"').parse().ok())
}

struct Row {
    name: String,
    raw: f64,
    ours: f64,
    bench: Option<f64>,
}

#[allow(clippy::too_many_lines)]
fn main() {
    let Some(full) = stratacache_testkit::bench::full_run("redis_vs_raw") else {
        return;
    };
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let (ops_1, ops_50, rounds) = if full {
        (20_000, 200_000, 3)
    } else {
        (200, 2_000, 1)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let port = server.port();
    let url = server.url().to_owned();

    rt.block_on(async move {
        let mut config = RedisConfig::new(url.clone());
        config.namespace = NAMESPACE.into();
        let default_pool = config.pool_size;
        let cache = RedisCache::connect(config.clone()).await.unwrap();
        config.pool_size = 1;
        let single = RedisCache::connect(config).await.unwrap();
        let raw: MultiplexedConnection =
            redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let value = Bytes::from(vec![b'x'; VALUE_LEN]);
        for i in 0..KEYS {
            cache.set(&key(i), value.clone(), Ttl::Never).await.unwrap();
        }
        println!(
            "RedisCache vs raw MultiplexedConnection vs redis-benchmark: redis-server on 127.0.0.1:{port}, {VALUE_LEN}-byte values, {KEYS} keys, median of {rounds} rounds"
        );

        let mut rows = Vec::new();
        // One multiplexed connection each (the like-for-like comparison), then the default pool.
        for (subject, pool_label) in [(&single, "1 conn".to_owned()), (&cache, format!("pool {default_pool}"))] {
            for (name, tasks, ops, test) in
                [("GET, 1 task", 1, ops_1, "get"), ("GET, 50 tasks", 50, ops_50, "get"), ("SET, 1 task", 1, ops_1, "set"), ("SET, 50 tasks", 50, ops_50, "set")]
            {
                let (mut raw_v, mut ours_v) = (Vec::new(), Vec::new());
                for _ in 0..rounds {
                    let conn = raw.clone();
                    let v = value.clone();
                    let prefix = format!("{NAMESPACE}:");
                    raw_v.push(
                        throughput(tasks, ops, move |i| {
                            let mut c = conn.clone();
                            let k = format!("{prefix}{}", key(i));
                            let v = v.clone();
                            async move {
                                if test == "get" {
                                    let got: Option<Vec<u8>> = redis::cmd("GET").arg(&k).query_async(&mut c).await.unwrap();
                                    black_box(got.unwrap());
                                } else {
                                    redis::cmd("SET").arg(&k).arg(&v[..]).query_async::<()>(&mut c).await.unwrap();
                                }
                            }
                        })
                        .await,
                    );
                    let c = subject.clone();
                    let v = value.clone();
                    ours_v.push(
                        throughput(tasks, ops, move |i| {
                            let c = c.clone();
                            let v = v.clone();
                            async move {
                                if test == "get" {
                                    black_box(c.get(&key(i)).await.unwrap().unwrap());
                                } else {
                                    c.set(&key(i), v, Ttl::Never).await.unwrap();
                                }
                            }
                        })
                        .await,
                    );
                }
                let bench = redis_benchmark(port, test, tasks, if full { ops.min(100_000) } else { 1_000 });
                rows.push(Row { name: format!("{name}, {pool_label}"), raw: median(raw_v), ours: median(ours_v), bench });
            }
        }
        println!("{:<24} {:>12} {:>12} {:>16} {:>22}", "scenario", "raw ops/s", "RedisCache", "redis-benchmark", "RedisCache / raw");
        for r in &rows {
            let bench = r.bench.map_or_else(|| "n/a".to_owned(), |b| format!("{b:.0}"));
            println!(
                "{:<24} {:>12.0} {:>12.0} {:>16} {:>9.2}x cost {:>6.1}% thr",
                r.name,
                r.raw,
                r.ours,
                bench,
                r.raw / r.ours,
                r.ours * 100.0 / r.raw
            );
        }

        // MGET of 16 keys through get_many, at 1 and 50 tasks: keys per second.
        for tasks in [1, 50] {
            let c = cache.clone();
            let calls = if full { if tasks == 1 { 5_000 } else { 20_000 } } else { 100 };
            let rate = throughput(tasks, calls, move |i| {
                let c = c.clone();
                async move {
                    let keys: Vec<String> = (0..16).map(|j| key(i * 16 + j)).collect();
                    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
                    black_box(c.get_many(&refs).await.unwrap());
                }
            })
            .await;
            println!("get_many (MGET of 16), {tasks:>2} tasks: {:>10.0} keys/s", rate * 16.0);
        }
        // TieredCache (memory over this Redis) L1 hits against raw moka gets of the same values.
        let l1 = stratacache_memory::MemoryCache::new(10_000).unwrap();
        let tiered = Arc::new(stratacache_tiered::TieredCache::new(l1, cache.clone()));
        let moka: moka::future::Cache<String, Bytes> = moka::future::Cache::builder()
            .max_capacity(10_000)
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .build();
        for i in 0..KEYS {
            black_box(tiered.get(&key(i)).await.unwrap().unwrap()); // promotes into L1
            moka.insert(key(i), value.clone()).await;
        }
        let hits = if full { 1_000_000 } else { 1_000 };
        let l2_before = tiered.tier_counters().l2_hits;
        let (mut moka_v, mut tiered_v) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let m = moka.clone();
            moka_v.push(throughput(1, hits, move |i| {
                let m = m.clone();
                async move { black_box(m.get(&key(i)).await.unwrap()); }
            }).await);
            let t = Arc::clone(&tiered);
            tiered_v.push(throughput(1, hits, move |i| {
                let t = Arc::clone(&t);
                async move { black_box(t.get(&key(i)).await.unwrap().unwrap()); }
            }).await);
        }
        let (m, t) = (median(moka_v), median(tiered_v));
        println!("TieredCache L1 hit, 1 task: {t:>10.0} ops/s; raw moka get {m:>10.0} ops/s; {:.2}x cost", m / t);
        let l2_reads = tiered.tier_counters().l2_hits - l2_before;
        println!("  (reads that went to Redis during the timed L1-hit runs: {l2_reads})");
        println!("targets: GET at 1 task <= 1.15x raw cost; GET at 50 tasks >= 80% of raw throughput; MGET of 16 >= 150000 keys/s");
    });
    drop(server);
}
