//! Reads and writes of the same key interleaving between the tiers: L1 must never end up holding a
//! value other than the one L2 holds. Each race is staged by holding an L2 operation of the test
//! double until the competing operation is done.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Gate, L2_READS, Op, Script, Tiered, tiered, v};
use stratacache_core::{Bytes, Cache, Ttl};

/// L1 holds nothing, or what L2 holds.
async fn assert_coherent(t: &Tiered, key: &str) {
    let in_l1 = t.l1().get(key).await.unwrap();
    let in_l2 = t.l2().inner().get(key).await.unwrap();
    assert!(
        in_l1.is_none() || in_l1 == in_l2,
        "{key}: L1 holds {in_l1:?}, L2 holds {in_l2:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_racing_a_write_does_not_leave_the_old_value() {
    let t = tiered();
    t.set("k", v("old"), Ttl::Never).await.unwrap();
    t.l1().delete("k").await.unwrap();
    t.l2().script_all(&L2_READS, &Script::after(Script::Hang));

    // The read fetches "old" from L2, then is held up before promoting it...
    let reader = tokio::spawn({
        let t = Arc::clone(&t);
        async move { t.get("k").await.unwrap() }
    });
    t.l2().wait_held(1).await;
    // ...while a write stores "new" in both tiers.
    t.set("k", v("new"), Ttl::Never).await.unwrap();
    t.l2().script_all(&L2_READS, &Script::Pass);
    assert_eq!(
        reader.await.unwrap(),
        Some(v("old")),
        "the read started before the write"
    );

    assert_coherent(&t, "k").await;
    assert_eq!(t.get("k").await.unwrap(), Some(v("new")));
    assert!(t.tier_counters().promotions_skipped >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_promotion_racing_a_write_does_not_leave_the_old_value() {
    let t = tiered();
    t.set("k", v("old"), Ttl::Never).await.unwrap();
    t.l1().delete("k").await.unwrap();
    t.l2().script_all(&L2_READS, &Script::after(Script::Hang));

    let reader = tokio::spawn({
        let t = Arc::clone(&t);
        async move { t.get_many(&["k"]).await.unwrap() }
    });
    t.l2().wait_held(1).await;
    // The batch read then asks L2 for the TTL of "k": it finds the new entry's.
    t.set("k", v("new"), Ttl::Never).await.unwrap();
    t.l2().script_all(&L2_READS, &Script::Pass);
    assert_eq!(reader.await.unwrap(), vec![Some(v("old"))]);

    assert_coherent(&t, "k").await;
    assert_eq!(t.get_many(&["k"]).await.unwrap(), vec![Some(v("new"))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_racing_a_delete_does_not_resurrect_the_value() {
    let t = tiered();
    t.set("k", v("old"), Ttl::Never).await.unwrap();
    t.set("m", v("old"), Ttl::Never).await.unwrap();
    t.l1().invalidate_pattern("*").await.unwrap();
    t.l2().script_all(&L2_READS, &Script::after(Script::Hang));

    let readers = ["k", "m"].map(|key| {
        let t = Arc::clone(&t);
        tokio::spawn(async move { t.get(key).await.unwrap() })
    });
    t.l2().wait_held(2).await;
    assert!(t.delete("k").await.unwrap());
    assert_eq!(t.invalidate_pattern("m*").await.unwrap(), 1);
    t.l2().script_all(&L2_READS, &Script::Pass);
    for reader in readers {
        assert_eq!(reader.await.unwrap(), Some(v("old")), "the reads started first");
    }

    for key in ["k", "m"] {
        assert_eq!(t.l1().get(key).await.unwrap(), None, "{key} came back in L1");
        assert_eq!(t.get(key).await.unwrap(), None, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writes_reaching_the_tiers_in_opposite_orders_leave_l1_coherent() {
    let t = tiered();
    let gate = Gate::new();
    t.l2().script(Op::Set, Script::after(Script::Hold(gate.clone())));
    // The first write reaches L2, then is held up before writing L1...
    let first = tokio::spawn({
        let t = Arc::clone(&t);
        async move { t.set("k", v("first"), Ttl::Never).await.unwrap() }
    });
    t.l2().wait_held(1).await;
    t.l2().script(Op::Set, Script::Pass);
    // ...while the second writes both tiers: L2 ends with "second", L1 would end with "first".
    t.set("k", v("second"), Ttl::Never).await.unwrap();
    gate.open();
    first.await.unwrap();

    assert_eq!(t.l2().inner().get("k").await.unwrap(), Some(v("second")));
    assert_coherent(&t, "k").await;
    assert_eq!(t.get("k").await.unwrap(), Some(v("second")));
}

/// Rounds of one read racing one write on a fresh key, with the write starting at varying points
/// of the read: after each round, the key is coherent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_racing_writes_at_varying_offsets_keep_l1_coherent() {
    let t = tiered();
    t.l2()
        .script_all(&L2_READS, &Script::after(Script::Delay(Duration::from_millis(3))));
    t.l2()
        .script(Op::Set, Script::after(Script::Delay(Duration::from_millis(1))));
    for round in 0..60u64 {
        let key = format!("k{round}");
        t.l2().inner().set(&key, v("old"), Ttl::Never).await.unwrap();
        let reader = tokio::spawn({
            let (t, key) = (Arc::clone(&t), key.clone());
            async move {
                if round % 2 == 0 {
                    t.get(&key).await.unwrap();
                } else {
                    t.get_many(&[&key]).await.unwrap();
                }
            }
        });
        tokio::time::sleep(Duration::from_micros(round % 6 * 700)).await;
        match round % 3 {
            0 => t
                .set(&key, Bytes::from(format!("new {round}")), Ttl::Never)
                .await
                .unwrap(),
            1 => t.set_many(&[(&key, v("batch"))], Ttl::Never).await.unwrap(),
            _ => drop(t.delete(&key).await.unwrap()),
        }
        reader.await.unwrap();
        assert_coherent(&t, &key).await;
    }
}

/// Sets `keys` in both tiers, then empties L1, so that the next reads go to L2.
async fn only_in_l2(t: &Tiered, keys: &[&str]) {
    for key in keys {
        t.set(key, v("old"), Ttl::Never).await.unwrap();
    }
    t.l1().invalidate_pattern("*").await.unwrap();
}

/// Starts `t.invalidate_pattern(pattern)` (or `clear` for `None`) and returns once it waits in
/// L2, before L2 removed anything.
async fn held_invalidation(t: &Arc<Tiered>, pattern: Option<&'static str>) -> tokio::task::JoinHandle<()> {
    t.l2()
        .script_all(&[Op::InvalidatePattern, Op::Clear], &Script::Hang);
    let task = tokio::spawn({
        let t = Arc::clone(t);
        async move {
            match pattern {
                Some(pattern) => drop(t.invalidate_pattern(pattern).await.unwrap()),
                None => t.clear().await.unwrap(),
            }
        }
    });
    t.l2().wait_held(1).await;
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_an_invalidation_does_not_match_are_promoted_and_written_during_it() {
    let t = tiered();
    only_in_l2(&t, &["user:1", "item:1", "item:2"]).await;
    let invalidation = held_invalidation(&t, Some("user:*")).await;

    // While `user:*` is being invalidated, `item:*` keys are promoted into L1 as usual...
    assert_eq!(t.get("item:1").await.unwrap(), Some(v("old")));
    assert_eq!(t.get_many(&["item:2"]).await.unwrap(), vec![Some(v("old"))]);
    assert_eq!(t.tier_counters().promotions, 2, "{:?}", t.tier_counters());
    assert_eq!(t.l1().get("item:1").await.unwrap(), Some(v("old")));
    assert_eq!(t.l1().get("item:2").await.unwrap(), Some(v("old")));
    // ...and written into it.
    t.set("item:3", v("new"), Ttl::Never).await.unwrap();
    assert_eq!(t.l1().get("item:3").await.unwrap(), Some(v("new")));

    t.l2()
        .script_all(&[Op::InvalidatePattern, Op::Clear], &Script::Pass);
    invalidation.await.unwrap();
    for key in ["item:1", "item:2", "item:3"] {
        assert!(t.l1().get(key).await.unwrap().is_some(), "{key} left L1");
        assert_coherent(&t, key).await;
    }
    assert_eq!(t.get("user:1").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_an_invalidation_matches_are_not_resurrected_by_reads_or_writes_during_it() {
    for pattern in [Some("user:*"), Some("user:1"), None] {
        let t = tiered();
        only_in_l2(&t, &["user:1"]).await;
        let invalidation = held_invalidation(&t, pattern).await;

        // L2 still holds the old value: the read returns it but must not copy it into L1, where
        // it would outlive the invalidation.
        assert_eq!(t.get("user:1").await.unwrap(), Some(v("old")), "{pattern:?}");
        assert_eq!(t.get_many(&["user:1"]).await.unwrap(), vec![Some(v("old"))]);
        assert_eq!(t.l1().get("user:1").await.unwrap(), None, "{pattern:?}: promoted");
        assert_eq!(t.tier_counters().promotions, 0, "{pattern:?}");
        // A write during the invalidation, which then removes it from L2, leaves no L1 copy.
        t.set("user:2", v("new"), Ttl::Never).await.unwrap();

        t.l2()
            .script_all(&[Op::InvalidatePattern, Op::Clear], &Script::Pass);
        invalidation.await.unwrap();
        assert_coherent(&t, "user:1").await;
        assert_eq!(t.get("user:1").await.unwrap(), None, "{pattern:?}");
        assert_coherent(&t, "user:2").await;
    }
}
