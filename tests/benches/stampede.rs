//! A stampede on one key, against a local `redis-server`: 500 callers miss the same key at the
//! same moment and each needs its value, which takes 50 ms to compute.
//!
//! - **one process**: 500 callers in this process;
//! - **two processes**: 250 callers here and 250 in a second process (this binary started again),
//!   released at the same wall-clock instant (told to the second process ahead of time; the
//!   skew between the two releases is printed);
//!
//! each with `ComputeCache::fetch` (single-flight in the process and the key's lease across
//! processes; default settings, then `poll_interval` 1 ms) and, as the baseline in the same run,
//! plain cache-aside on the same `RedisCache` (`get`; on a miss compute, then `set`). Five
//! rounds; the key is deleted before each, as if it had expired. Printed: the computations of
//! each round, and p50/p99 of the callers' latencies (from the round's start in the caller's
//! process to its value) over all rounds, of all callers, of those that computed and of the
//! waiters (the others), against the target: 1 computation per expiry, waiters' p99 at most the
//! computation's 50 ms + 5 ms. First, the floor: one caller alone, get + compute + set.
//!
//! XFetch against plain expiry on a hot key under steady load has its own section
//! (`stampede/xfetch.rs`): computations per TTL period, the calls that waited, and latencies.
//!
//! Run with `cargo xtask bench stampede` (or `cargo bench -p stratacache-e2e --bench
//! stampede`). Without `--bench` it does a short smoke run (20 callers, 1 round); without
//! `redis-server` it says so and stops.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stratacache_compute::{ComputeCache, ComputeConfig, Source};
use stratacache_core::{Bytes, Cache, Ttl};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::bench::percentile;
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

#[path = "stampede/xfetch.rs"]
mod xfetch;

/// Set in the second process: `<redis url> <namespace>`.
const ROLE: &str = "STRATACACHE_STAMPEDE_BENCH_PEER";
const KEY: &str = "hot";
const COMPUTE: Duration = Duration::from_millis(50);
/// How much later than the computation a waiter may get its value (the target).
const WAITER_SLACK: Duration = Duration::from_millis(5);
/// Between telling both processes when to start and the start: time for the message to arrive
/// and for every caller task to be spawned.
const START_DELAY: Duration = Duration::from_millis(100);

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

/// How callers get the value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Protection {
    /// `ComputeCache::fetch`, default settings.
    Compute,
    /// `ComputeCache::fetch` with `poll_interval` 1 ms (default 5 ms): what a process waiting
    /// for another's lease gains by looking for the value more often.
    ComputeFastPoll,
    /// Cache-aside: `get`, and on a miss compute and `set`.
    Plain,
}

impl Protection {
    const ALL: [Self; 3] = [Self::Plain, Self::Compute, Self::ComputeFastPoll];

    fn name(self) -> &'static str {
        match self {
            Self::Compute => "compute",
            Self::ComputeFastPoll => "compute-poll-1ms",
            Self::Plain => "plain",
        }
    }

    fn parse(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .unwrap_or_else(|| panic!("unknown protection {name:?}"))
    }

    fn label(self) -> &'static str {
        match self {
            Self::Compute => "ComputeCache (default)",
            Self::ComputeFastPoll => "ComputeCache, poll 1 ms",
            Self::Plain => "baseline: plain cache-aside",
        }
    }
}

/// One process's caches on the shared Redis namespace: its own connections for each side.
struct Caches {
    protected: ComputeCache<RedisCache>,
    fast_poll: ComputeCache<RedisCache>,
    plain: RedisCache,
}

impl Caches {
    async fn connect(url: &str, namespace: &str) -> Arc<Self> {
        let connect = async || {
            let mut config = RedisConfig::new(url);
            config.namespace = namespace.to_owned();
            RedisCache::connect(config).await.unwrap()
        };
        let protected = ComputeCache::with_config(connect().await, ComputeConfig::default()).unwrap();
        let fast = ComputeConfig {
            poll_interval: Duration::from_millis(1),
            ..ComputeConfig::default()
        };
        let caches = Arc::new(Self {
            protected,
            fast_poll: ComputeCache::with_config(connect().await, fast).unwrap(),
            plain: connect().await,
        });
        // Every pooled connection open before the first round.
        let warm: Vec<_> = (0..16)
            .map(|_| {
                let caches = Arc::clone(&caches);
                tokio::spawn(async move {
                    caches.protected.get("warm-up").await.unwrap();
                    caches.fast_poll.get("warm-up").await.unwrap();
                    caches.plain.get("warm-up").await.unwrap();
                })
            })
            .collect();
        for task in warm {
            task.await.unwrap();
        }
        caches
    }
}

