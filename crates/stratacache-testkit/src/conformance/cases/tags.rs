//! Tags: `set_with_tags` and `invalidate_tag` ([`TagsExt`]), on every backend.

use std::time::Duration;

use stratacache_core::{Bytes, Cache, ErrorKind, SharedCache, TagsExt, Ttl};

use super::{Ctx, MINUTE, Must, assert_err, assert_gone, assert_value, sleep};

async fn tagged(cache: &SharedCache, key: &str, tags: &[&str]) {
    cache
        .set_with_tags(
            key,
            Bytes::copy_from_slice(key.as_bytes()),
            Ttl::After(MINUTE),
            tags,
        )
        .await
        .must(format_args!("set_with_tags({key:?}, {tags:?})"));
}

/// A tag removes exactly its entries, once; other tags, untagged entries and a reused tag name
/// behave; invalid tags are refused.
pub(crate) async fn tags(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    tagged(&cache, "tag:a", &["t1"]).await;
    tagged(&cache, "tag:b", &["t1", "t2"]).await;
    tagged(&cache, "tag:c", &["t2"]).await;
    cache
        .set("tag:d", Bytes::from_static(b"plain"), Ttl::After(MINUTE))
        .await
        .must("set(tag:d)");

    assert_eq!(cache.invalidate_tag("t1").await.must("invalidate_tag(t1)"), 2);
    assert_gone(&cache, "tag:a", "after invalidate_tag(t1)").await;
    assert_gone(&cache, "tag:b", "after invalidate_tag(t1)").await;
    assert_value(
        cache.get("tag:c").await.must("get(tag:c)"),
        b"tag:c",
        "get(tag:c) after t1",
    );
    assert_value(
        cache.get("tag:d").await.must("get(tag:d)"),
        b"plain",
        "an untagged entry",
    );
    assert_eq!(
        cache.invalidate_tag("t1").await.must("invalidate_tag(t1) again"),
        0
    );
    // b was in t2 too: only c is left to remove.
    assert_eq!(cache.invalidate_tag("t2").await.must("invalidate_tag(t2)"), 1);
    assert_gone(&cache, "tag:c", "after invalidate_tag(t2)").await;
    assert_eq!(cache.invalidate_tag("never-used").await.must("an unknown tag"), 0);

    // A removed tag's name can be used again, and only names what was tagged afterwards.
    tagged(&cache, "tag:e", &["t1"]).await;
    assert_eq!(cache.invalidate_tag("t1").await.must("a reused tag"), 1);

    // An overwrite without tags keeps the entry's tags.
    tagged(&cache, "tag:f", &["t3"]).await;
    cache
        .set("tag:f", Bytes::from_static(b"new"), Ttl::After(MINUTE))
        .await
        .must("set(tag:f)");
    assert_eq!(cache.invalidate_tag("t3").await.must("invalidate_tag(t3)"), 1);

    for bad in ["", "with\ncontrol"] {
        assert_err(
            cache.invalidate_tag(bad).await,
            ErrorKind::InvalidInput,
            format_args!("invalidate_tag({bad:?})"),
        );
        assert_err(
            cache
                .set_with_tags("tag:g", Bytes::new(), Ttl::Never, &[bad])
                .await,
            ErrorKind::InvalidInput,
            format_args!("set_with_tags with the tag {bad:?}"),
        );
    }
    assert!(
        !cache.exists("tag:g").await.must("exists(tag:g)"),
        "an invalid tag writes nothing"
    );
    let long = "x".repeat(stratacache_core::MAX_TAG_LEN + 1);
    assert_err(
        cache.invalidate_tag(&long).await,
        ErrorKind::InvalidInput,
        "a tag too long",
    );
    // The limit counts characters, as the admin API's OpenAPI document does.
    let wide = "é".repeat(stratacache_core::MAX_TAG_LEN);
    cache
        .set_with_tags("tag:wide", Bytes::from_static(b"v"), Ttl::Never, &[&wide])
        .await
        .must("set_with_tags with a tag of MAX_TAG_LEN two-byte characters");
    assert_eq!(
        cache.invalidate_tag(&wide).await.must("invalidate_tag(wide)"),
        1,
        "a tag of MAX_TAG_LEN two-byte characters is a tag"
    );
}

/// An expired tagged entry is not counted as removed, and a deleted one leaves its tag.
pub(crate) async fn tags_after_expiry_and_delete(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    cache
        .set_with_tags(
            "tx:short",
            Bytes::from_static(b"v"),
            Ttl::After(Duration::from_millis(100)),
            &["tx"],
        )
        .await
        .must("set_with_tags(tx:short)");
    tagged(&cache, "tx:deleted", &["tx"]).await;
    tagged(&cache, "tx:kept", &["tx"]).await;
    assert!(cache.delete("tx:deleted").await.must("delete(tx:deleted)"));
    sleep(1_500).await;
    assert_eq!(
        cache.invalidate_tag("tx").await.must("invalidate_tag(tx)"),
        1,
        "only tx:kept was live"
    );
    assert_gone(&cache, "tx:kept", "after invalidate_tag(tx)").await;
}

/// `set_with_tags` racing `invalidate_tag` of the same tag: each entry is either removed or keeps
/// its tag, so one more invalidation afterwards leaves none of them.
pub(crate) async fn tags_under_concurrency(ctx: Ctx<'_>) {
    let cache = ctx.cache().await;
    let writers = (0..4).map(|w| {
        let cache = cache.clone();
        async move {
            for i in 0..50 {
                tagged(&cache, &format!("tr:{w}:{i}"), &["race"]).await;
            }
        }
    });
    let invalidator = async {
        let mut removed = 0;
        for _ in 0..20 {
            removed += cache.invalidate_tag("race").await.must("invalidate_tag(race)");
            tokio::task::yield_now().await;
        }
        removed
    };
    let (removed, ()) = tokio::join!(invalidator, async {
        futures_join_all(writers).await;
    });
    let last = cache
        .invalidate_tag("race")
        .await
        .must("the last invalidate_tag(race)");
    assert_eq!(
        removed + last,
        200,
        "every entry was removed by exactly one invalidation"
    );
    for w in 0..4 {
        for i in 0..50 {
            let key = format!("tr:{w}:{i}");
            assert!(
                !cache.exists(&key).await.must("exists"),
                "{key} survived without its tag"
            );
        }
    }
}

/// Runs futures concurrently on this task (the testkit does not depend on `futures`).
async fn futures_join_all<F: Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
