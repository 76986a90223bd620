//! `RedisCache::close`: the server sees every connection of the cache go away, and every clone
//! fails fast afterwards.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, ErrorKind, HealthStatus, Ttl};
use stratacache_testkit::redis::{RedisMode, RedisServer};
use stratacache_testkit::redis_server_or_skip;

/// The clients connected to the server, as `CLIENT LIST` shows them, except `observer` itself.
async fn other_clients(observer: &mut redis::aio::MultiplexedConnection) -> usize {
    let own: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(observer)
        .await
        .unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(observer)
        .await
        .unwrap();
    list.lines()
        .filter(|line| !line.trim().is_empty())
        .filter(|line| !line.starts_with(&format!("id={own} ")))
        .count()
}

/// Polls `other_clients` until it equals `expected` or 5 s have passed; returns the last count.
async fn wait_for_clients(observer: &mut redis::aio::MultiplexedConnection, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = other_clients(observer).await;
        if n == expected || Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_disconnects_every_connection_and_operations_fail_fast() {
    // A server of its own (never the external one): other clients would spoil the counts.
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let mut observer = common::observer(&server).await;
    assert_eq!(other_clients(&mut observer).await, 0);

    let mut config = common::config_for(&server);
    config.pool_size = 3;
    let cache = common::connect(config).await;
    let clone = cache.clone();
    let shared: stratacache_core::SharedCache = std::sync::Arc::new(cache.clone());
    for i in 0..10 {
        cache
            .set(&format!("k{i}"), Bytes::from_static(b"v"), Ttl::Never)
            .await
            .unwrap();
    }
    assert_eq!(clone.get("k1").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(
        other_clients(&mut observer).await,
        3,
        "one connection per pool slot"
    );
    assert!(!cache.is_closed());

    clone.close();
    assert!(cache.is_closed(), "closing a clone closes the cache");
    let left = wait_for_clients(&mut observer, 0).await;
    assert_eq!(left, 0, "connections still open after close");

    // Every clone, and the cache behind an Arc<dyn Cache>, fails at once with a clear error.
    let start = Instant::now();
    for result in [
        cache.get("k1").await.map(|_| ()),
        clone.set("k2", Bytes::from_static(b"x"), Ttl::Never).await,
        shared.delete("k3").await.map(|_| ()),
        shared.clear().await,
    ] {
        let err = result.expect_err("the cache is closed");
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
        assert!(err.message().contains("was closed"), "{err}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "failing after close took {:?}: it must not retry or wait",
        start.elapsed()
    );
    let health = shared.health().await;
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert!(
        health.messages.iter().any(|m| m.contains("was closed")),
        "{health:?}"
    );
    let status = cache.status().await;
    assert!(!status.connected);
    assert!(
        status.error.as_deref().is_some_and(|e| e.contains("was closed")),
        "{status:?}"
    );

    // Nothing reconnected behind our back, and closing again is harmless.
    cache.close();
    assert_eq!(other_clients(&mut observer).await, 0);
    // The data is still on the server: closing is not clearing.
    let n: u64 = redis::cmd("DBSIZE").query_async(&mut observer).await.unwrap();
    assert_eq!(n, 10);
}

#[tokio::test]
async fn close_before_any_operation_after_connect() {
    let server = redis_server_or_skip!(RedisMode::Password);
    let cache = common::connect(common::impatient(common::config_for(&server))).await;
    cache.close();
    let err = cache.exists("k").await.expect_err("closed");
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    assert!(err.to_string().contains("was closed"), "{err}");
    assert!(
        !err.to_string().contains(server.password().unwrap()),
        "the password leaked: {err}"
    );
}
