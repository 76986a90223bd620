//! The memory cache's tag index: which keys carry which tag, kept in step with the entries (a key
//! that is deleted, expires or is evicted leaves every tag it had).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

#[derive(Debug, Default)]
struct Index {
    by_tag: HashMap<String, HashSet<String>>,
    by_key: HashMap<String, HashSet<String>>,
}

/// Tags to keys and keys to tags, under one lock held for map operations only.
#[derive(Debug, Default)]
pub(crate) struct TagIndex(Mutex<Index>);

impl TagIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `key` to `tags`.
    pub(crate) fn add(&self, key: &str, tags: &[&str]) {
        let mut index = self.lock();
        for tag in tags {
            index
                .by_tag
                .entry((*tag).to_owned())
                .or_default()
                .insert(key.to_owned());
        }
        index
            .by_key
            .entry(key.to_owned())
            .or_default()
            .extend(tags.iter().map(|t| (*t).to_owned()));
    }

    /// The key is gone: it leaves every tag (a tag left without keys is dropped).
    pub(crate) fn forget_key(&self, key: &str) {
        let mut index = self.lock();
        let Some(tags) = index.by_key.remove(key) else {
            return;
        };
        for tag in tags {
            if let Some(keys) = index.by_tag.get_mut(&tag) {
                keys.remove(key);
                if keys.is_empty() {
                    index.by_tag.remove(&tag);
                }
            }
        }
    }

    /// Takes `tag` and its keys out of the index, at once: a key tagged after this call belongs
    /// to a new tag of the same name.
    pub(crate) fn take(&self, tag: &str) -> Vec<String> {
        let mut index = self.lock();
        let Some(keys) = index.by_tag.remove(tag) else {
            return Vec::new();
        };
        for key in &keys {
            if let Some(tags) = index.by_key.get_mut(key) {
                tags.remove(tag);
                if tags.is_empty() {
                    index.by_key.remove(key);
                }
            }
        }
        keys.into_iter().collect()
    }

    /// Forgets everything (the cache was cleared).
    pub(crate) fn clear(&self) {
        *self.lock() = Index::default();
    }

    /// How many tags, and how many (tag, key) memberships, the index holds.
    pub(crate) fn size(&self) -> (usize, usize) {
        let index = self.lock();
        (index.by_tag.len(), index.by_tag.values().map(HashSet::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_leave_their_tags_and_empty_tags_go() {
        let index = TagIndex::default();
        index.add("a", &["t1", "t2"]);
        index.add("b", &["t1"]);
        assert_eq!(index.size(), (2, 3));
        index.forget_key("a");
        assert_eq!(index.size(), (1, 1));
        let mut taken = index.take("t1");
        taken.sort();
        assert_eq!(taken, ["b"]);
        assert_eq!(index.size(), (0, 0));
        assert!(index.take("t1").is_empty());
    }
}
