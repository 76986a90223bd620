//! What the monitoring layer adds to a call, in one run: a `MemoryCache` get hit and a
//! `RedisCache` GET (local `redis-server` started by the testkit fixture), each with and without
//! `MonitoringLayer`, on 1 task, alternating rounds, median of the rounds.
//!
//! Targets: at most 25 % added to a memory get hit, at most 5 % to a Redis GET.
//!
//! Run with `cargo bench -p stratacache-monitor`. Without `--bench` it does a short smoke run; with
//! `--list` (nextest) it lists nothing. The Redis part is skipped when `redis-server` is missing.
//! With `MONITOR_BENCH_PARTS=1` it also times `record_read` alone and `Instant::now`.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use stratacache_core::{Bytes, Cache, LayerExt, Ttl};
use stratacache_memory::MemoryCache;
use stratacache_monitor::{MonitorConfig, MonitoringLayer};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::bench::compare_gets;
use stratacache_testkit::redis::{RedisMode, RedisServer};

const KEYS: usize = 1_000;

fn report(name: &str, plain: f64, monitored: f64, target: f64) {
    let overhead = (monitored / plain - 1.0) * 100.0;
    let verdict = if overhead <= target { "ok" } else { "ABOVE TARGET" };
    println!(
        "{name:<22} plain {plain:>9.0} ns  monitored {monitored:>9.0} ns  overhead {overhead:>6.1} % (target <= {target} %: {verdict})"
    );
}

fn main() {
    let Some(full) = stratacache_testkit::bench::full_run("monitor_overhead") else {
        return;
    };
    let (mem_ops, redis_ops, rounds) = if full {
        (1_000_000, 20_000, 9)
    } else {
        (1_000, 100, 1)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    let value = Bytes::from(vec![b'x'; 100]);

    rt.block_on(async {
        println!("MonitoringLayer overhead: 1 task, {KEYS} keys, 100-byte values, median of {rounds} alternating rounds");
        let layer = MonitoringLayer::new(MonitorConfig::default()).unwrap();
        let memory = MemoryCache::new(10_000).unwrap();
        for k in &keys {
            memory.set(k, value.clone(), Ttl::Never).await.unwrap();
        }
        let monitored = memory.clone().layer(layer.clone());
        // Warm-up.
        compare_gets(&memory, &monitored, &keys, mem_ops / 10, 1).await;
        let (plain, with) = compare_gets(&memory, &monitored, &keys, mem_ops, rounds).await;
        report("MemoryCache get hit", plain, with, 25.0);
        if std::env::var_os("MONITOR_BENCH_PARTS").is_some() {
            let m = layer.monitor();
            let n = 2_000_000;
            let t = Instant::now();
            for i in 0..n {
                m.record_read(stratacache_monitor::Operation::Get, std::time::Duration::from_nanos(300 + i % 7), 1, 0);
            }
            println!("record_read alone: {:.1} ns", t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            for _ in 0..n {
                black_box(Instant::now());
            }
            println!("std Instant::now: {:.1} ns", t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            for _ in 0..n {
                black_box(quanta::Instant::now());
            }
            println!("quanta Instant::now: {:.1} ns", t.elapsed().as_nanos() as f64 / n as f64);
        }

        let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
            println!("Redis GET: skipped (no redis-server)");
            return;
        };
        let mut config = RedisConfig::new(server.url().to_owned());
        config.namespace = "bench".into();
        let redis = RedisCache::connect(config).await.unwrap();
        for k in &keys {
            redis.set(k, value.clone(), Ttl::Never).await.unwrap();
        }
        let monitored = redis.clone().layer(layer.clone());
        compare_gets(&redis, &monitored, &keys, redis_ops / 10, 1).await;
        let (plain, with) = compare_gets(&redis, &monitored, &keys, redis_ops, rounds).await;
        report("RedisCache GET", plain, with, 5.0);
        let s = layer.monitor().snapshot(None);
        println!("monitor saw {} operations, hit ratio {:?}", s.since_start.operations, s.since_start.hit_ratio);
    });
}
