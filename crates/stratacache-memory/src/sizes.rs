//! [`Sizes`]: the entries and bytes held by a [`MemoryCache`](crate::MemoryCache), kept
//! incrementally so that [`Cache::stats`](stratacache_core::Cache::stats) is O(1) in entries.
//!
//! The counts follow moka's hash map, not the caller's futures:
//!
//! - an entry is **added** from the [`moka::Expiry`] callbacks (`expire_after_create` for a new
//!   entry, `expire_after_update` for a replacement). moka calls exactly one of them for every value
//!   it stores, synchronously, right after the map changed (writes through `insert` and through
//!   `and_compute_with` alike). A write future dropped before it reached the map adds nothing; one
//!   dropped after it did cannot undo the count either;
//! - an entry is **removed** from the eviction listener, which moka calls for every value that
//!   leaves the map, whatever the cause (delete, replacement, capacity, expiry, `invalidate_all`).
//!   moka keeps a notification interrupted by a dropped future and delivers it on the cache's next
//!   operation or maintenance run.
//!
//! A removal may be counted a moment before the matching addition (another task deletes an entry
//! between moka's map insert and its expiry callback), so the counters are signed and read as 0
//! when transiently negative.

use std::sync::atomic::{AtomicI64, Ordering};

use stratacache_core::Bytes;

/// Bytes charged for an entry: key plus value.
pub(crate) fn entry_size(key: &str, value: &Bytes) -> u64 {
    (key.len() + value.len()) as u64
}

/// Entry and byte counts of the values in moka's map.
#[derive(Debug, Default)]
pub(crate) struct Sizes {
    entries: AtomicI64,
    bytes: AtomicI64,
}

impl Sizes {
    /// Counts a value moka stored under `key`.
    pub(crate) fn added(&self, key: &str, value: &Bytes) {
        self.entries.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(signed(entry_size(key, value)), Ordering::Relaxed);
    }

    /// Counts a value that left moka's map.
    pub(crate) fn removed(&self, key: &str, value: &Bytes) {
        self.entries.fetch_sub(1, Ordering::Relaxed);
        self.bytes
            .fetch_sub(signed(entry_size(key, value)), Ordering::Relaxed);
    }

    /// Entries in the map (including expired ones moka has not removed yet).
    pub(crate) fn entries(&self) -> u64 {
        unsigned(self.entries.load(Ordering::Relaxed))
    }

    /// Bytes of the keys and values of [`entries`](Self::entries).
    pub(crate) fn bytes(&self) -> u64 {
        unsigned(self.bytes.load(Ordering::Relaxed))
    }
}

/// An entry's size as a signed delta. Sizes of values held in memory are far below `i64::MAX`;
/// saturate rather than wrap all the same.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count read while a removal ran ahead of its addition is 0, not a huge number.
fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_additions_and_removals_and_never_read_negative() {
        let sizes = Sizes::default();
        let v = Bytes::from_static(b"12345");
        sizes.removed("ab", &v);
        assert_eq!(
            (sizes.entries(), sizes.bytes()),
            (0, 0),
            "a removal ahead of its addition"
        );
        sizes.added("ab", &v);
        assert_eq!((sizes.entries(), sizes.bytes()), (0, 0));
        sizes.added("ab", &v);
        sizes.added("c", &Bytes::new());
        assert_eq!((sizes.entries(), sizes.bytes()), (2, 8));
        sizes.removed("c", &Bytes::new());
        assert_eq!((sizes.entries(), sizes.bytes()), (1, 7));
    }
}
