//! End-to-end: a process that dies (SIGKILL) while it holds a key's lease and computes it. The
//! holder is this test binary started again as a child process, over a real redis-server; the
//! survivors are callers of another `ComputeCache` in the test process. They wait for the dead
//! holder's lease to run out (it is never released), take it over, and compute once.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use stratacache_compute::{ComputeCache, ComputeConfig};
use stratacache_core::{Bytes, Cache, Ttl};
use stratacache_redis::{RedisCache, RedisConfig};
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

/// Set in the child process: `<redis url> <namespace>`.
const ROLE: &str = "STRATACACHE_TEST_LEASE_HOLDER";
/// The test, which is also the child's body when started with [`ROLE`] set.
const TEST: &str = "a_killed_holders_lease_is_taken_over_once_it_runs_out";
const KEY: &str = "report";
/// Short, so that the survivors take over soon after the kill.
const LEASE: Duration = Duration::from_millis(300);
/// How long the test waits for anything the child should do.
const PATIENCE: Duration = Duration::from_secs(20);

fn config() -> ComputeConfig {
    ComputeConfig {
        lease: LEASE,
        ..ComputeConfig::default()
    }
}

async fn instance(url: &str, namespace: &str) -> Arc<ComputeCache<RedisCache>> {
    let mut redis = RedisConfig::new(url);
    redis.namespace = namespace.to_owned();
    let redis = RedisCache::connect(redis).await.unwrap();
    Arc::new(ComputeCache::with_config(redis, config()).unwrap())
}

/// The child: misses `KEY`, takes its lease, says `computing` and computes until it is killed
/// (renewing the lease every third of [`LEASE`] meanwhile). It also exits when its standard
/// input closes, so that it does not outlive a test process that died first.
async fn holder(url: &str, namespace: &str) {
    std::thread::spawn(|| {
        let _ = std::io::stdin().lines().count();
        std::process::exit(3);
    });
    let cache = instance(url, namespace).await;
    let value = cache
        .get_or_compute(KEY, Ttl::secs(60), || async {
            println!("computing");
            tokio::time::sleep(PATIENCE).await;
            Ok(Bytes::from_static(b"from the dead holder"))
        })
        .await;
    // Not reached unless the test never killed it.
    println!("finished {value:?}");
}

/// The child process, killed and reaped when dropped (a failed assertion does not leak it).
struct Holder {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Holder {
    fn start(url: &str, namespace: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads", "1"])
            .env(ROLE, format!("{url} {namespace}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits until the child printed a line ending with `word` (libtest prints `test <name> ...`
    /// without a newline before the test's own output).
    fn expect(&self, word: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.trim().ends_with(word) => return,
                Ok(_) => {}
                Err(e) => panic!("the child never said {word:?} ({e})"),
            }
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the raw Redis key `key` (`None`: no such key).
async fn raw_get(connection: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(connection).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holders_lease_is_taken_over_once_it_runs_out() {
    if let Ok(role) = std::env::var(ROLE) {
        let (url, namespace) = role.split_once(' ').unwrap();
        return holder(url, namespace).await;
    }
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let namespace = unique_namespace("kill");
    let lease_key = format!(":lease:{namespace}:{KEY}");
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    let mut holder = Holder::start(server.url(), &namespace);
    holder.expect("computing");
    // The child holds the lease: its token is in Redis, and nobody else can take it.
    let dead_token = raw_get(&mut raw, &lease_key)
        .await
        .expect("the child's lease is in Redis while it computes");
    let survivor = instance(server.url(), &namespace).await;
    assert!(
        !survivor
            .inner()
            .acquire_lease(KEY, "third-party", LEASE)
            .await
            .unwrap(),
        "the child's lease is held"
    );

    // Survivors miss the key while the child is alive: they wait for its value.
    let runs = Arc::new(AtomicUsize::new(0));
    // What the lease key held when the survivor's computation started.
    let lease_when_computing = Arc::new(Mutex::new(None));
    let computed_at = Arc::new(Mutex::new(None));
    let mut callers = Vec::new();
    for _ in 0..10 {
        let (survivor, runs) = (Arc::clone(&survivor), Arc::clone(&runs));
        let (lease_when_computing, computed_at) =
            (Arc::clone(&lease_when_computing), Arc::clone(&computed_at));
        let (url, lease_key) = (server.url().to_owned(), lease_key.clone());
        callers.push(tokio::spawn(async move {
            survivor
                .get_or_compute(KEY, Ttl::secs(60), || async move {
                    runs.fetch_add(1, SeqCst);
                    *computed_at.lock().unwrap() = Some(Instant::now());
                    let mut raw = redis::Client::open(url)
                        .unwrap()
                        .get_multiplexed_async_connection()
                        .await
                        .unwrap();
                    *lease_when_computing.lock().unwrap() = raw_get(&mut raw, &lease_key).await;
                    Ok(Bytes::from_static(b"from the survivor"))
                })
                .await
                .unwrap()
        }));
    }
    let deadline = Instant::now() + PATIENCE;
    while survivor.compute_stats().remote_waits == 0 {
        assert_eq!(
            runs.load(SeqCst),
            0,
            "a survivor computed while the holder was alive"
        );
        assert!(Instant::now() < deadline, "the survivors never waited");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Waiting for the holder a while longer: nobody computes while it renews its lease.
    tokio::time::sleep(2 * LEASE).await;
    assert_eq!(runs.load(SeqCst), 0, "{:?}", survivor.compute_stats());
    assert_eq!(
        raw_get(&mut raw, &lease_key).await.as_deref(),
        Some(dead_token.as_str())
    );

    holder.child.kill().unwrap();
    let killed_at = Instant::now();
    let status = holder.child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");

    for caller in callers {
        assert_eq!(caller.await.unwrap(), "from the survivor");
    }
    let stats = survivor.compute_stats();
    assert_eq!(runs.load(SeqCst), 1, "{stats:?}");
    assert_eq!(
        (
            stats.computations,
            stats.remote_waits,
            stats.lease_takeovers,
            stats.coalesced
        ),
        (1, 1, 1, 9),
        "one computation after one wait and one takeover; the other callers got its value: {stats:?}"
    );
    assert!(computed_at.lock().unwrap().unwrap() > killed_at);
    let lease_then = lease_when_computing.lock().unwrap().clone();
    assert!(
        lease_then.as_ref().is_some_and(|token| *token != dead_token),
        "the survivor computed holding a lease of its own (the dead holder's had run out): {lease_then:?}"
    );
    // Stored by the survivor; its lease released.
    assert_eq!(
        survivor.inner().get(KEY).await.unwrap().as_deref(),
        Some(&b"from the survivor"[..])
    );
    assert_eq!(raw_get(&mut raw, &lease_key).await, None);
}