/// What one process's callers saw in one round.
#[derive(Default)]
struct Round {
    /// Computations run in this process.
    computations: usize,
    /// Each caller's latency in ms, and whether it computed the value itself.
    latencies: Vec<(f64, bool)>,
    /// When the callers were released (wall clock, ns).
    released_ns: u128,
}

impl Round {
    /// As the second process reports it: `<computations> <released ns> <µs><c|w>,...`.
    fn encode(&self) -> String {
        let latencies: Vec<String> = self
            .latencies
            .iter()
            .map(|(ms, computed)| format!("{:.0}{}", ms * 1000.0, if *computed { 'c' } else { 'w' }))
            .collect();
        format!(
            "{} {} {}",
            self.computations,
            self.released_ns,
            latencies.join(",")
        )
    }

    fn decode(line: &str) -> Self {
        let mut words = line.split(' ');
        let computations = words.next().unwrap().parse().unwrap();
        let released_ns = words.next().unwrap().parse().unwrap();
        let latencies = words
            .next()
            .unwrap()
            .split(',')
            .map(|entry| {
                let (micros, kind) = entry.split_at(entry.len() - 1);
                (micros.parse::<f64>().unwrap() / 1000.0, kind == "c")
            })
            .collect();
        Self {
            computations,
            latencies,
            released_ns,
        }
    }
}

/// `callers` callers of `protection` released together at `start_ns` (wall clock); each
/// latency runs from the release to the caller's value.
async fn stampede(caches: &Arc<Caches>, protection: Protection, callers: usize, start_ns: u128) -> Round {
    let runs = Arc::new(AtomicUsize::new(0));
    let (release, released) = tokio::sync::watch::channel(None::<Instant>);
    let mut tasks = Vec::with_capacity(callers);
    for _ in 0..callers {
        let (caches, runs, mut released) = (Arc::clone(caches), Arc::clone(&runs), released.clone());
        tasks.push(tokio::spawn(async move {
            let start = released.wait_for(Option::is_some).await.unwrap().unwrap();
            let compute = || async move {
                runs.fetch_add(1, SeqCst);
                tokio::time::sleep(COMPUTE).await;
                Ok(Bytes::from_static(b"the expensive answer"))
            };
            let computed = match protection {
                Protection::Compute | Protection::ComputeFastPoll => {
                    let cache = if protection == Protection::Compute {
                        &caches.protected
                    } else {
                        &caches.fast_poll
                    };
                    let fetched = cache.fetch(KEY, Ttl::secs(60), compute).await.unwrap();
                    assert_eq!(fetched.value, "the expensive answer");
                    fetched.source == Source::Computed
                }
                Protection::Plain => match caches.plain.get(KEY).await.unwrap() {
                    Some(value) => {
                        assert_eq!(value, "the expensive answer");
                        false
                    }
                    None => {
                        let value = compute().await.unwrap();
                        caches.plain.set(KEY, value, Ttl::secs(60)).await.unwrap();
                        true
                    }
                },
            };
            (start.elapsed().as_secs_f64() * 1000.0, computed)
        }));
    }
    let wait = u64::try_from(start_ns.saturating_sub(now_ns())).unwrap();
    tokio::time::sleep(Duration::from_nanos(wait)).await;
    let released_ns = now_ns();
    release.send(Some(Instant::now())).unwrap();
    let mut latencies = Vec::with_capacity(callers);
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    Round {
        computations: runs.load(SeqCst),
        latencies,
        released_ns,
    }
}

