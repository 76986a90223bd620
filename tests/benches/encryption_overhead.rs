//! The cost of the encryption layer on a Redis GET and SET: `RedisCache` alone against
//! `EncryptionLayer` over the same `RedisCache`, 1 KiB values, 1 task, one local redis-server,
//! rounds alternating between the two stacks. Target: at most 10 % added to a GET.
//!
//! Run with `cargo xtask bench encryption_overhead`. Without `--bench` it does a short smoke run;
//! with `--list` (nextest) it lists nothing.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use stratacache_core::{Bytes, Cache, LayerExt, Ttl};
use stratacache_crypto::{EncryptionKey, EncryptionLayer, KeyRing};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::bench::median;
use stratacache_testkit::redis::{RedisMode, RedisServer};

const KEYS: usize = 500;
const VALUE_LEN: usize = 1024;

async fn ops_per_sec(cache: &dyn Cache, get: bool, ops: usize, value: &Bytes) -> f64 {
    let start = Instant::now();
    for i in 0..ops {
        let key = format!("k{}", i % KEYS);
        if get {
            black_box(cache.get(&key).await.unwrap().unwrap());
        } else {
            cache.set(&key, value.clone(), Ttl::Never).await.unwrap();
        }
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let Some(full) = stratacache_testkit::bench::full_run("encryption_overhead") else {
        return;
    };
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let (ops, rounds) = if full { (10_000, 5) } else { (100, 1) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut config = RedisConfig::new(server.url());
        config.namespace = "bench-plain".into();
        let plain = RedisCache::connect(config.clone()).await.unwrap();
        config.namespace = "bench-sealed".into();
        let sealed = RedisCache::connect(config).await.unwrap().layer(EncryptionLayer::new(KeyRing::new(EncryptionKey::generate())));
        let value = Bytes::from(vec![b'v'; VALUE_LEN]);
        for i in 0..KEYS {
            plain.set(&format!("k{i}"), value.clone(), Ttl::Never).await.unwrap();
            sealed.set(&format!("k{i}"), value.clone(), Ttl::Never).await.unwrap();
        }
        println!("EncryptionLayer over RedisCache vs RedisCache alone: 1 task, {VALUE_LEN}-byte values, {ops} ops per round, median of {rounds} alternating rounds");
        println!("{:<6} {:>16} {:>16} {:>10}", "op", "plain ops/s", "encrypted ops/s", "added");
        for (name, get) in [("GET", true), ("SET", false)] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                a.push(ops_per_sec(&plain, get, ops, &value).await);
                b.push(ops_per_sec(&sealed, get, ops, &value).await);
            }
            let (a, b) = (median(a), median(b));
            println!("{name:<6} {a:>16.0} {b:>16.0} {:>9.1}%", (a / b - 1.0) * 100.0);
        }
        println!("target: at most 10 % added to a GET at 1 KiB");
    });
}
