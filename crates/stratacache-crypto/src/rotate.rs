//! Re-encryption of every entry under the primary key, batch by batch: the key-rotation pass.

use stratacache_core::{Bytes, Result, ScanKeys};

use crate::KeyRing;
use crate::envelope::{inspect, is_legacy_plaintext, open, seal};

/// What to do during a [`reencrypt`] pass.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReencryptOptions {
    /// The keys to visit, as a glob (default `*`: the whole namespace of the inner cache).
    pub pattern: String,
    /// Also seal values that are not envelopes (plaintext left from before encryption was turned
    /// on), completing a migration. Default `false`: they are counted and left alone.
    pub seal_plaintext: bool,
}

impl ReencryptOptions {
    /// Visit only the keys matching `pattern` (glob).
    #[must_use]
    pub fn pattern(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = pattern.into();
        self
    }

    /// Also seal plaintext values (completing a migration from plaintext).
    #[must_use]
    pub fn seal_plaintext(mut self, seal: bool) -> Self {
        self.seal_plaintext = seal;
        self
    }
}

impl Default for ReencryptOptions {
    fn default() -> Self {
        Self {
            pattern: "*".to_owned(),
            seal_plaintext: false,
        }
    }
}

/// The outcome of a [`reencrypt`] pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ReencryptReport {
    /// Keys visited.
    pub scanned: u64,
    /// Envelopes re-sealed under the primary key (and plaintext values sealed, with
    /// `seal_plaintext`).
    pub reencrypted: u64,
    /// Envelopes already sealed under the primary key.
    pub already_current: u64,
    /// Values that changed or disappeared between the read and the write (another writer won; its
    /// value was written through the layer, so it is sealed under the primary key already).
    pub raced: u64,
    /// Plaintext values left alone (without `seal_plaintext`).
    pub plaintext: u64,
    /// Values that could not be opened with any key of the ring (wrong key, tampered data, a
    /// damaged envelope). They are left in place: reads of them fail until they expire or are
    /// overwritten.
    pub undecryptable: u64,
}

/// Re-seals every entry of `inner` (the cache UNDER the encryption layer, e.g. the `RedisCache`)
/// matching `options.pattern` whose envelope was sealed under an older key of `ring`, so the older
/// keys can then be retired.
///
/// Works one [`ScanKeys::scan_keys`] page at a time: one `get_many` per page, then one
/// [`ScanKeys::replace_if_unchanged`] per value to rewrite, which keeps the entry's TTL and never
/// overwrites a value written meanwhile. Redis is never blocked for longer than one command.
///
/// # Errors
///
/// Backend failures; the pass stops at the first one (it can simply be run again: entries
/// already re-sealed are skipped).
pub async fn reencrypt<C: ScanKeys + ?Sized>(
    inner: &C,
    ring: &KeyRing,
    options: &ReencryptOptions,
) -> Result<ReencryptReport> {
    let mut report = ReencryptReport::default();
    let mut cursor = 0;
    loop {
        let (next, keys) = inner.scan_keys(&options.pattern, cursor).await?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let values = if refs.is_empty() {
            Vec::new()
        } else {
            inner.get_many(&refs).await?
        };
        for (key, value) in keys.iter().zip(values) {
            report.scanned += 1;
            let Some(stored) = value else {
                report.raced += 1; // expired or deleted since the scan
                continue;
            };
            let plaintext = match inspect(&stored) {
                Some(header) if header.key_id == ring.primary_id() => {
                    report.already_current += 1;
                    continue;
                }
                Some(_) => match open(ring, key, &stored) {
                    Ok(opened) => opened.plaintext,
                    Err(_) => {
                        report.undecryptable += 1;
                        continue;
                    }
                },
                None if !is_legacy_plaintext(&stored) => {
                    report.undecryptable += 1; // a damaged envelope, never mistaken for plaintext
                    continue;
                }
                None if options.seal_plaintext => stored.clone(),
                None => {
                    report.plaintext += 1;
                    continue;
                }
            };
            let sealed = Bytes::from(seal(ring, key, &plaintext));
            if inner.replace_if_unchanged(key, &stored, sealed).await? {
                report.reencrypted += 1;
            } else {
                report.raced += 1;
            }
        }
        if next == 0 {
            return Ok(report);
        }
        cursor = next;
    }
}
