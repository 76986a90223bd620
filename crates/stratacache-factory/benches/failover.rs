//! What graceful degradation costs, in one run:
//!
//! - how long `RedisCache::connect` takes to fail against a closed loopback port (a port bound,
//!   then released): the delay an application starting without Redis pays before it can fall
//!   back, with the default `RedisConfig` and with no retries;
//! - a `get` hit through a `FailoverCache` whose circuit is open (served by its memory fallback)
//!   against the same `get` on a plain `MemoryCache`;
//! - for reference, a `get` hit through a closed `FailoverCache` over a `MemoryCache` primary, and
//!   over a local `redis-server` against a plain `RedisCache` (skipped without `redis-server`).
//!
//! 1 task, 1 000 keys, 100-byte values, alternating rounds, median of the rounds.
//!
//! Run with `cargo bench -p stratacache-factory --bench failover`. Without `--bench` it does a
//! short smoke run; with `--list` (nextest) it lists nothing.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, Error, ErrorKind, SharedCache, Ttl};
use stratacache_factory::failover::{FailoverCache, FailoverConfig, FailoverState};
use stratacache_memory::MemoryCache;
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::bench::{closed_port, compare_gets, median};
use stratacache_testkit::redis::{RedisMode, RedisServer};

const KEYS: usize = 1_000;

fn report(name: &str, (plain, failover): (f64, f64)) {
    println!(
        "{name:<44} plain {plain:>9.0} ns  failover {failover:>9.0} ns  ({:+.0} ns, {:+.1} %)",
        failover - plain,
        (failover / plain - 1.0) * 100.0
    );
}

/// Times `attempts` failed connections with `config_for(url)`; prints the median, min and max.
async fn connect_failures(name: &str, attempts: usize, config_for: impl Fn(String) -> RedisConfig) {
    let mut times = Vec::with_capacity(attempts);
    for _ in 0..attempts {
        let config = config_for(format!("redis://127.0.0.1:{}", closed_port()));
        let start = Instant::now();
        let err = RedisCache::connect(config).await.unwrap_err();
        times.push(start.elapsed().as_secs_f64() * 1e6);
        assert!(err.is_temporary(), "{err}");
    }
    let (min, max) = times
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
    println!(
        "{name:<44} median {:>9.1} µs  min {min:>9.1} µs  max {max:>9.1} µs  ({attempts} attempts)",
        median(times)
    );
}

async fn filled_memory(keys: &[String], value: &Bytes) -> Arc<MemoryCache> {
    let cache = Arc::new(MemoryCache::new(10_000).unwrap());
    for k in keys {
        cache.set(k, value.clone(), Ttl::Never).await.unwrap();
    }
    cache
}

fn main() {
    let Some(full) = stratacache_testkit::bench::full_run("failover") else {
        return;
    };
    let (mem_ops, redis_ops, rounds, attempts) = if full {
        (1_000_000, 20_000, 9, 25)
    } else {
        (1_000, 100, 1, 2)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    let value = Bytes::from(vec![b'x'; 100]);

    rt.block_on(async {
        println!("RedisCache::connect against a closed loopback port:");
        connect_failures("  default RedisConfig", attempts, RedisConfig::new).await;
        connect_failures("  max_retries 0", attempts, |url| {
            let mut config = RedisConfig::new(url);
            config.retry.max_retries = 0;
            config
        })
        .await;

        println!("get hit, 1 task, {KEYS} keys, 100-byte values, median of {rounds} alternating rounds:");
        let plain = filled_memory(&keys, &value).await;
        // Open for the whole run: the connector always fails (without touching the network),
        // and the probe interval is the longest accepted.
        let config = FailoverConfig::default().with_probe_interval(Duration::from_secs(60));
        let never =
            || async { Err::<SharedCache, _>(Error::new(ErrorKind::Connection, "no primary (bench)")) };
        let open = FailoverCache::disconnected(never, filled_memory(&keys, &value).await, config).unwrap();
        assert_eq!(open.state(), FailoverState::Fallback);
        compare_gets(&*plain, &open, &keys, mem_ops / 10, 1).await;
        report(
            "  open FailoverCache vs MemoryCache",
            compare_gets(&*plain, &open, &keys, mem_ops, rounds).await,
        );
        let closed = FailoverCache::new(
            filled_memory(&keys, &value).await,
            Arc::new(MemoryCache::new(10_000).unwrap()),
            FailoverConfig::default(),
        )
        .unwrap();
        compare_gets(&*plain, &closed, &keys, mem_ops / 10, 1).await;
        report(
            "  closed FailoverCache over MemoryCache",
            compare_gets(&*plain, &closed, &keys, mem_ops, rounds).await,
        );
        assert_eq!(closed.counters().fallback_operations, 0);

        let Ok(server) = RedisServer::builder(RedisMode::Plain).local().try_start() else {
            println!("  closed FailoverCache over Redis: skipped (no redis-server)");
            return;
        };
        let mut config = RedisConfig::new(server.url().to_owned());
        config.namespace = "bench".into();
        let redis = RedisCache::connect(config).await.unwrap();
        for k in &keys {
            redis.set(k, value.clone(), Ttl::Never).await.unwrap();
        }
        let closed = FailoverCache::new(
            Arc::new(redis.clone()),
            Arc::new(MemoryCache::new(10_000).unwrap()),
            FailoverConfig::default(),
        )
        .unwrap();
        compare_gets(&redis, &closed, &keys, redis_ops / 10, 1).await;
        report(
            "  closed FailoverCache over RedisCache",
            compare_gets(&redis, &closed, &keys, redis_ops, rounds).await,
        );
        assert_eq!(closed.counters().fallback_operations, 0);
    });
}
