//! Statistics: exact counters, and live-entry counts once entries expire.

use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Ttl};

use super::{Ctx, Must, pseudo_random, sleep};

/// Hits, misses and writes are exact; only reads count; sizes are reported when known.
pub(crate) async fn stats_accuracy(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let s = cache.stats().await;
    assert_eq!(
        (s.hits, s.misses, s.writes),
        (0, 0, 0),
        "a fresh cache's (hits, misses, writes)"
    );
    assert_eq!(s.hit_ratio(), None, "hit_ratio before any read");
    if let Some(entries) = s.entries {
        assert_eq!(entries, 0, "stats().entries of a fresh cache");
    }

    for key in ["st:a", "st:b", "st:c"] {
        cache
            .set(key, Bytes::from_static(b"value"), Ttl::Never)
            .await
            .must("set");
    }
    assert!(
        cache.get("st:a").await.must("get").is_some(),
        "get(\"st:a\") after set"
    );
    assert!(
        cache.get("st:m1").await.must("get").is_none(),
        "get of a missing key"
    );
    assert!(
        cache.get("st:m2").await.must("get").is_none(),
        "get of a missing key"
    );
    let got = cache.get_many(&["st:b", "st:m3", "st:m4"]).await.must("get_many");
    assert!(
        got[0].is_some() && got[1].is_none() && got[2].is_none(),
        "get_many returned {got:?}"
    );
    let batch = [
        ("st:d", Bytes::from_static(b"value")),
        ("st:e", Bytes::from_static(b"value")),
    ];
    cache.set_many(&batch, Ttl::secs(60)).await.must("set_many");
    // None of these is a read.
    cache.exists("st:a").await.must("exists");
    cache.exists("st:m5").await.must("exists");
    cache.ttl("st:a").await.must("ttl");
    cache.ttl("st:m6").await.must("ttl");
    assert!(cache.delete("st:e").await.must("delete"), "delete(\"st:e\")");
    cache.delete("st:m7").await.must("delete");

    let s = cache.stats().await;
    let script = "3 sets, get hit, 2 get misses, get_many of 1 hit + 2 misses, set_many of 2, \
                  exists/ttl/delete calls";
    assert_eq!(s.hits, 2, "hits after {script}");
    assert_eq!(s.misses, 4, "misses after {script}");
    assert_eq!(s.writes, 5, "writes after {script} (each set_many entry counts)");
    assert_eq!(s.hit_ratio(), Some(2.0 / 6.0), "hit_ratio after {script}");
    assert_eq!(
        s.removals, 1,
        "removals after one successful delete and one of a missing key"
    );
    if let Some(entries) = s.entries {
        assert_eq!(entries, 4, "stats().entries after {script} (4 live entries)");
    }
    if let Some(bytes) = s.bytes {
        assert!(bytes > 0, "stats().bytes is 0 with 4 live entries");
    }
    let again = cache.stats().await;
    assert_eq!(
        (again.hits, again.misses),
        (s.hits, s.misses),
        "stats() itself must not count reads"
    );
}

/// How long after expiring an entry may still be counted in `stats().entries`: a generous bound
/// (the memory backend purges within about a second) that only a backend which never purges, or
/// never stops counting purged entries, exceeds.
const PURGE_DEADLINE: Duration = Duration::from_secs(10);

/// Expiry is not a read and reading an expired entry is a miss. `stats().entries` may count an
/// expired entry until the backend purges it, but never fewer than the live entries nor more than
/// were written, and it reaches exactly the live entries once the expired ones are purged.
pub(crate) async fn stats_after_expiry(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let short: Vec<(String, Bytes)> = (0..3)
        .map(|i| (format!("se:short:{i}"), Bytes::from(pseudo_random(i, 100))))
        .collect();
    let short: Vec<(&str, Bytes)> = short.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    cache
        .set_many(&short, Ttl::millis(30))
        .await
        .must("set_many with Ttl::millis(30)");
    cache
        .set("se:long:1", Bytes::from_static(b"l1"), Ttl::Never)
        .await
        .must("set");
    cache
        .set("se:long:2", Bytes::from_static(b"l2"), Ttl::secs(60))
        .await
        .must("set");
    sleep(150).await;

    let s = cache.stats().await;
    assert_eq!((s.hits, s.misses), (0, 0), "expiry must not count as a read");
    if s.entries.is_some() {
        let expired_at = Instant::now();
        loop {
            let s = cache.stats().await;
            let Some(entries) = s.entries else {
                panic!("stats().entries became None after being reported: {s:?}");
            };
            assert!(
                (2..=5).contains(&entries),
                "stats().entries after 3 of 5 entries expired must lie between the 2 live entries \
                 and the 5 written: {s:?}"
            );
            if entries == 2 {
                break;
            }
            assert!(
                expired_at.elapsed() < PURGE_DEADLINE,
                "stats().entries still counts expired entries {PURGE_DEADLINE:?} after they \
                 expired (3 of 5; it must come down to the 2 live entries): {s:?}"
            );
            sleep(50).await;
        }
        let s = cache.stats().await;
        assert_eq!((s.hits, s.misses), (0, 0), "stats() must not count reads");
    }
    assert!(
        cache.get("se:short:0").await.must("get").is_none(),
        "get of an expired entry"
    );
    let s = cache.stats().await;
    assert_eq!(
        (s.hits, s.misses),
        (0, 1),
        "(hits, misses) after reading one expired entry"
    );
}
