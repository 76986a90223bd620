//! `invalidate_pattern` with a literal pattern: one `UNLINK` of the key, no `SCAN` of the
//! database, the same count as a scan would give; wildcard patterns still scan.

#![allow(clippy::unwrap_used)]

mod common;

use redis::aio::MultiplexedConnection;
use stratacache_core::{Bytes, Cache, Ttl};
use stratacache_testkit::redis::{RedisMode, RedisServer};

/// The number of calls of `command` (lower case) since the last `CONFIG RESETSTAT`, from
/// `INFO commandstats` (0 when the command was not called).
async fn calls(observer: &mut MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(observer)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

async fn reset_stats(observer: &mut MultiplexedConnection) {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(observer)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_literal_pattern_unlinks_its_key_without_scanning() {
    // A server of its own: another test's SCANs would spoil the command counts.
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let mut observer = common::observer(&server).await;
    let config = common::config_for(&server);
    let namespace = config.namespace.clone();
    let cache = common::connect(config).await;
    for key in ["user:42", "user:420", "user:4", "user:*", "user:1"] {
        cache
            .set(key, Bytes::from_static(b"v"), Ttl::Never)
            .await
            .unwrap();
    }
    // The same key in another namespace is not this cache's.
    let other = format!("{namespace}-other:user:42");
    redis::cmd("SET")
        .arg(&other)
        .arg("v")
        .query_async::<()>(&mut observer)
        .await
        .unwrap();

    reset_stats(&mut observer).await;
    assert_eq!(cache.invalidate_pattern("user:42").await.unwrap(), 1);
    assert_eq!(calls(&mut observer, "scan").await, 0, "a literal pattern scanned");
    assert_eq!(calls(&mut observer, "unlink").await, 1);
    assert_eq!(cache.get("user:42").await.unwrap(), None);
    for kept in ["user:420", "user:4", "user:*", "user:1"] {
        assert!(cache.exists(kept).await.unwrap(), "{kept} was removed");
    }
    let exists: u64 = redis::cmd("EXISTS")
        .arg(&other)
        .query_async(&mut observer)
        .await
        .unwrap();
    assert_eq!(exists, 1, "a key of another namespace was removed");

    // Nothing left to remove: 0, as a scan finding nothing reports.
    assert_eq!(cache.invalidate_pattern("user:42").await.unwrap(), 0);
    // An escaped star is a literal star: only the key `user:*`, and still no scan.
    assert_eq!(cache.invalidate_pattern(r"user:\*").await.unwrap(), 1);
    assert!(!cache.exists("user:*").await.unwrap());
    assert!(cache.exists("user:1").await.unwrap());
    assert_eq!(calls(&mut observer, "scan").await, 0, "a literal pattern scanned");
    assert_eq!(calls(&mut observer, "unlink").await, 3);
    assert!(cache.stats().await.removals >= 2);

    // A wildcard still walks the namespace with SCAN, and counts what it removed.
    assert_eq!(cache.invalidate_pattern("user:4*").await.unwrap(), 2);
    assert!(calls(&mut observer, "scan").await >= 1);
    assert!(cache.exists("user:1").await.unwrap());
}
