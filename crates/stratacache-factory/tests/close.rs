//! `BuiltCache::close` closes everything the cache opened, whatever state it is in (memory only,
//! on a healthy Redis, started degraded, recovered from a degraded start): the Redis connections
//! go away, the failover's background task stops connecting, and every operation afterwards fails
//! with `ErrorKind::Closed` instead of being served by a tier.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, ErrorKind, HealthStatus, Ttl};
use stratacache_factory::failover::FailoverState;
use stratacache_factory::{Backend, BuiltCache, CacheConfig, CacheFactory};
use stratacache_redis::deadpool_redis::redis;
use stratacache_redis::deadpool_redis::redis::aio::MultiplexedConnection;
use stratacache_testkit::fault::FaultProxy;
use stratacache_testkit::redis::{RedisMode, RedisServer, unique_namespace};

/// A server of its own: other tests' clients would spoil the client counts.
fn local_server() -> Option<RedisServer> {
    RedisServer::builder(RedisMode::Plain).local().start_or_skip()
}

fn upstream(server: &RedisServer) -> SocketAddr {
    format!("{}:{}", server.host(), server.port()).parse().unwrap()
}

/// The testing preset on `url`, with or without the memory tier in front of Redis.
fn config(url: &str, l1: bool) -> CacheConfig {
    let mut config = CacheConfig::testing();
    config.redis_url = Some(url.into());
    config.namespace = unique_namespace("close").trim_end_matches(':').to_owned();
    config.enable_l1_cache = l1;
    config
}

/// Writes through `built` (so that it holds Redis connections), closes it and waits until Redis
/// has no client but `observer`.
async fn write_then_close(built: &BuiltCache, observer: &mut MultiplexedConnection) {
    built
        .cache
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    assert!(other_clients(observer).await > 0);
    built.close().await.unwrap();
    eventually("every connection closed", async || {
        other_clients(observer).await == 0
    })
    .await;
}

async fn observer(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The clients connected to the server, except `observer` itself.
async fn other_clients(observer: &mut MultiplexedConnection) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(observer)
        .await
        .unwrap();
    list.lines().filter(|line| !line.trim().is_empty()).count() - 1
}

/// Polls until `condition` holds, for at most 10 s.
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every kind of operation fails at once with a `Closed` error; health says unhealthy.
async fn assert_closed(built: &BuiltCache) {
    let cache = &built.cache;
    let v = || Bytes::from_static(b"v");
    let results = [
        ("get", cache.get("k").await.map(drop)),
        ("set", cache.set("k", v(), Ttl::Default).await),
        ("delete", cache.delete("k").await.map(drop)),
        ("delete_many", cache.delete_many(&["k", "l"]).await.map(drop)),
        ("exists", cache.exists("k").await.map(drop)),
        ("ttl", cache.ttl("k").await.map(drop)),
        ("get_with_ttl", cache.get_with_ttl("k").await.map(drop)),
        ("get_many", cache.get_many(&["k", "l"]).await.map(drop)),
        ("set_many", cache.set_many(&[("k", v())], Ttl::Default).await),
        (
            "invalidate_pattern",
            cache.invalidate_pattern("k*").await.map(drop),
        ),
        ("clear", cache.clear().await),
    ];
    for (op, result) in results {
        let err = result.expect_err(op);
        assert_eq!(err.kind(), ErrorKind::Closed, "{op}: {err}");
        assert!(err.message().contains("was closed"), "{op}: {err}");
    }
    let health = cache.health().await;
    assert_eq!(health.status, HealthStatus::Unhealthy, "{health:?}");
    // Closing again is harmless.
    built.close().await.unwrap();
}

#[tokio::test]
async fn a_closed_memory_cache_fails_every_operation() {
    let built = CacheFactory::for_web_app(None).await.unwrap();
    assert_eq!(built.backend, Backend::Memory);
    built
        .cache
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    built.close().await.unwrap();
    assert_closed(&built).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_redis_cache_disconnects_and_does_not_fall_back_to_memory() {
    let Some(server) = local_server() else { return };
    let mut observer = observer(&server).await;
    for l1 in [false, true] {
        let built = CacheFactory::from_config(config(server.url(), l1)).await.unwrap();
        assert!(!built.is_degraded());
        write_then_close(&built, &mut observer).await;
        // Before, Redis's "closed" error was temporary: the failover served these from memory.
        assert_closed(&built).await;
        let failover = built.failover.as_ref().unwrap();
        assert_eq!(failover.counters().fallback_operations, 0, "l1 {l1}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_closed_while_degraded_never_connects_afterwards() {
    let Some(server) = local_server() else { return };
    let mut observer = observer(&server).await;
    // Two instances started while Redis is unreachable, each through a proxy of its own; the
    // second is not closed and shows when the background tasks would have reconnected.
    let (closed_proxy, control_proxy) = (
        FaultProxy::start(upstream(&server)),
        FaultProxy::start(upstream(&server)),
    );
    closed_proxy.refuse();
    control_proxy.refuse();
    let built = CacheFactory::from_config(config(&closed_proxy.url(), true))
        .await
        .unwrap();
    let control = CacheFactory::from_config(config(&control_proxy.url(), true))
        .await
        .unwrap();
    assert!(built.is_degraded() && control.is_degraded());
    built
        .cache
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();

    built.close().await.unwrap();
    assert_closed(&built).await;

    // Redis becomes reachable: the control instance connects, the closed one never does.
    closed_proxy.pass();
    control_proxy.pass();
    let control_failover = control.failover.clone().unwrap();
    eventually("the control instance recovers", async || {
        control_failover.state() == FailoverState::Primary
    })
    .await;
    // One more probe interval (1 s by default) for the closed instance's task, if it ran.
    tokio::time::sleep(control_failover.config().probe_interval * 3 / 2).await;
    assert_eq!(closed_proxy.connections(), 0, "the closed cache connected");
    assert!(control_proxy.connections() > 0);
    let failover = built.failover.as_ref().unwrap();
    assert!(
        failover.primary().is_none(),
        "a primary was connected after close"
    );
    assert_eq!(failover.state(), FailoverState::Fallback);
    assert_closed(&built).await;

    control.close().await.unwrap();
    eventually("every connection closed", async || {
        other_clients(&mut observer).await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_that_recovered_from_a_degraded_start_closes_its_connections() {
    let Some(mut server) = local_server() else { return };
    let config = config(server.url(), true);
    server.stop();
    let built = CacheFactory::from_config(config).await.unwrap();
    assert!(built.is_degraded());
    assert!(built.redis.is_none(), "no Redis connection at start");
    server.restart();
    let failover = built.failover.clone().unwrap();
    eventually("back on Redis", async || {
        failover.state() == FailoverState::Primary
    })
    .await;
    let mut observer = observer(&server).await;
    // The connections the background task opened are closed too.
    write_then_close(&built, &mut observer).await;
    assert_closed(&built).await;
    assert_eq!(other_clients(&mut observer).await, 0);
}
