//! What fleet invalidation costs and how fast it is, in one run, against a local `redis-server`:
//!
//! - **propagation**: instance A (this process) overwrites a key that instance B (a second
//!   process, this binary started again) holds in its memory tier; B reads it every 50 µs with
//!   `get` and records how long after A's write it first sees the new value (wall clock of one
//!   machine; A puts its write time in the value). p50 / p99 / max over the samples, and, as the
//!   floor, a plain `GET` round trip to the same server measured in the same run;
//! - **write throughput** of `set` with fleet invalidation on (announced in batches by the
//!   cache's announcing task; no subscriber, then one in this process) and off, at 1 and 50
//!   concurrent tasks, alternating rounds (ABBA), median; with the CPU time per write of this
//!   process and of redis-server over the same rounds (from `/proc`), which a shared machine
//!   disturbs less than the rate;
//! - **L1 hit cost**: a `get` hit on a tiered cache built with fleet invalidation on (subscribed)
//!   and off.
//!
//! Run with `cargo xtask bench fleet` (or `cargo bench -p stratacache-factory --bench fleet`).
//! Without `--bench` it does a short smoke run; without `redis-server` it says so and stops.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stratacache_core::{Bytes, Cache, Ttl};
use stratacache_factory::{BuiltCache, CacheConfig, CacheFactory, Environment};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::bench::{compare_gets, median, percentile};
use stratacache_testkit::redis::{RedisMode, RedisServer};

