//! The connection slots, deadlines and retries under real faults: connections killed by the
//! server under load, a hung server, replies that arrive after the deadline, and the pool's
//! spare connections.
//!
//! Bounds asserted here are several times the configured deadlines (a stall of the old kind was
//! seconds long); the measured figures are printed (`-- --nocapture`).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use common::{config_for, connect};
use stratacache_core::{Bytes, Cache, ErrorKind, ScanKeys, Ttl};
use stratacache_testkit::fault::FaultProxy;
use stratacache_testkit::redis::{RedisMode, RedisServer};
use stratacache_testkit::redis_server_or_skip;

/// No request of these tests may take this long (the default deadline is 300 ms).
const LATENCY_BOUND: Duration = Duration::from_secs(1);

fn upstream(server: &RedisServer) -> SocketAddr {
    format!("{}:{}", server.host(), server.port()).parse().unwrap()
}

/// `CLIENT KILL TYPE normal` from a connection of its own (which it spares), three times under
/// 50 tasks: every killed slot is reopened once, callers wait at most the operation's deadline,
/// and the retry inside the budget hides the loss from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_are_replaced_without_stalling_callers() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let mut config = config_for(&server);
    // A production-like connect timeout: callers must never wait for it.
    config.connect_timeout = Duration::from_secs(10);
    let cache = Arc::new(connect(config).await);
    let stop = Arc::new(AtomicBool::new(false));
    let (errors, max_us, requests) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut tasks = Vec::new();
    for t in 0..50u64 {
        let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
        let (errors, max_us, requests) = (Arc::clone(&errors), Arc::clone(&max_us), Arc::clone(&requests));
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(SeqCst) {
                let key = format!("k{t}:{}", i % 10);
                let started = Instant::now();
                let outcome = if i.is_multiple_of(3) {
                    cache
                        .set(&key, Bytes::from_static(b"v"), Ttl::secs(60))
                        .await
                        .map(drop)
                } else {
                    cache.get(&key).await.map(drop)
                };
                max_us.fetch_max(started.elapsed().as_micros() as u64, SeqCst);
                requests.fetch_add(1, SeqCst);
                if outcome.is_err() {
                    errors.fetch_add(1, SeqCst);
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    let client = redis::Client::open(server.url()).unwrap();
    let mut killer = client.get_multiplexed_async_connection().await.unwrap();
    let mut killed = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query_async(&mut killer)
            .await
            .unwrap();
        killed += n;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let max = Duration::from_micros(max_us.load(SeqCst));
    let (requests, errors) = (requests.load(SeqCst), errors.load(SeqCst));
    println!(
        "CLIENT KILL ×3 ({killed} connections) under 50 tasks: {requests} requests, {errors} errors, max {max:?}"
    );
    assert!(killed >= 3, "the cache's connections were killed: {killed}");
    assert!(max < LATENCY_BOUND, "a caller waited {max:?}");
    assert!(errors * 100 <= requests, "{errors} errors of {requests}");
    // Serving again on fresh connections.
    cache
        .set("after", Bytes::from_static(b"v"), Ttl::secs(60))
        .await
        .unwrap();
    assert_eq!(cache.get("after").await.unwrap().as_deref(), Some(&b"v"[..]));
}

/// The pool keeps spare connections beyond the cache's slots, so `pool()` hands one out.
#[tokio::test]
async fn the_pool_hands_out_connections_beside_the_cache() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let cache = connect(config_for(&server)).await;
    let mut conn = tokio::time::timeout(Duration::from_secs(2), cache.pool().get())
        .await
        .expect("a checkout does not wait for the cache's own connections")
        .unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");
    cache
        .set("k", Bytes::from_static(b"v"), Ttl::secs(60))
        .await
        .unwrap();
}

/// A hung server (`SIGSTOP`): an operation fails with a timeout after `command_timeout` and is
/// not retried; a hung reconnection does not hold callers either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_fails_operations_at_the_deadline() {
    let Some(mut server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let cache = connect(config_for(&server)).await;
    cache
        .set("k", Bytes::from_static(b"v"), Ttl::secs(60))
        .await
        .unwrap();
    server.pause();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let err = cache.get("k").await.unwrap_err();
        slowest = slowest.max(started.elapsed());
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "waited the command timeout"
        );
    }
    server.resume();
    println!("GET on a stopped server: slowest failure after {slowest:?}");
    assert!(slowest < LATENCY_BOUND, "{slowest:?}");
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

