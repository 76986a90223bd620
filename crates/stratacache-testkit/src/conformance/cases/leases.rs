//! Leases: `acquire_lease`, `renew_lease` and `release_lease`, on every backend.

use std::time::Duration;

use stratacache_core::{Bytes, Cache, ErrorKind, Ttl};

use super::{Ctx, MINUTE, Must, assert_err, sleep};

/// A lease is exclusive to its holder until released; only the holder renews or releases it;
/// entries never see it (reads, pattern invalidation, `clear`); bad holders and durations are
/// refused.
pub(crate) async fn leases(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let take = |holder: &'static str| {
        let cache = &cache;
        async move {
            cache
                .acquire_lease("job", holder, MINUTE)
                .await
                .must(format_args!("acquire_lease(job, {holder})"))
        }
    };
    assert!(take("a").await, "a free lease is taken");
    assert!(!take("b").await, "a held lease is not taken by another holder");
    assert!(take("a").await, "its holder takes it again");
    assert!(
        !cache.renew_lease("job", "b", MINUTE).await.must("renew by b"),
        "only the holder renews"
    );
    assert!(cache.renew_lease("job", "a", MINUTE).await.must("renew by a"));
    assert!(
        !cache.release_lease("job", "b").await.must("release by b"),
        "only the holder releases"
    );
    assert!(!take("b").await, "still a's after b's release attempt");

    // Leases are not entries.
    assert_eq!(
        cache.get("job").await.must("get(job)"),
        None,
        "a lease is not an entry"
    );
    assert!(!cache.exists("job").await.must("exists(job)"));
    cache
        .set("job", Bytes::from_static(b"value"), Ttl::After(MINUTE))
        .await
        .must("set(job)");
    assert_eq!(
        cache.invalidate_pattern("*").await.must("invalidate_pattern(*)"),
        1,
        "only the entry"
    );
    cache.clear().await.must("clear");
    assert!(!take("b").await, "clear leaves leases alone");

    assert!(cache.release_lease("job", "a").await.must("release by a"));
    assert!(
        !cache.release_lease("job", "a").await.must("release again"),
        "released once"
    );
    assert!(
        !cache
            .renew_lease("job", "a", MINUTE)
            .await
            .must("renew after release")
    );
    assert!(take("b").await, "free once released");
    assert!(
        cache
            .acquire_lease("other", "a", MINUTE)
            .await
            .must("acquire(other)"),
        "leases are per key"
    );

    assert_err(
        cache.acquire_lease("job", "", MINUTE).await,
        ErrorKind::InvalidInput,
        "an empty holder",
    );
    assert_err(
        cache.acquire_lease("job", "a", Duration::ZERO).await,
        ErrorKind::InvalidInput,
        "a zero duration",
    );
    assert_err(
        cache.renew_lease("job", "b", Duration::ZERO).await,
        ErrorKind::InvalidInput,
        "a zero renewal",
    );
}

/// A lease ends by itself when its duration runs out, unless renewed.
pub(crate) async fn lease_expiry(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let short = Duration::from_millis(200);
    assert!(
        cache
            .acquire_lease("short", "a", short)
            .await
            .must("acquire(short)")
    );
    assert!(
        cache
            .acquire_lease("kept", "a", short)
            .await
            .must("acquire(kept)")
    );
    assert!(cache.renew_lease("kept", "a", MINUTE).await.must("renew(kept)"));
    sleep(800).await;
    assert!(
        cache
            .acquire_lease("short", "b", MINUTE)
            .await
            .must("acquire(short) by b"),
        "a lease that ran out is free"
    );
    assert!(
        !cache
            .renew_lease("short", "a", MINUTE)
            .await
            .must("renew(short) by a"),
        "the old holder lost it"
    );
    assert!(
        !cache
            .acquire_lease("kept", "b", MINUTE)
            .await
            .must("acquire(kept) by b"),
        "a renewed lease lasts"
    );
}
