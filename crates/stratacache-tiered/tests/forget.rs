//! Dropping L1 copies for changes another instance made in L2 (fleet invalidation): only L1 is
//! touched, and a promotion of the older value racing the removal does not leave it in L1.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{L2_READS, Script, tiered, v};
use stratacache_core::{Cache, Ttl};
use stratacache_memory::MemoryCache;
use stratacache_tiered::{TieredCache, TieredConfig};

#[tokio::test]
async fn forgetting_touches_l1_only_and_only_what_it_names() {
    let t = tiered();
    for key in ["user:1", "user:2", "item:1"] {
        t.set(key, v("old"), Ttl::Never).await.unwrap();
    }
    t.forget_keys(&["user:1"]).await.unwrap();
    assert_eq!(t.l1().get("user:1").await.unwrap(), None);
    assert_eq!(t.l1().get("user:2").await.unwrap(), Some(v("old")));
    assert_eq!(
        t.l2().inner().get("user:1").await.unwrap(),
        Some(v("old")),
        "L2 untouched"
    );

    t.forget_matching("user:*").await.unwrap();
    assert_eq!(t.l1().get("user:2").await.unwrap(), None);
    assert_eq!(t.l1().get("item:1").await.unwrap(), Some(v("old")));

    t.forget_all().await.unwrap();
    assert_eq!(t.l1().get("item:1").await.unwrap(), None);
    assert_eq!(t.l2().inner().get("item:1").await.unwrap(), Some(v("old")));
    t.forget_keys(&[]).await.unwrap();
    // Reads go to L2 again and see what the other instance wrote there.
    t.l2().inner().set("item:1", v("new"), Ttl::Never).await.unwrap();
    assert_eq!(t.get("item:1").await.unwrap(), Some(v("new")));
}

/// A read fetched "old" from L2 and is held before promoting it; meanwhile another instance
/// writes "new" to L2 and its message makes us forget the key. The promotion must not bring
/// "old" back into L1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_racing_a_forget_does_not_leave_the_older_value() {
    for how in ["keys", "matching", "all"] {
        let t = tiered();
        t.l2().inner().set("user:1", v("old"), Ttl::Never).await.unwrap();
        t.l2().script_all(&L2_READS, &Script::after(Script::Hang));
        let reader = tokio::spawn({
            let t = Arc::clone(&t);
            async move { t.get("user:1").await.unwrap() }
        });
        t.l2().wait_held(1).await;
        t.l2().inner().set("user:1", v("new"), Ttl::Never).await.unwrap();
        match how {
            "keys" => t.forget_keys(&["user:1"]).await.unwrap(),
            "matching" => t.forget_matching("user:*").await.unwrap(),
            _ => t.forget_all().await.unwrap(),
        }
        t.l2().script_all(&L2_READS, &Script::Pass);
        assert_eq!(
            reader.await.unwrap(),
            Some(v("old")),
            "{how}: the read began first"
        );
        assert_eq!(t.l1().get("user:1").await.unwrap(), None, "{how}: old promoted");
        assert_eq!(t.get("user:1").await.unwrap(), Some(v("new")), "{how}");
    }
}

/// While fleet invalidation cannot hear other instances, a run-time cap keeps new L1 copies
/// short-lived; lifting it restores the configured `l1_ttl`.
#[tokio::test]
async fn a_run_time_cap_shortens_new_l1_copies_until_it_is_lifted() {
    use std::time::Duration;
    use stratacache_core::Expiry;

    let t = TieredCache::with_config(
        MemoryCache::new(1000).unwrap(),
        MemoryCache::new(1000).unwrap(),
        TieredConfig::default().with_l1_ttl(Some(Duration::from_secs(60))),
    )
    .unwrap();
    let l1_left =
        async |t: &TieredCache<MemoryCache, MemoryCache>, key: &str| match t.l1().ttl(key).await.unwrap() {
            Some(Expiry::After(d)) => d,
            other => panic!("{key}: {other:?}"),
        };
    assert_eq!(t.l1_ttl(), Some(Duration::from_secs(60)));
    t.cap_l1_ttl(Some(Duration::from_secs(2)));
    assert_eq!(t.l1_ttl(), Some(Duration::from_secs(2)));
    t.set("written", v("v"), Ttl::Never).await.unwrap();
    assert!(l1_left(&t, "written").await <= Duration::from_secs(2));
    t.l2().set("promoted", v("v"), Ttl::Never).await.unwrap();
    t.get("promoted").await.unwrap();
    assert!(l1_left(&t, "promoted").await <= Duration::from_secs(2));
    // A cap above the configured one does not lengthen it.
    t.cap_l1_ttl(Some(Duration::from_secs(600)));
    assert_eq!(t.l1_ttl(), Some(Duration::from_secs(60)));
    t.cap_l1_ttl(None);
    t.set("later", v("v"), Ttl::Never).await.unwrap();
    assert!(l1_left(&t, "later").await > Duration::from_secs(50));

    // Without a configured l1_ttl, the cap alone applies, and L1 stops answering get_with_ttl
    // by itself (only L2 knows the entry's lifetime then).
    let t = TieredCache::with_config(
        MemoryCache::new(1000).unwrap(),
        MemoryCache::new(1000).unwrap(),
        TieredConfig::default().with_l1_ttl(None),
    )
    .unwrap();
    assert_eq!(t.l1_ttl(), None);
    t.cap_l1_ttl(Some(Duration::from_secs(3)));
    t.set("k", v("v"), Ttl::Never).await.unwrap();
    assert!(l1_left(&t, "k").await <= Duration::from_secs(3));
    assert_eq!(
        t.get_with_ttl("k").await.unwrap().unwrap().1,
        Expiry::Never,
        "L2's lifetime"
    );
}
