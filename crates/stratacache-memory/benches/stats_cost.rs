//! The latency of `MemoryCache::stats()` (what every admin request pays) on an empty cache and on
//! one holding 1 000 000 entries (`memory_cache_size` 1 000 000), in the same run, printing p50 and
//! p99 of each. Target: p99 <= 1 ms at 1 000 000 entries.
//!
//! Two more rows for context: `stats()` at 1 000 000 entries while another task keeps overwriting
//! entries (so moka always has maintenance pending), and the baseline, the walk the previous
//! `stats()` did (maintenance, then every entry visited to count the live ones and their bytes),
//! reproduced over a raw moka cache holding the same 200 000 entries.
//!
//! Run with `cargo bench -p stratacache-memory --bench stats_cost`. Without `--bench` (as under
//! `cargo test --all-targets`) it does a short smoke run; with `--list` (nextest) it lists nothing.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use moka::future::Cache as Moka;
use stratacache_memory::MemoryCache;
use stratacache_memory::stratacache_core::{Bytes, Cache, Ttl};
use stratacache_testkit::bench::percentile;

const CAPACITY: u64 = 1_000_000;
const VALUE_LEN: usize = 100;

fn key(i: u64) -> String {
    format!("bench:key:{i}")
}

async fn filled(entries: u64) -> MemoryCache {
    let cache = MemoryCache::new(CAPACITY).unwrap();
    let value = Bytes::from(vec![0xAB; VALUE_LEN]);
    for i in 0..entries {
        cache.set(&key(i), value.clone(), Ttl::Never).await.unwrap();
    }
    let stats = cache.stats().await;
    assert_eq!(stats.entries, Some(entries), "the cache kept every entry");
    cache
}

/// Microseconds per call of `f`, one sample per call, after `samples / 10` warm-up calls.
async fn sample_us<F: AsyncFnMut()>(samples: usize, mut f: F) -> Vec<f64> {
    for _ in 0..samples / 10 {
        f().await;
    }
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        f().await;
        out.push(start.elapsed().as_secs_f64() * 1e6);
    }
    out
}

fn row(name: &str, us: &[f64]) -> f64 {
    let (p50, p99) = (percentile(us, 50.0), percentile(us, 99.0));
    println!("{name:<44} {:>8} {p50:>10.1} {p99:>10.1}", us.len());
    p99
}

/// The previous `stats()`: run maintenance, then visit every entry, counting the live ones and
/// the bytes of their keys and values.
async fn old_walk(moka: &Moka<String, (Bytes, Option<Instant>)>) -> (u64, u64) {
    moka.run_pending_tasks().await;
    let now = Instant::now();
    let (mut entries, mut bytes) = (0u64, 0u64);
    for (k, (v, expires_at)) in moka.iter() {
        if expires_at.is_none_or(|at| at > now) {
            entries += 1;
            bytes += (k.len() + v.len()) as u64;
        }
    }
    (entries, bytes)
}

fn main() {
    let Some(full) = stratacache_testkit::bench::full_run("stats_cost") else {
        return;
    };
    // A smoke run keeps the shape at a hundredth of the size.
    let (big, walked, samples, walks) = if full {
        (1_000_000, 200_000, 20_000, 30)
    } else {
        (10_000, 2_000, 200, 3)
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let empty = MemoryCache::new(CAPACITY).unwrap();
        let loaded = filled(big).await;
        println!("MemoryCache::stats() latency, memory_cache_size {CAPACITY}, {VALUE_LEN}-byte values");
        println!(
            "{:<44} {:>8} {:>10} {:>10}",
            "scenario", "calls", "p50 µs", "p99 µs"
        );

        let stats_of = |cache: MemoryCache| {
            async move || {
                black_box(cache.stats().await);
            }
        };
        row(
            "stats(), empty cache",
            &sample_us(samples, stats_of(empty.clone())).await,
        );
        let p99_big = row(
            &format!("stats(), {big} entries"),
            &sample_us(samples, stats_of(loaded.clone())).await,
        );

        // One task overwrites entries as fast as it can while stats() is sampled.
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn({
            let (cache, stop) = (loaded.clone(), Arc::clone(&stop));
            async move {
                let value = Bytes::from(vec![0xCD; VALUE_LEN]);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    cache.set(&key(i % big), value.clone(), Ttl::Never).await.unwrap();
                    i += 1;
                    if i.is_multiple_of(256) {
                        tokio::task::yield_now().await;
                    }
                }
                i
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let busy = sample_us(samples, stats_of(loaded.clone())).await;
        stop.store(true, Ordering::Relaxed);
        let overwrites = writer.await.unwrap();
        row(&format!("stats(), {big} entries, 1 writer task"), &busy);
        assert_eq!(
            loaded.stats().await.entries,
            Some(big),
            "overwrites keep the count"
        );

        drop(loaded);
        let moka: Moka<String, (Bytes, Option<Instant>)> = Moka::builder().max_capacity(CAPACITY).build();
        let value = Bytes::from(vec![0xAB; VALUE_LEN]);
        for i in 0..walked {
            moka.insert(key(i), (value.clone(), None)).await;
        }
        let mut seen = (0, 0);
        let walk = sample_us(walks, async || seen = black_box(old_walk(&moka).await)).await;
        assert_eq!(seen.0, walked, "the walk saw every entry");
        row(&format!("baseline: previous walk, {walked} entries"), &walk);

        println!("(the writer task made {overwrites} overwrites during its row)");
        let verdict = if p99_big <= 1000.0 { "met" } else { "NOT met" };
        println!("target p99 <= 1000 µs at {big} entries: {verdict} ({p99_big:.1} µs)");
    });
}
