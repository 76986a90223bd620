//! How the tiers are used: promotion with the remaining TTL, the L1 cap, write-through, removals
//! reaching both tiers, and the counters.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use stratacache_core::{Bytes, Cache, ErrorKind, Expiry, Ttl};
use stratacache_memory::MemoryCache;
use stratacache_tiered::{DEFAULT_L1_TTL, TierCounters, TieredCache, TieredConfig};

type Tiered = TieredCache<MemoryCache, MemoryCache>;

fn mem() -> MemoryCache {
    MemoryCache::new(10_000).unwrap()
}

fn tiered(l1_ttl: Option<Duration>) -> Tiered {
    TieredCache::with_config(mem(), mem(), TieredConfig::default().with_l1_ttl(l1_ttl)).unwrap()
}

fn v(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

fn millis(expiry: Option<Expiry>) -> u128 {
    match expiry {
        Some(Expiry::After(d)) => d.as_millis(),
        other => panic!("expected a finite remaining TTL, got {other:?}"),
    }
}

#[tokio::test]
async fn promotion_keeps_the_remaining_l2_ttl() {
    let t = tiered(None);
    t.l2().set("k", v("value"), Ttl::secs(2)).await.unwrap();
    sleep_ms(300).await;

    assert_eq!(t.get("k").await.unwrap(), Some(v("value")));
    // L2 first: a copy that expires no later than the original has no more left a moment later.
    let l2_left = millis(t.l2().ttl("k").await.unwrap());
    let l1_left = millis(t.l1().ttl("k").await.unwrap());
    assert!(
        l1_left <= 1_700,
        "L1 copy lives {l1_left}ms, more than the 1.7s L2 had left"
    );
    assert!(
        l1_left <= l2_left,
        "L1 copy ({l1_left}ms) outlives L2 ({l2_left}ms)"
    );
    assert!(l1_left > 1_200, "L1 copy lives only {l1_left}ms");

    assert_eq!(t.get("k").await.unwrap(), Some(v("value")));
    let c = t.tier_counters();
    assert_eq!(
        (c.l1_hits, c.l2_hits, c.promotions, c.promotions_skipped),
        (1, 1, 1, 0)
    );
}

#[tokio::test]
async fn promotion_of_a_never_entry_stays_never_unless_capped() {
    let t = tiered(None);
    t.l2().set("k", v("v"), Ttl::Never).await.unwrap();
    t.get("k").await.unwrap().unwrap();
    assert_eq!(t.l1().ttl("k").await.unwrap(), Some(Expiry::Never));

    let t = tiered(Some(DEFAULT_L1_TTL));
    t.l2().set("k", v("v"), Ttl::Never).await.unwrap();
    t.get("k").await.unwrap().unwrap();
    assert!(millis(t.l1().ttl("k").await.unwrap()) <= 60_000);
    assert_eq!(
        t.ttl("k").await.unwrap(),
        Some(Expiry::Never),
        "ttl() answers for L2"
    );
}

#[tokio::test]
async fn l1_ttl_caps_promotions_and_writes() {
    let t = tiered(Some(Duration::from_millis(100)));
    t.set("written", v("w"), Ttl::secs(60)).await.unwrap();
    t.l2().set("promoted", v("p"), Ttl::secs(60)).await.unwrap();
    t.get("promoted").await.unwrap().unwrap();
    for key in ["written", "promoted"] {
        assert!(millis(t.l1().ttl(key).await.unwrap()) <= 100, "{key}");
        assert!(
            millis(t.ttl(key).await.unwrap()) > 59_000,
            "{key}: L2 keeps the full TTL"
        );
    }
    sleep_ms(200).await;
    for key in ["written", "promoted"] {
        assert_eq!(
            t.l1().get(key).await.unwrap(),
            None,
            "{key} left L1 after its cap"
        );
        assert!(
            t.get(key).await.unwrap().is_some(),
            "{key} is still served from L2"
        );
        assert!(t.l1().exists(key).await.unwrap(), "{key} is promoted again");
    }
}

#[tokio::test]
async fn an_entry_expired_in_l2_is_not_served_from_l1() {
    let t = tiered(None);
    t.set("written", v("w"), Ttl::millis(150)).await.unwrap();
    t.l2().set("promoted", v("p"), Ttl::millis(150)).await.unwrap();
    t.get("promoted").await.unwrap().unwrap();
    for key in ["written", "promoted"] {
        let l2_left = millis(t.l2().ttl(key).await.unwrap());
        let l1_left = millis(t.l1().ttl(key).await.unwrap());
        assert!(
            l1_left <= l2_left,
            "{key}: L1 copy ({l1_left}ms) outlives L2 ({l2_left}ms)"
        );
    }
    sleep_ms(200).await;
    for key in ["written", "promoted"] {
        assert_eq!(t.get(key).await.unwrap(), None, "{key}");
        assert_eq!(t.l1().get(key).await.unwrap(), None, "{key}");
        assert!(!t.exists(key).await.unwrap(), "{key}");
    }
    // Less than a millisecond left (after the margin): not worth a copy.
    t.l2().set("dying", v("d"), Ttl::millis(1)).await.unwrap();
    let _ = t.get("dying").await.unwrap();
    assert!(!t.l1().exists("dying").await.unwrap());
}

#[tokio::test]
async fn write_through_puts_both_tiers_with_the_resolved_ttl() {
    let config = TieredConfig::default().with_default_ttl(Some(Duration::from_secs(30)));
    let t = TieredCache::with_config(mem(), mem(), config).unwrap();
    t.set("one", v("1"), Ttl::Default).await.unwrap();
    t.set_many(&[("two", v("2")), ("three", v("3"))], Ttl::Default)
        .await
        .unwrap();
    t.set("never", v("n"), Ttl::Never).await.unwrap();
    for (key, value) in [("one", "1"), ("two", "2"), ("three", "3")] {
        assert_eq!(t.l1().get(key).await.unwrap(), Some(v(value)), "{key} in L1");
        assert_eq!(t.l2().get(key).await.unwrap(), Some(v(value)), "{key} in L2");
        // The tiers' own default (none) is not used: the tiered cache resolved Ttl::Default.
        let l2_left = millis(t.l2().ttl(key).await.unwrap());
        let l1_left = millis(t.l1().ttl(key).await.unwrap());
        assert!((29_000..=30_000).contains(&l2_left), "{key}: {l2_left}ms in L2");
        assert!(l1_left <= l2_left && l1_left > 29_000, "{key}: {l1_left}ms in L1");
    }
    // The default L1 cap bounds a Never entry in L1 only.
    assert_eq!(t.l2().ttl("never").await.unwrap(), Some(Expiry::Never));
    assert!(millis(t.l1().ttl("never").await.unwrap()) <= 60_000);
    assert_eq!(t.stats().await.writes, 4);
}

#[tokio::test]
async fn a_value_l1_refuses_leaves_no_older_copy_in_l1() {
    let l1 = MemoryCache::builder()
        .max_entries(100)
        .max_bytes(2048)
        .build()
        .unwrap();
    let t = TieredCache::new(l1, mem());
    let large = Bytes::from(vec![7u8; 4096]);
    t.set("k", v("small"), Ttl::Never).await.unwrap();
    t.set("k", large.clone(), Ttl::Never).await.unwrap();
    assert_eq!(
        t.l1().get("k").await.unwrap(),
        None,
        "the old small copy must be gone"
    );
    assert_eq!(t.get("k").await.unwrap(), Some(large.clone()));

    t.set_many(&[("a", v("small")), ("b", v("small"))], Ttl::Never)
        .await
        .unwrap();
    t.set_many(&[("a", large.clone()), ("b", v("new"))], Ttl::Never)
        .await
        .unwrap();
    assert_eq!(t.l1().get("a").await.unwrap(), None);
    assert_eq!(
        t.l1().get("b").await.unwrap(),
        Some(v("new")),
        "L1 keeps what it can"
    );
    assert_eq!(t.get("a").await.unwrap(), Some(large));
    assert!(t.tier_counters().l1_errors >= 2);
    assert_eq!(t.stats().await.errors, 0, "nothing failed for the caller");
}

#[tokio::test]
async fn delete_invalidate_and_clear_reach_both_tiers() {
    let t = tiered(None);
    let entries = [("a:1", v("1")), ("a:2", v("2")), ("b:1", v("3"))];
    t.set_many(&entries, Ttl::Never).await.unwrap();

    assert!(t.delete("a:1").await.unwrap());
    assert!(!t.l1().exists("a:1").await.unwrap() && !t.l2().exists("a:1").await.unwrap());
    assert!(!t.delete("a:1").await.unwrap());
    // A copy only L1 holds (L2 lost it) is removed and reported.
    t.l1().set("orphan", v("o"), Ttl::Never).await.unwrap();
    assert!(t.delete("orphan").await.unwrap());
    assert!(!t.l1().exists("orphan").await.unwrap());

    // The count is L2's: the entries the cache as a whole no longer has.
    t.l1().set("a:only-in-l1", v("x"), Ttl::Never).await.unwrap();
    assert_eq!(t.invalidate_pattern("a:*").await.unwrap(), 1);
    for key in ["a:2", "a:only-in-l1"] {
        assert!(
            !t.l1().exists(key).await.unwrap() && !t.l2().exists(key).await.unwrap(),
            "{key}"
        );
    }
    assert!(t.l1().exists("b:1").await.unwrap(), "non-matching keys stay");

    t.clear().await.unwrap();
    assert_eq!(t.l1().stats().await.entries, Some(0));
    assert_eq!(t.l2().stats().await.entries, Some(0));
}

#[tokio::test]
async fn stats_count_reads_as_the_caller_sees_them() {
    let t = tiered(None);
    t.set("a", v("a"), Ttl::Never).await.unwrap();
    t.l2().set("b", v("b"), Ttl::Never).await.unwrap();
    t.l2().set("c", v("c"), Ttl::Never).await.unwrap();

    assert!(t.get("a").await.unwrap().is_some()); // L1 hit
    assert!(t.get("b").await.unwrap().is_some()); // L2 hit, promoted
    assert!(t.get("b").await.unwrap().is_some()); // L1 hit
    assert!(t.get("missing").await.unwrap().is_none()); // miss in both
    let got = t.get_many(&["a", "c", "missing", "c"]).await.unwrap(); // L1, L2, miss, L2
    assert_eq!(got, vec![Some(v("a")), Some(v("c")), None, Some(v("c"))]);
    assert!(t.get_with_ttl("c").await.unwrap().is_some()); // L1 hit (no cap)
    t.exists("a").await.unwrap();
    t.exists("nope").await.unwrap();
    t.ttl("a").await.unwrap();

    let s = t.stats().await;
    assert_eq!(s.backend, "tiered");
    assert_eq!((s.hits, s.misses, s.writes, s.errors), (7, 2, 1, 0));
    let c = t.tier_counters();
    assert_eq!(c.l1_hits + c.l2_hits, s.hits);
    assert_eq!((c.l1_hits, c.l2_hits, c.promotions), (4, 3, 3));
    assert_eq!(s.inner.len(), 2);
    assert_eq!(
        (s.inner[0].backend.as_str(), s.inner[1].backend.as_str()),
        ("memory", "memory")
    );
    assert_eq!(s.inner[0].hits, c.l1_hits, "L1's own hits are the L1 hits");
    assert_eq!(s.entries, Some(3), "entries are L2's");
    assert_eq!(t.stats().await.hits, 7, "stats() is not a read");
}

#[tokio::test]
async fn get_many_promotes_hits_with_their_remaining_ttl() {
    let t = tiered(None);
    t.l2().set("short", v("s"), Ttl::secs(2)).await.unwrap();
    t.l2().set("never", v("n"), Ttl::Never).await.unwrap();
    sleep_ms(300).await;
    let got = t.get_many(&["short", "never", "missing"]).await.unwrap();
    assert_eq!(got, vec![Some(v("s")), Some(v("n")), None]);
    let l2_left = millis(t.l2().ttl("short").await.unwrap());
    let l1_left = millis(t.l1().ttl("short").await.unwrap());
    assert!(
        l1_left <= 1_700 && l1_left <= l2_left,
        "{l1_left}ms in L1, {l2_left}ms in L2"
    );
    assert_eq!(t.l1().ttl("never").await.unwrap(), Some(Expiry::Never));
    assert_eq!(t.tier_counters().promotions, 2);
}

#[tokio::test]
async fn get_with_ttl_reports_the_entry_lifetime_not_the_l1_cap() {
    let t = tiered(Some(Duration::from_secs(5)));
    t.set("k", v("v"), Ttl::Never).await.unwrap();
    assert_eq!(t.get_with_ttl("k").await.unwrap(), Some((v("v"), Expiry::Never)));
    assert_eq!(t.tier_counters(), {
        let mut c = TierCounters::default();
        c.l2_hits = 1;
        c.promotions = 1;
        c
    });
}

#[tokio::test]
async fn an_invalid_configuration_is_refused() {
    let config = TieredConfig::default().with_l1_ttl(Some(Duration::ZERO));
    let err = TieredCache::with_config(mem(), mem(), config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.message().contains("l1_ttl = 0ns is out of range"), "{err}");
}

#[tokio::test]
async fn without_promotion_l2_hits_stay_out_of_l1() {
    let config = TieredConfig::default().with_promote_on_read(false);
    let t = TieredCache::with_config(mem(), mem(), config).unwrap();
    t.l2().set("a", v("1"), Ttl::Never).await.unwrap();
    t.l2().set("b", v("2"), Ttl::Never).await.unwrap();
    assert_eq!(t.get("a").await.unwrap(), Some(v("1")));
    assert_eq!(
        t.get_many(&["a", "b"]).await.unwrap(),
        vec![Some(v("1")), Some(v("2"))]
    );
    assert!(t.get_with_ttl("b").await.unwrap().is_some());
    // Nothing was copied into L1, and nothing counts as skipped: promotion is off.
    assert_eq!(t.l1().get("a").await.unwrap(), None);
    assert_eq!(t.l1().get("b").await.unwrap(), None);
    let c = t.tier_counters();
    assert_eq!((c.l2_hits, c.promotions, c.promotions_skipped), (4, 0, 0));
    // Writes still go through both tiers.
    t.set("c", v("3"), Ttl::Never).await.unwrap();
    assert_eq!(t.l1().get("c").await.unwrap(), Some(v("3")));
}