const ROLE: &str = "STRATACACHE_FLEET_BENCH_LISTENER";
const KEY: &str = "propagation";

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// A tiered cache (the `simple` preset) on `url` in `namespace`, subscribed when `fleet`.
async fn tiered(url: &str, namespace: &str, fleet: bool) -> BuiltCache {
    let mut config = CacheConfig::web_app();
    config.environment = Environment::Testing;
    config.redis_url = Some(url.into());
    config.namespace = namespace.to_owned();
    config.fleet_invalidation = fleet;
    let built = CacheFactory::from_config(config).await.unwrap();
    if fleet {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !built.fleet_status().unwrap().connected || built.fleet_status().unwrap().l1_ttl_cap.is_some() {
            assert!(Instant::now() < deadline, "never subscribed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    built
}

/// Between two reads of B: 50 µs, blocking B's reading thread (B's other runtime thread runs its
/// subscription). A spinning reader would take a whole core of a small machine from A and Redis,
/// and measure the machine's scheduling rather than the propagation.
fn poll_pause() {
    std::thread::sleep(Duration::from_micros(50));
}

/// Instance B: reads `KEY` in a loop, and for each new value (A's write time, in ns) prints how
/// long after it the value was first read, in µs; stops at the value `0`.
async fn listen(url: &str, namespace: &str) {
    let b = tiered(url, namespace, true).await;
    println!("ready");
    let mut last = Bytes::new();
    loop {
        let Some(value) = b.cache.get(KEY).await.unwrap() else {
            poll_pause();
            continue;
        };
        if value != last {
            let seen = now_ns();
            let sent: u128 = std::str::from_utf8(&value).unwrap().parse().unwrap();
            if sent == 0 {
                return;
            }
            last = value;
            if sent == 1 {
                // The value A wrote before B started: not a sample.
                continue;
            }
            println!("{:.1}", (seen.saturating_sub(sent)) as f64 / 1000.0);
        }
        poll_pause();
    }
}

async fn propagation(server: &RedisServer, samples: usize) {
    use std::io::{BufRead, BufReader};
    let namespace = "bench-propagation";
    let a = tiered(server.url(), namespace, true).await;
    a.cache.set(KEY, Bytes::from("1"), Ttl::Never).await.unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(ROLE, format!("{} {namespace}", server.url()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // B reads "1" into its memory tier, then each write replaces a value it holds.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..samples {
        a.cache
            .set(KEY, Bytes::from(now_ns().to_string()), Ttl::Never)
            .await
            .unwrap();
        // Far apart: a write overwritten before B saw it would drop a slow sample.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.cache.set(KEY, Bytes::from("0"), Ttl::Never).await.unwrap();
    let micros: Vec<f64> = lines
        .map_while(Result::ok)
        .filter_map(|l| l.parse().ok())
        .collect();
    assert!(child.wait().unwrap().success());
    // The floor: one GET round trip to the same server.
    let redis = a.redis.clone().unwrap();
    let mut round_trips = Vec::new();
    for _ in 0..samples {
        let start = Instant::now();
        redis.get(KEY).await.unwrap();
        round_trips.push(start.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "propagation A write -> B get sees it (2 processes, loopback, B reads every 50 µs, {} of {samples} writes seen):",
        micros.len()
    );
    println!(
        "  fleet invalidation     p50 {:>8.1} µs  p99 {:>8.1} µs  max {:>8.1} µs  (target p99 <= 5000 µs)",
        percentile(&micros, 50.0),
        percentile(&micros, 99.0),
        percentile(&micros, 100.0)
    );
    println!(
        "  baseline: GET round trip p50 {:>8.1} µs  p99 {:>8.1} µs",
        percentile(&round_trips, 50.0),
        percentile(&round_trips, 99.0)
    );
}

/// The CPU time (user and system) process `pid` has used so far, from `/proc` (Linux; `None`
/// elsewhere). `/proc` counts in ticks of 1/100 s.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces, in parentheses): state is the
    // first, utime the 12th and stime the 13th.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// What one round of writes measured.
#[derive(Default, Clone, Copy)]
struct Round {
    writes: f64,
    seconds: f64,
    /// CPU seconds of this process (writers, and the subscriber when it listens here).
    client_cpu: f64,
    /// CPU seconds of redis-server.
    server_cpu: f64,
}

/// `tasks` tasks writing to `cache` for `length`.
async fn write_round(cache: &RedisCache, server_pid: &str, tasks: usize, length: Duration) -> Round {
    let value = Bytes::from(vec![b'x'; 100]);
    let cpu = || {
        (
            cpu_seconds("self").unwrap_or(0.0),
            cpu_seconds(server_pid).unwrap_or(0.0),
        )
    };
    let (client_before, server_before) = cpu();
    let started = Instant::now();
    let deadline = started + length;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (cache, value) = (cache.clone(), value.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                cache
                    .set(&format!("w{t}:{}", n % 1000), value.clone(), Ttl::secs(60))
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let (client_after, server_after) = cpu();
    Round {
        writes: total as f64,
        seconds,
        client_cpu: client_after - client_before,
        server_cpu: server_after - server_before,
    }
}

/// Median writes per second, and CPU microseconds per write over all rounds (client, server).
fn summary(rounds: &[Round]) -> (f64, f64, f64) {
    let per_second = median(rounds.iter().map(|r| r.writes / r.seconds).collect());
    let writes: f64 = rounds.iter().map(|r| r.writes).sum();
    let client: f64 = rounds.iter().map(|r| r.client_cpu).sum();
    let server: f64 = rounds.iter().map(|r| r.server_cpu).sum();
    (per_second, client / writes * 1e6, server / writes * 1e6)
}

async fn throughput(server: &RedisServer, rounds: usize, length: Duration) {
    let connect = async |publish: bool| {
        let mut config = RedisConfig::new(server.url().to_owned());
        config.namespace = "bench-writes".into();
        config.publish_invalidations = publish;
        RedisCache::connect(config).await.unwrap()
    };
    let server_pid = server.pid().map_or_else(|| "none".to_owned(), |p| p.to_string());
    let (on, off) = (connect(true).await, connect(false).await);
    // One listener, as another instance would be.
    let listener = connect(false).await;
    println!(
        "set throughput, 100-byte values, {rounds} rounds of {length:?} on and off, alternating (ABBA), median;"
    );
    println!(
        "  CPU per write (this process + redis-server, from /proc) over every round: the cost, steadier than the rate on a shared machine"
    );
    let mut listening = None;
    for listeners in ["no subscriber", "1 subscriber (this process)"] {
        if listening.is_none() && listeners != "no subscriber" {
            let (subscription, mut actions) = listener.subscribe_invalidations(1 << 16);
            tokio::spawn(async move { while actions.recv().await.is_some() {} });
            listening = Some(subscription);
        }
        for tasks in [1, 50] {
            let (mut with, mut without) = (Vec::new(), Vec::new());
            // In turn first (ABBA), so that neither side gains from its place.
            for round in 0..rounds {
                if round % 2 == 0 {
                    without.push(write_round(&off, &server_pid, tasks, length).await);
                    with.push(write_round(&on, &server_pid, tasks, length).await);
                } else {
                    with.push(write_round(&on, &server_pid, tasks, length).await);
                    without.push(write_round(&off, &server_pid, tasks, length).await);
                }
            }
            let (with, with_client, with_server) = summary(&with);
            let (without, without_client, without_server) = summary(&without);
            println!(
                "  {tasks:>2} task(s), {listeners:<27}: fleet on {with:>8.0}/s  baseline off {without:>8.0}/s  ({:.1} %, target >= 90 %)",
                with / without * 100.0
            );
            println!(
                "  {:<37}  CPU/write on {:>5.2} µs + {:>5.2} µs  off {:>5.2} µs + {:>5.2} µs  (on costs {:.1} % of off)",
                "",
                with_client,
                with_server,
                without_client,
                without_server,
                (with_client + with_server) / (without_client + without_server) * 100.0
            );
        }
    }
    if listening.is_some() {
        println!(
            "  (1 task: a lone writer waits on each round trip; with fleet on, the announcing task keeps a runtime thread awake, which shortens the wake-ups)"
        );
    }
}

async fn l1_hits(server: &RedisServer, ops: usize, rounds: usize) {
    let keys: Vec<String> = (0..100).map(|i| format!("hit{i}")).collect();
    let on = tiered(server.url(), "bench-hits-on", true).await;
    let off = tiered(server.url(), "bench-hits-off", false).await;
    for built in [&on, &off] {
        for k in &keys {
            built
                .cache
                .set(k, Bytes::from(vec![b'x'; 100]), Ttl::Never)
                .await
                .unwrap();
        }
    }
    compare_gets(&*off.cache, &*on.cache, &keys, ops / 10, 1).await;
    let (off_ns, on_ns) = compare_gets(&*off.cache, &*on.cache, &keys, ops, rounds).await;
    println!(
        "L1 get hit, tiered cache, median of {rounds} rounds: fleet on {on_ns:.0} ns  baseline off {off_ns:.0} ns  ({:+.1} %)",
        (on_ns / off_ns - 1.0) * 100.0
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(role) = std::env::var(ROLE) {
        let (url, namespace) = role.split_once(' ').unwrap();
        rt.block_on(listen(url, namespace));
        return;
    }
    let Some(full) = stratacache_testkit::bench::full_run("fleet") else {
        return;
    };
    let Ok(server) = RedisServer::builder(RedisMode::Plain).local().try_start() else {
        println!("fleet: skipped (no redis-server)");
        return;
    };
    let (samples, rounds, length, ops) = if full {
        (1_000, 15, Duration::from_secs(1), 200_000)
    } else {
        (20, 1, Duration::from_millis(100), 1_000)
    };
    rt.block_on(async {
        propagation(&server, samples).await;
        throughput(&server, rounds, length).await;
        l1_hits(&server, ops, rounds).await;
    });
}