/// The second process: told `<protection> <callers> <start ns>` on stdin, it runs its callers
/// and answers with the [encoded](Round::encode) round; stops when its stdin closes.
fn peer(runtime: &tokio::runtime::Runtime, url: &str, namespace: &str) {
    let caches = runtime.block_on(Caches::connect(url, namespace));
    println!("ready");
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split(' ').collect();
        let [protection, callers, start_ns] = words[..] else {
            panic!("unexpected command {line:?}");
        };
        let round = runtime.block_on(stampede(
            &caches,
            Protection::parse(protection),
            callers.parse().unwrap(),
            start_ns.parse().unwrap(),
        ));
        println!("{}", round.encode());
    }
}

/// The second process, seen from this one; killed and reaped when dropped.
struct Peer {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Peer {
    fn start(url: &str, namespace: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, format!("{url} {namespace}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut peer = Self { child, input, output };
        assert_eq!(peer.line(), "ready");
        peer
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        assert!(
            self.output.read_line(&mut line).unwrap() > 0,
            "the second process exited"
        );
        line.trim_end().to_owned()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every round of one scenario, from every process.
struct Scenario {
    /// Per round, the computations of all processes together.
    computations: Vec<usize>,
    /// Per round, every caller's latency (ms) and whether it computed.
    latencies: Vec<Vec<(f64, bool)>>,
    /// The largest difference between the processes' releases of a round, in ms.
    skew_ms: f64,
}

impl Scenario {
    /// The latencies of all rounds: of the callers that computed (`true`) or of the others.
    fn of(&self, computed: bool) -> Vec<f64> {
        self.latencies
            .iter()
            .flatten()
            .filter(|(_, c)| *c == computed)
            .map(|(ms, _)| *ms)
            .collect()
    }
}

/// `rounds` stampedes of `callers` callers in all, split between this process and `peer`
/// (when given); the key deleted before each.
fn scenario(
    runtime: &tokio::runtime::Runtime,
    caches: &Arc<Caches>,
    mut peer: Option<&mut Peer>,
    protection: Protection,
    callers: usize,
    rounds: usize,
) -> Scenario {
    let mut result = Scenario {
        computations: Vec::new(),
        latencies: Vec::new(),
        skew_ms: 0.0,
    };
    let here = if peer.is_some() { callers / 2 } else { callers };
    for _ in 0..rounds {
        runtime.block_on(caches.plain.delete(KEY)).unwrap();
        let start_ns = now_ns() + START_DELAY.as_nanos();
        if let Some(peer) = peer.as_deref_mut() {
            writeln!(peer.input, "{} {} {start_ns}", protection.name(), callers - here).unwrap();
        }
        let mine = runtime.block_on(stampede(caches, protection, here, start_ns));
        let mut total = mine.computations;
        let mut latencies = mine.latencies;
        if let Some(peer) = peer.as_deref_mut() {
            let theirs = Round::decode(&peer.line());
            total += theirs.computations;
            latencies.extend(&theirs.latencies);
            let skew = mine.released_ns.abs_diff(theirs.released_ns) as f64 / 1e6;
            result.skew_ms = result.skew_ms.max(skew);
        }
        result.computations.push(total);
        result.latencies.push(latencies);
    }
    result
}

/// `p50` and `p99` of `values` in ms, or dashes when there are none.
fn p50_p99(values: &[f64]) -> String {
    if values.is_empty() {
        return format!("{:>9} {:>9}", "-", "-");
    }
    format!(
        "{:>6.1} ms {:>6.1} ms",
        percentile(values, 50.0),
        percentile(values, 99.0)
    )
}

/// The scenario's lines of the table: computations per round, latency percentiles of all
/// callers, of those that computed and of the waiters; for a protected one, the target check.
fn report(s: &Scenario, protection: Protection) {
    let all: Vec<f64> = s.latencies.iter().flatten().map(|(ms, _)| *ms).collect();
    let (computing, waiters) = (s.of(true), s.of(false));
    println!(
        "  {:<28} {:<26} {} {} {}",
        protection.label(),
        format!("{:?}", s.computations),
        p50_p99(&all),
        p50_p99(&computing),
        p50_p99(&waiters),
    );
    if protection == Protection::Plain {
        return;
    }
    // Per round: the waiters' p99, and how much later than the computing caller they got the
    // value (what coalescing adds, without the cost of starting 500 callers).
    let (mut per_round, mut after, mut worst_after) = (Vec::new(), Vec::new(), f64::MIN);
    for round in &s.latencies {
        let waiters: Vec<f64> = round.iter().filter(|(_, c)| !c).map(|(ms, _)| *ms).collect();
        let p99 = percentile(&waiters, 99.0);
        per_round.push(format!("{p99:.1}"));
        if let [(leader, true)] = round.iter().filter(|(_, c)| *c).copied().collect::<Vec<_>>()[..] {
            after.push(format!("{:+.1}", p99 - leader));
            worst_after = worst_after.max(p99 - leader);
        }
    }
    let once = s.computations.iter().all(|&n| n == 1);
    let bound = (COMPUTE + WAITER_SLACK).as_secs_f64() * 1000.0;
    let p99 = percentile(&waiters, 99.0);
    println!(
        "  {:<28} waiters' p99 per round (ms): {}; after the computing caller: {}",
        "",
        per_round.join(", "),
        after.join(", ")
    );
    let slack = WAITER_SLACK.as_secs_f64() * 1000.0;
    println!(
        "  {:<28} target: 1 computation per expiry: {}; waiters' p99 {p99:.1} ms <= {bound:.0} ms: {} (the computing caller's own p99: {:.1} ms); waiters' p99 after the computing caller, worst round {worst_after:+.1} ms <= {slack:.0} ms: {}",
        "",
        if once { "met" } else { "NOT met" },
        if p99 <= bound { "met" } else { "NOT met" },
        percentile(&computing, 99.0),
        if worst_after <= slack { "met" } else { "NOT met" },
    );
}

/// The floor of a caller's latency: one caller alone, plain cache-aside (`get` misses, compute,
/// `set`), `samples` times in turn; its p50 and worst, in ms.
fn floor(runtime: &tokio::runtime::Runtime, caches: &Arc<Caches>, samples: usize) -> (f64, f64) {
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        runtime.block_on(caches.plain.delete(KEY)).unwrap();
        let start_ns = now_ns() + Duration::from_millis(5).as_nanos();
        let round = runtime.block_on(stampede(caches, Protection::Plain, 1, start_ns));
        latencies.push(round.latencies[0].0);
    }
    (percentile(&latencies, 50.0), percentile(&latencies, 100.0))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(role) = std::env::var(ROLE) {
        let (url, namespace) = role.split_once(' ').unwrap();
        peer(&runtime, url, namespace);
        return;
    }
    let Some(full) = stratacache_testkit::bench::full_run("stampede") else {
        return;
    };
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let (callers, rounds) = if full { (500, 5) } else { (20, 1) };
    let namespace = unique_namespace("stampede");
    let caches = runtime.block_on(Caches::connect(server.url(), &namespace));
    let mut peer = Peer::start(server.url(), &namespace);

    println!(
        "stampede: {callers} concurrent misses on one key, {} ms computation, {rounds} rounds (key deleted before each), one local redis-server",
        COMPUTE.as_millis()
    );
    println!(
        "  latency: from the round's start in the caller's process to its value, all rounds; computing: the callers that ran the computation; waiters: the others"
    );
    let (floor_p50, floor_max) = floor(&runtime, &caches, if full { 20 } else { 2 });
    println!(
        "  floor, one caller alone (plain: get misses, compute, set): p50 {floor_p50:.1} ms, max {floor_max:.1} ms"
    );
    println!(
        "  {:<28} {:<26} {:>19} {:>19} {:>19}",
        "", "", "all callers", "computing", "waiters"
    );
    println!(
        "  {:<28} {:<26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "computations per round", "p50", "p99", "p50", "p99", "p50", "p99"
    );
    let mut skew: f64 = 0.0;
    for (processes, label) in [(1, "one process"), (2, "two processes")] {
        println!(
            "{label}{}:",
            if processes == 2 {
                format!(" ({} + {} callers)", callers / 2, callers - callers / 2)
            } else {
                String::new()
            }
        );
        for protection in Protection::ALL {
            let peer = (processes == 2).then_some(&mut peer);
            let s = scenario(&runtime, &caches, peer, protection, callers, rounds);
            skew = skew.max(s.skew_ms);
            report(&s, protection);
        }
    }
    println!("  (largest skew between the two processes' releases: {skew:.2} ms)");
    xfetch::xfetch_vs_plain_expiry(&runtime, server.url(), &namespace, full);
}
