//! [`EncryptionLayer`] and the wrapper it builds, [`Encrypted`].

use std::time::Instant;

use stratacache_core::{
    Bytes, Cache, CacheStats, EncryptionStats, Error, ErrorKind, Expiry, Layer, Result, Ttl, async_trait,
};

use crate::KeyRing;
use crate::counters::Counters;
use crate::envelope::{self, OpenError};

/// What the layer does with stored bytes that are not an envelope (see the crate documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlaintextPolicy {
    /// Bytes that are not an envelope are an [`ErrorKind::Decryption`] error, never returned.
    #[default]
    Reject,
    /// Bytes that do not start with the envelope's magic are legacy plaintext, written before
    /// encryption was turned on: they are returned as they are, counted in
    /// `legacy_plaintext_reads` and logged as a warning (without the value). Envelopes that fail
    /// to open are still errors. Writes are always encrypted, so a cache converts as entries are
    /// rewritten or expire, or when [`reencrypt`](crate::reencrypt) seals the rest
    /// (`seal_plaintext`); switch back to `Reject` once its report shows no plaintext left
    /// (`legacy_plaintext_reads` only sees values that are read).
    ///
    /// In this mode anyone who can write to the backend can make the application read a value of
    /// their choosing (by storing it unencrypted): use it only for the migration.
    Migrate,
}

/// A layer that encrypts values with XChaCha20-Poly1305 on their way into any [`Cache`] and
/// decrypts them on the way out, bound to their cache key.
///
/// `Clone` is cheap (the key ring is shared) and `Debug` shows key ids and labels, never keys.
/// See the [crate documentation](crate) for the envelope format, an example, the key ring and
/// where the layer belongs in a stack.
#[derive(Debug, Clone)]
pub struct EncryptionLayer {
    ring: KeyRing,
    policy: PlaintextPolicy,
}

impl EncryptionLayer {
    /// A layer sealing with `ring`'s primary key, refusing plaintext ([`PlaintextPolicy::Reject`]).
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring,
            policy: PlaintextPolicy::Reject,
        }
    }

    /// Sets what happens to stored bytes that are not an envelope.
    #[must_use]
    pub fn with_plaintext_policy(mut self, policy: PlaintextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The key ring.
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The plaintext policy.
    pub fn plaintext_policy(&self) -> PlaintextPolicy {
        self.policy
    }
}

impl<C> Layer<C> for EncryptionLayer {
    type Cache = Encrypted<C>;

    fn layer(&self, inner: C) -> Encrypted<C> {
        Encrypted {
            inner,
            ring: self.ring.clone(),
            policy: self.policy,
            counters: Counters::default(),
        }
    }
}

/// A cache whose values are encrypted by an [`EncryptionLayer`]: built by
/// `EncryptionLayer::layer(inner)` or `inner.layer(encryption_layer)`.
///
/// `set` and `set_many` seal every value; `get`, `get_many` and `get_with_ttl` open it and return
/// exactly the bytes that were written, or an [`ErrorKind::Decryption`] error. `delete`, `exists`,
/// `ttl`, `invalidate_pattern`, `clear` and `health` are forwarded unchanged.
#[derive(Debug)]
pub struct Encrypted<C> {
    inner: C,
    ring: KeyRing,
    policy: PlaintextPolicy,
    counters: Counters,
}

impl<C> Encrypted<C> {
    /// The wrapped cache (reading it directly returns envelopes).
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Unwraps the inner cache.
    pub fn into_inner(self) -> C {
        self.inner
    }

    /// The key ring.
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The plaintext policy.
    pub fn plaintext_policy(&self) -> PlaintextPolicy {
        self.policy
    }

    /// What the layer did so far: values sealed and opened, bytes, time, failures by cause,
    /// legacy and old-key reads. The same numbers are in [`CacheStats::encryption`] of
    /// [`Cache::stats`].
    pub fn encryption_stats(&self) -> EncryptionStats {
        self.counters.snapshot()
    }

