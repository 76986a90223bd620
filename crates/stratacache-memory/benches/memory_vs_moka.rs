//! `MemoryCache` against raw `moka::future::Cache` in the same run: get hits and sets, on one task
//! and on two tasks, printing ops/s for each and the cost ratio (MemoryCache time per op divided by
//! moka's). Target: a get hit costs at most 1.5× a raw moka get.
//!
//! Run with `cargo xtask bench memory` (or `cargo bench -p stratacache-memory`). Without `--bench`
//! (as under `cargo test --all-targets`) it does a short smoke run; with `--list` (nextest) it
//! lists nothing.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache as Moka;
use moka::policy::EvictionPolicy;
use stratacache_memory::MemoryCache;
use stratacache_memory::stratacache_core::{Bytes, Cache, Ttl};
use stratacache_testkit::bench::median;

const KEYS: usize = 10_000;
const VALUE_LEN: usize = 100;

/// The two caches under test, filled with the same keys and values.
struct Subjects {
    keys: Arc<Vec<String>>,
    value: Bytes,
    moka: Moka<String, Bytes>,
    ours: MemoryCache,
}

async fn subjects() -> Subjects {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("bench:key:{i}")).collect();
    let value = Bytes::from(vec![0xAB; VALUE_LEN]);
    let capacity = (KEYS * 2) as u64;
    let moka = Moka::builder()
        .max_capacity(capacity)
        .eviction_policy(EvictionPolicy::lru())
        .build();
    let ours = MemoryCache::new(capacity).unwrap();
    for k in &keys {
        moka.insert(k.clone(), value.clone()).await;
        ours.set(k, value.clone(), Ttl::Never).await.unwrap();
    }
    Subjects {
        keys: Arc::new(keys),
        value,
        moka,
        ours,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Get,
    Set,
}

/// Runs `ops` operations split over `tasks` tasks and returns the elapsed wall time.
async fn run(s: &Subjects, raw: bool, op: Op, tasks: usize, ops: usize) -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let keys = Arc::clone(&s.keys);
        let (moka, ours, value) = (s.moka.clone(), s.ours.clone(), s.value.clone());
        handles.push(tokio::spawn(async move {
            let per_task = ops / tasks;
            for i in 0..per_task {
                let key = &keys[(i * 7 + t * 4099) % KEYS];
                match (raw, op) {
                    (true, Op::Get) => {
                        black_box(moka.get(key.as_str()).await.unwrap());
                    }
                    (false, Op::Get) => {
                        black_box(ours.get(key).await.unwrap().unwrap());
                    }
                    (true, Op::Set) => moka.insert(key.clone(), value.clone()).await,
                    (false, Op::Set) => ours.set(key, value.clone(), Ttl::Never).await.unwrap(),
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    start.elapsed()
}

fn main() {
    let Some(full) = stratacache_testkit::bench::full_run("memory_vs_moka") else {
        return;
    };
    let (ops, rounds) = if full { (1_000_000, 7) } else { (2_000, 1) };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = subjects().await;
        println!("MemoryCache vs raw moka::future::Cache: {KEYS} keys, {VALUE_LEN}-byte values, {ops} ops per round, median of {rounds} rounds");
        println!("{:<16} {:>16} {:>18} {:>10}", "scenario", "moka ops/s", "MemoryCache ops/s", "ratio");
        for (name, op, tasks) in
            [("get hit, 1 task", Op::Get, 1), ("get hit, 2 tasks", Op::Get, 2), ("set, 1 task", Op::Set, 1), ("set, 2 tasks", Op::Set, 2)]
        {
            // Warm up both, then alternate rounds so machine noise hits both sides alike.
            run(&s, true, op, tasks, ops / 10).await;
            run(&s, false, op, tasks, ops / 10).await;
            let (mut raw, mut ours) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                raw.push(ops as f64 / run(&s, true, op, tasks, ops).await.as_secs_f64());
                ours.push(ops as f64 / run(&s, false, op, tasks, ops).await.as_secs_f64());
            }
            let (raw, ours) = (median(raw), median(ours));
            println!("{name:<16} {raw:>16.0} {ours:>18.0} {:>9.2}x", raw / ours);
        }
        println!("ratio = MemoryCache time per op / moka time per op (target for get hits: <= 1.50x)");
    });
}