/// A `DEL` (and a compare-and-set) whose reply comes after the deadline was applied: the caller
/// gets a timeout, never a retry's "nothing was there" (`false`, or `raced`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_report_their_effect_are_not_retried_after_a_timeout() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let proxy = FaultProxy::start(upstream(&server));
    let mut config = config_for(&server);
    config.url = proxy.url().into();
    config.command_timeout = Duration::from_millis(200);
    config.retry.budget = Duration::from_secs(2);
    let cache = Arc::new(connect(config.clone()).await);
    let mut direct = config;
    direct.url = server.url().into();
    let direct = connect(direct).await;
    direct
        .set("d", Bytes::from_static(b"v"), Ttl::secs(60))
        .await
        .unwrap();
    direct
        .set("c", Bytes::from_static(b"old"), Ttl::secs(60))
        .await
        .unwrap();

    // The commands reach the proxy and are held; they are delivered (and applied) once it
    // passes again, after the cache gave up on them.
    proxy.stall();
    let (c1, c2) = (Arc::clone(&cache), Arc::clone(&cache));
    let deleting = tokio::spawn(async move { c1.delete("d").await });
    let replacing = tokio::spawn(async move {
        c2.replace_if_unchanged("c", b"old", Bytes::from_static(b"new"))
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.pass();
    let deleted = deleting.await.unwrap();
    let replaced = replacing.await.unwrap();
    assert_eq!(
        deleted.as_ref().map_err(stratacache_core::Error::kind),
        Err(ErrorKind::Timeout),
        "{deleted:?}"
    );
    assert_eq!(
        replaced.as_ref().map_err(stratacache_core::Error::kind),
        Err(ErrorKind::Timeout),
        "{replaced:?}"
    );
    // Both were applied by the server: a retry would have reported `false` for both.
    let deadline = Instant::now() + Duration::from_secs(5);
    while direct.exists("d").await.unwrap() {
        assert!(Instant::now() < deadline, "the held DEL was never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(direct.get("c").await.unwrap().as_deref(), Some(&b"new"[..]));
}

/// A `SET` that the server applied but whose connection broke before the reply is not sent
/// again: another client deleted the key meanwhile, and a second copy would bring it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_connection_broke_is_not_applied_twice() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let proxy = FaultProxy::start(upstream(&server));
    let mut config = config_for(&server);
    config.url = proxy.url().into();
    config.command_timeout = Duration::from_secs(5);
    config.retry.budget = Duration::from_secs(5);
    let cache = Arc::new(connect(config.clone()).await);
    let mut direct = config;
    direct.url = server.url().into();
    let direct = connect(direct).await;

    // The SET reaches the server; its reply is lost.
    proxy.drop_replies();
    let writer = tokio::spawn({
        let cache = Arc::clone(&cache);
        async move { cache.set("k", Bytes::from_static(b"v"), Ttl::secs(60)).await }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while !direct.exists("k").await.unwrap() {
        assert!(Instant::now() < deadline, "the SET never reached the server");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another client deletes it; then the writer's connection breaks, and the proxy passes again.
    assert!(direct.delete("k").await.unwrap());
    proxy.cut();
    proxy.pass();
    let written = writer.await.unwrap();
    assert_eq!(
        written.as_ref().map_err(stratacache_core::Error::kind),
        Err(ErrorKind::Connection),
        "{written:?}"
    );
    assert!(
        !direct.exists("k").await.unwrap(),
        "a retried SET brought back the deleted value"
    );
    // Writes on the connections that died idle in the cut are retried on fresh ones.
    for i in 0..8 {
        let key = format!("after:{i}");
        cache
            .set(&key, Bytes::from_static(b"v"), Ttl::secs(60))
            .await
            .unwrap();
    }
}

/// A batch delete is one `UNLINK` and counts what existed.
#[tokio::test]
async fn delete_many_removes_a_batch_and_counts_it() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let cache = connect(config_for(&server)).await;
    for k in ["a", "b", "c"] {
        cache
            .set(k, Bytes::from_static(b"v"), Ttl::secs(60))
            .await
            .unwrap();
    }
    assert_eq!(cache.delete_many(&["a", "b", "missing"]).await.unwrap(), 2);
    assert_eq!(cache.delete_many(&[]).await.unwrap(), 0);
    assert!(!cache.exists("a").await.unwrap());
    assert!(cache.exists("c").await.unwrap());
}
