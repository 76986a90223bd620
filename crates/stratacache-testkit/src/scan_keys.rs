//! Behaviour checks for [`ScanKeys`] implementations, run by each backend that offers it.

use std::collections::BTreeSet;
use std::time::Duration;

use stratacache_core::{Bytes, Expiry, ScanKeys, Ttl};

/// Walks every page of `pattern` and returns the distinct keys.
///
/// # Panics
///
/// If the backend fails or never finishes (more than 100 000 pages).
pub async fn all_keys<C: ScanKeys + ?Sized>(cache: &C, pattern: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut cursor = 0;
    for _ in 0..100_000 {
        let (next, page) = cache.scan_keys(pattern, cursor).await.expect("scan_keys");
        keys.extend(page);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
    panic!("scan_keys did not finish after 100 000 pages");
}

/// Checks [`ScanKeys`] on an EMPTY cache: scanning finds exactly the matching live keys across
/// pages, and `replace_if_unchanged` replaces only an unchanged value, keeping its TTL.
///
/// # Panics
///
/// On the first behaviour that differs, with a message saying which.
pub async fn check<C: ScanKeys + ?Sized>(cache: &C) {
    // Enough keys to span several pages of a SCAN with a small COUNT.
    let entries: Vec<(String, Bytes)> = (0..1_200)
        .map(|i| (format!("scan:{i}"), Bytes::from(format!("value {i}"))))
        .collect();
    let refs: Vec<(&str, Bytes)> = entries.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    cache.set_many(&refs, Ttl::Never).await.expect("set_many");
    cache
        .set("other:1", Bytes::from_static(b"x"), Ttl::Never)
        .await
        .expect("set");
    cache
        .set("scan:expired", Bytes::from_static(b"x"), Ttl::millis(5))
        .await
        .expect("set");
    tokio::time::sleep(Duration::from_millis(50)).await;

    let found = all_keys(cache, "scan:*").await;
    let expected: BTreeSet<String> = entries.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(
        found, expected,
        "scan_keys(\"scan:*\") must return exactly the live matching keys"
    );
    assert_eq!(
        all_keys(cache, "scan:1?").await.len(),
        10,
        "scan_keys(\"scan:1?\")"
    );
    assert!(
        all_keys(cache, "nothing:*").await.is_empty(),
        "scan_keys of a pattern matching nothing"
    );

    // Replace only when unchanged; the TTL stays.
    cache
        .set("cas", Bytes::from_static(b"v1"), Ttl::secs(60))
        .await
        .expect("set");
    assert!(
        !cache
            .replace_if_unchanged("cas", b"stale", Bytes::from_static(b"v2"))
            .await
            .expect("replace"),
        "replace_if_unchanged with a stale expected value must not replace"
    );
    assert_eq!(cache.get("cas").await.expect("get").as_deref(), Some(&b"v1"[..]));
    assert!(
        cache
            .replace_if_unchanged("cas", b"v1", Bytes::from_static(b"v2"))
            .await
            .expect("replace"),
        "replace_if_unchanged with the current value must replace"
    );
    assert_eq!(cache.get("cas").await.expect("get").as_deref(), Some(&b"v2"[..]));
    match cache.ttl("cas").await.expect("ttl") {
        Some(Expiry::After(d)) => assert!(d > Duration::from_secs(55), "the TTL was not kept: {d:?}"),
        other => panic!("the TTL was not kept: {other:?}"),
    }
    cache
        .set("forever", Bytes::from_static(b"a"), Ttl::Never)
        .await
        .expect("set");
    assert!(
        cache
            .replace_if_unchanged("forever", b"a", Bytes::from_static(b"b"))
            .await
            .expect("replace")
    );
    assert_eq!(
        cache.ttl("forever").await.expect("ttl"),
        Some(Expiry::Never),
        "a never-expiring entry stays so"
    );
    assert!(
        !cache
            .replace_if_unchanged("missing", b"", Bytes::from_static(b"x"))
            .await
            .expect("replace"),
        "replace_if_unchanged must not create a missing key"
    );
    assert!(cache.get("missing").await.expect("get").is_none());
}
