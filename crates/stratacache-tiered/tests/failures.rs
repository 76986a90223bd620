//! Failures of either tier: what the caller sees and what L1 is left holding.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Op, Script, fail, switchable};
use stratacache_core::{Bytes, Cache, ErrorKind, HealthStatus, Ttl};
use stratacache_memory::MemoryCache;
use stratacache_tiered::TieredCache;

fn mem() -> MemoryCache {
    MemoryCache::new(10_000).unwrap()
}

fn v(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[tokio::test]
async fn a_failed_l2_write_leaves_no_value_in_l1() {
    let t = TieredCache::new(mem(), switchable());
    t.set("k", v("v1"), Ttl::Never).await.unwrap();
    t.set_many(&[("a", v("a1")), ("b", v("b1"))], Ttl::Never)
        .await
        .unwrap();
    assert!(t.l1().exists("k").await.unwrap());

    fail(t.l2(), &[Op::Set, Op::SetMany]);
    let err = t.set("k", v("v2"), Ttl::Never).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    let err = t.set("fresh", v("f"), Ttl::Never).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    let err = t
        .set_many(&[("a", v("a2")), ("c", v("c2"))], Ttl::Never)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);

    // Neither the rejected values nor the older copies stay in L1.
    for key in ["k", "fresh", "a", "c"] {
        assert_eq!(t.l1().get(key).await.unwrap(), None, "{key} in L1");
    }
    assert_eq!(
        t.l1().get("b").await.unwrap(),
        Some(v("b1")),
        "untouched keys stay"
    );
    // Reads answer what L2 holds.
    assert_eq!(t.get("k").await.unwrap(), Some(v("v1")));
    assert_eq!(t.get("fresh").await.unwrap(), None);
    assert_eq!(t.get_many(&["a", "c"]).await.unwrap(), vec![Some(v("a1")), None]);
    assert_eq!(t.stats().await.errors, 3);
    assert_eq!(t.stats().await.writes, 3, "only the accepted writes count");
}

#[tokio::test]
async fn an_l1_read_failure_falls_through_to_l2() {
    let t = TieredCache::new(switchable(), mem());
    t.set("k", v("v"), Ttl::Never).await.unwrap();
    fail(t.l1(), &Op::READS);

    assert_eq!(t.get("k").await.unwrap(), Some(v("v")));
    assert_eq!(
        t.get_many(&["k", "missing"]).await.unwrap(),
        vec![Some(v("v")), None]
    );
    assert!(t.exists("k").await.unwrap());
    assert!(t.get_with_ttl("k").await.unwrap().is_some());

    let s = t.stats().await;
    assert_eq!((s.hits, s.misses, s.errors), (3, 1, 0));
    let c = t.tier_counters();
    assert_eq!((c.l1_hits, c.l2_hits), (0, 3));
    assert!(c.l1_errors >= 3, "{c:?}");
}

#[tokio::test]
async fn an_l2_read_failure_is_an_error_not_a_miss() {
    let t = TieredCache::new(mem(), switchable());
    t.set("cached", v("c"), Ttl::Never).await.unwrap();
    fail(t.l2(), &Op::READS);

    assert_eq!(t.get("missing").await.unwrap_err().kind(), ErrorKind::Connection);
    assert_eq!(
        t.get_many(&["cached", "missing"]).await.unwrap_err().kind(),
        ErrorKind::Connection
    );
    assert_eq!(t.ttl("cached").await.unwrap_err().kind(), ErrorKind::Connection);
    assert_eq!(
        t.exists("missing").await.unwrap_err().kind(),
        ErrorKind::Connection
    );
    // What L1 holds is still served: it is a copy of what L2 held.
    assert_eq!(t.get("cached").await.unwrap(), Some(v("c")));
    let s = t.stats().await;
    assert_eq!((s.hits, s.misses, s.errors), (1, 0, 4));
    let c = t.tier_counters();
    assert_eq!(
        (c.l1_hits, c.l2_hits),
        (1, 0),
        "a failed batch read counts no hit"
    );
}

#[tokio::test]
async fn an_l1_that_cannot_remove_a_copy_is_reported() {
    let t = TieredCache::new(switchable(), mem());
    t.set("k", v("v"), Ttl::Never).await.unwrap();
    fail(t.l1(), &Op::REMOVALS);

    let err = t.delete("k").await.unwrap_err();
    assert!(
        err.message()
            .contains("deleted from L2, but L1 could not remove its copy"),
        "{err}"
    );
    assert!(!t.l2().exists("k").await.unwrap(), "L2 was still changed");
    let err = t.invalidate_pattern("*").await.unwrap_err();
    assert!(err.message().contains("invalidated in L2"), "{err}");
    assert!(t.clear().await.is_err());

    // A write does not need a removal when L1 takes the new value.
    t.set("k", v("v2"), Ttl::Never).await.unwrap();
    assert_eq!(t.l1().inner().get("k").await.unwrap(), Some(v("v2")));
    // When L1 takes neither the value nor the removal, the caller learns it.
    fail(t.l1(), &[Op::Set, Op::SetMany]);
    let err = t.set("k", v("v3"), Ttl::Never).await.unwrap_err();
    assert!(
        err.message().contains("stored in L2, but L1 could not remove"),
        "{err}"
    );
    assert_eq!(t.l2().get("k").await.unwrap(), Some(v("v3")));
}

#[tokio::test]
async fn health_follows_the_tier_that_matters() {
    let t = TieredCache::new(switchable(), switchable());
    let h = t.health().await;
    assert_eq!(
        (h.status, h.backend.as_str(), h.inner.len()),
        (HealthStatus::Healthy, "tiered", 2)
    );

    t.l1().script(
        Op::Health,
        Script::fail(ErrorKind::Connection, "set unhealthy by the test"),
    );
    let h = t.health().await;
    assert_eq!(h.status, HealthStatus::Degraded, "L1 is an optimisation: {h:?}");
    assert!(h.messages[0].starts_with("L1 (switchable) is unhealthy (reads fall through to L2)"));
    assert_eq!(h.inner[0].status, HealthStatus::Unhealthy);

    t.l2()
        .script(Op::Health, Script::Degrade("set degraded by the test".into()));
    assert_eq!(t.health().await.status, HealthStatus::Degraded);
    t.l1().script(Op::Health, Script::Pass);
    assert_eq!(t.health().await.status, HealthStatus::Degraded, "L2 degraded");
    t.l2().script(
        Op::Health,
        Script::fail(ErrorKind::Connection, "set unhealthy by the test"),
    );
    let h = t.health().await;
    assert_eq!(
        h.status,
        HealthStatus::Unhealthy,
        "L2 is the source of truth: {h:?}"
    );
    assert_eq!(h.inner[1].status, HealthStatus::Unhealthy);
}