    fn seal(&self, key: &str, value: &[u8]) -> Result<Bytes> {
        let start = Instant::now();
        match envelope::try_seal(&self.ring, key, value) {
            Ok(sealed) => {
                self.counters.sealed(value.len(), start.elapsed());
                Ok(sealed.into())
            }
            Err(e) => {
                self.counters.seal_failed();
                let e = Error::from(e);
                Err(Error::new(e.kind(), format!("cannot write key {key:?}: {}", e.message())).with_source(e))
            }
        }
    }

    fn open(&self, key: &str, stored: Bytes) -> Result<Bytes> {
        if self.policy == PlaintextPolicy::Migrate && envelope::is_legacy_plaintext(&stored) {
            let count = self.counters.legacy_read();
            // One warning at the 1st, 2nd, 4th, 8th, ... read, so a large migration does not
            // flood the logs; every read is logged at debug level.
            if count.is_power_of_two() {
                tracing::warn!(
                    key,
                    len = stored.len(),
                    legacy_plaintext_reads = count,
                    "read a legacy plaintext value (not encrypted); it will be encrypted when \
                     rewritten. Switch the plaintext policy back to Reject once no more are read"
                );
            } else {
                tracing::debug!(key, len = stored.len(), "read a legacy plaintext value");
            }
            return Ok(stored);
        }
        let start = Instant::now();
        match envelope::open_bytes(&self.ring, key, stored) {
            Ok(opened) => {
                let len = opened.plaintext.len();
                self.counters.opened(len, start.elapsed(), opened.is_primary);
                Ok(opened.plaintext)
            }
            Err(e) => {
                self.counters.open_failed(&e);
                Err(self.read_error(key, e))
            }
        }
    }

    fn read_error(&self, key: &str, e: OpenError) -> Error {
        let hint = match e {
            OpenError::NotEnvelope => {
                "; values written before encryption was enabled can be read with \
                 PlaintextPolicy::Migrate (REDIS_ENCRYPTION_PLAINTEXT=migrate in the factory and \
                 the server)"
            }
            _ => "",
        };
        tracing::debug!(key, error = %e, "cannot decrypt");
        Error::new(
            ErrorKind::Decryption,
            format!("cannot read key {key:?}: {e}{hint}"),
        )
        .with_source(e)
    }
}

#[stratacache_core::forward(self.inner)]
#[async_trait]
impl<C: Cache> Cache for Encrypted<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self.inner.get(key).await? {
            Some(stored) => self.open(key, stored).map(Some),
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        ttl.check()?;
        let sealed = self.seal(key, &value)?;
        drop(value);
        self.inner.set(key, sealed, ttl).await
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, Expiry)>> {
        match self.inner.get_with_ttl(key).await? {
            Some((stored, expiry)) => Ok(Some((self.open(key, stored)?, expiry))),
            None => Ok(None),
        }
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let stored = self.inner.get_many(keys).await?;
        keys.iter()
            .zip(stored)
            .map(|(key, slot)| slot.map(|s| self.open(key, s)).transpose())
            .collect()
    }

    async fn set_many(&self, entries: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        ttl.check()?;
        let sealed = entries
            .iter()
            .map(|(key, value)| Ok((*key, self.seal(key, value)?)))
            .collect::<Result<Vec<_>>>()?;
        self.inner.set_many(&sealed, ttl).await
    }

    /// The inner cache's snapshot with [`CacheStats::encryption`] filled in and this layer's
    /// errors (reads it refused, writes it could not seal) added to `errors`. (An inner
    /// encryption layer's counters, if any, are replaced by this layer's.)
    async fn stats(&self) -> CacheStats {
        let mut stats = self.inner.stats().await;
        stats.encryption = Some(self.counters.snapshot());
        stats.errors = stats.errors.saturating_add(self.counters.errors());
        stats
    }
}
