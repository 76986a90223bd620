//! Lock-free counters behind [`EncryptionStats`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use stratacache_core::EncryptionStats;

use crate::envelope::{Malformed, OpenError};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    encrypted: AtomicU64,
    decrypted: AtomicU64,
    bytes_encrypted: AtomicU64,
    bytes_decrypted: AtomicU64,
    encrypt_nanos: AtomicU64,
    decrypt_nanos: AtomicU64,
    failed_authentication: AtomicU64,
    failed_unknown_key: AtomicU64,
    failed_not_envelope: AtomicU64,
    failed_malformed: AtomicU64,
    legacy_plaintext_reads: AtomicU64,
    old_key_reads: AtomicU64,
    /// Writes that could not be sealed (random number generator failure, oversized value).
    seal_errors: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Counters {
    pub(crate) fn sealed(&self, plaintext_len: usize, took: Duration) {
        add(&self.encrypted, 1);
        add(&self.bytes_encrypted, plaintext_len as u64);
        add(&self.encrypt_nanos, nanos(took));
    }

    pub(crate) fn seal_failed(&self) {
        add(&self.seal_errors, 1);
    }

    pub(crate) fn opened(&self, plaintext_len: usize, took: Duration, is_primary: bool) {
        add(&self.decrypted, 1);
        add(&self.bytes_decrypted, plaintext_len as u64);
        add(&self.decrypt_nanos, nanos(took));
        if !is_primary {
            add(&self.old_key_reads, 1);
        }
    }

    /// Counts a legacy plaintext read and returns how many there were so far.
    pub(crate) fn legacy_read(&self) -> u64 {
        self.legacy_plaintext_reads.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn open_failed(&self, e: &OpenError) {
        let counter = match e {
            OpenError::NotEnvelope => &self.failed_not_envelope,
            OpenError::Malformed(
                Malformed::Truncated { .. } | Malformed::UnsupportedVersion(_) | Malformed::DamagedMagic,
            ) => &self.failed_malformed,
            OpenError::UnknownKey(_) => &self.failed_unknown_key,
            OpenError::Authentication(_) => &self.failed_authentication,
        };
        add(counter, 1);
    }

    /// Operations this layer failed (reads it refused, writes it could not seal).
    pub(crate) fn errors(&self) -> u64 {
        self.snapshot()
            .failures()
            .saturating_add(self.seal_errors.load(Ordering::Relaxed))
    }

    pub(crate) fn snapshot(&self) -> EncryptionStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = EncryptionStats::default();
        s.encrypted = load(&self.encrypted);
        s.decrypted = load(&self.decrypted);
        s.bytes_encrypted = load(&self.bytes_encrypted);
        s.bytes_decrypted = load(&self.bytes_decrypted);
        s.encrypt_nanos = load(&self.encrypt_nanos);
        s.decrypt_nanos = load(&self.decrypt_nanos);
        s.failed_authentication = load(&self.failed_authentication);
        s.failed_unknown_key = load(&self.failed_unknown_key);
        s.failed_not_envelope = load(&self.failed_not_envelope);
        s.failed_malformed = load(&self.failed_malformed);
        s.legacy_plaintext_reads = load(&self.legacy_plaintext_reads);
        s.old_key_reads = load(&self.old_key_reads);
        s
    }
}
