//! [`KeyRing`]: the primary key that encrypts and the older keys that still decrypt.

use std::fmt;
use std::sync::Arc;

use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use stratacache_core::{Error, Result};
use zeroize::Zeroizing;

use crate::key::{self, AI_SECRET_CONTEXT, EncryptionKey, KeyId, LABEL_RULE};

/// The environment variable holding the primary key (`label:key` or `key`).
pub const ENV_KEY: &str = "REDIS_ENCRYPTION_KEY";

/// The environment variable holding older keys, comma-separated (`label:key` or `key` each).
pub const ENV_KEYS: &str = "REDIS_ENCRYPTION_KEYS";

/// The keys of an [`EncryptionLayer`](crate::EncryptionLayer): one primary key that seals every
/// new value, and older keys that still open values sealed before a rotation.
///
/// Every key has a [`KeyId`] (a fingerprint written into each envelope), so opening looks up the
/// right key directly. Two keys with the same id are refused. Cloning is cheap (the keys are
/// shared); the key bytes are wiped from memory when the last clone is dropped, and `Debug`
/// shows ids and labels only.
///
/// ```
/// use stratacache_crypto::{EncryptionKey, KeyRing};
///
/// let old = EncryptionKey::generate().with_label("2026-q3")?;
/// let new = EncryptionKey::generate().with_label("2026-q4")?;
/// let new_id = new.id();
/// let ring = KeyRing::from_keys(new, [old])?;
/// assert_eq!(ring.primary_id(), new_id);
/// assert_eq!(ring.key_count(), 2);
/// # Ok::<(), stratacache_core::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyRing {
    /// The primary key first, then the older keys in the order given.
    keys: Arc<[RingKey]>,
}

pub(crate) struct RingKey {
    pub(crate) key: EncryptionKey,
    pub(crate) cipher: XChaCha20Poly1305,
}

/// A key of a [`KeyRing`] as shown in logs and status reports: never the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyInfo<'a> {
    /// The key's fingerprint.
    pub id: KeyId,
    /// Its label, if it has one.
    pub label: Option<&'a str>,
    /// Whether it is the primary key (the one that seals).
    pub is_primary: bool,
}

impl KeyRing {
    /// A ring of one key, which seals and opens.
    pub fn new(primary: EncryptionKey) -> Self {
        Self::build(primary, Vec::new())
    }

    /// A ring whose `primary` key seals, and whose `older` keys still open values they sealed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) when two keys have
    /// the same [`KeyId`] (the same key given twice, or, with odds of one in four billion, two
    /// different keys with the same fingerprint).
    pub fn from_keys(primary: EncryptionKey, older: impl IntoIterator<Item = EncryptionKey>) -> Result<Self> {
        let older: Vec<EncryptionKey> = older.into_iter().collect();
        let names = std::iter::once("the primary key".to_owned())
            .chain((1..=older.len()).map(|i| format!("older key {i}")))
            .collect::<Vec<_>>();
        let all: Vec<&EncryptionKey> = std::iter::once(&primary).chain(&older).collect();
        check_distinct(&all, &names)?;
        Ok(Self::build(primary, older))
    }

    /// The key ring configured in the process environment, or `None` when encryption is not
    /// configured: see [`from_env_with`](Self::from_env_with) for the rules.
    ///
    /// # Errors
    ///
    /// As [`from_env_with`](Self::from_env_with).
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// The key ring configured in the variables that `lookup` returns (`lookup(name)` is `None`
    /// for an unset variable; tests pass a map instead of touching the process environment).
    ///
    /// - [`ENV_KEY`] (`REDIS_ENCRYPTION_KEY`): the primary key, as base64 (see
    ///   [`EncryptionKey::from_base64`]), optionally preceded by a label and a colon:
    ///   `2026-q4:q5mX...=`. Base64 never contains `:`, so the text is split at the first colon.
    /// - [`ENV_KEYS`] (`REDIS_ENCRYPTION_KEYS`): older keys that still decrypt, comma-separated,
    ///   each `key` or `label:key`. Whitespace around entries and empty entries (a trailing
    ///   comma) are ignored; an empty value means no older keys.
    ///
    /// Both unset: `Ok(None)` (no encryption). The values are wiped from memory once parsed.
    /// Parsing logs nothing (configuration checks parse too); whoever builds a layer from the ring
    /// says so (the factory logs the primary key id and the number of older keys).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration), naming the
    /// variable (and the entry's position, counting from 1, for `REDIS_ENCRYPTION_KEYS`) and the
    /// problem, and never any part of a key, when:
    /// - `REDIS_ENCRYPTION_KEYS` is set (non-empty) but `REDIS_ENCRYPTION_KEY` is not;
    /// - `REDIS_ENCRYPTION_KEY` is set but empty;
    /// - a key is not base64, does not decode to 32 bytes, or is a placeholder (32 equal bytes);
    /// - a label is invalid (1 to 64 ASCII letters, digits, `.`, `_`, `-`);
    /// - a key appears twice (the primary key must not be repeated among the older keys).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let primary_text = lookup(ENV_KEY).map(Zeroizing::new);
        let older_text = lookup(ENV_KEYS)
            .map(Zeroizing::new)
            .filter(|text| !text.trim().is_empty());
        let Some(primary_text) = primary_text else {
            return match older_text {
                None => Ok(None),
                Some(_) => Err(Error::configuration(format!(
                    "{ENV_KEYS} is set but {ENV_KEY} is not: the older keys only decrypt, a primary \
                     key is needed to encrypt (set {ENV_KEY}, or unset both to disable encryption)"
                ))),
            };
        };
        let primary = parse_entry(&primary_text, ENV_KEY)?;
        let mut names = vec![ENV_KEY.to_owned()];
        let mut older = Vec::new();
        if let Some(text) = &older_text {
            for (i, entry) in text.split(',').enumerate() {
                if entry.trim().is_empty() {
                    continue;
                }
                let name = format!("{ENV_KEYS} entry {}", i + 1);
                older.push(parse_entry(entry, &name)?);
                names.push(name);
            }
        }
        let all: Vec<&EncryptionKey> = std::iter::once(&primary).chain(&older).collect();
        check_distinct(&all, &names)?;
        Ok(Some(Self::build(primary, older)))
    }

    /// The id of the primary key: every value sealed through this ring carries it.
    pub fn primary_id(&self) -> KeyId {
        self.primary().key.id()
    }

    /// How many keys the ring holds (the primary key included).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring holds a key with this id.
    pub fn contains(&self, id: KeyId) -> bool {
        self.find(id).is_some()
    }

    /// The keys' ids and labels, the primary key first.
    pub fn keys(&self) -> impl Iterator<Item = KeyInfo<'_>> {
        self.keys.iter().enumerate().map(|(i, k)| KeyInfo {
            id: k.key.id(),
            label: k.key.label(),
            is_primary: i == 0,
        })
    }

    /// The secret to key hashed AI cache keys with
    /// (`stratacache_keys::AiKeyBuilder::with_secret(*ring.ai_key_secret())`), derived from the
    /// primary key as `blake3::derive_key("stratacache 2026-11 ai cache key secret v1", key)`.
    ///
    /// Keyed digests do not let anyone with access to Redis test whether a guessed prompt is
    /// cached. The secret is independent of the encryption itself (a different derivation
    /// context), but it changes with the primary key: **rotating the primary key changes every
    /// AI cache key**, so the AI cache starts cold. To keep AI keys across rotations, derive the
    /// secret from a key that stays in the ring with [`ai_key_secret_from`](Self::ai_key_secret_from),
    /// or from a dedicated key kept for that purpose.
    pub fn ai_key_secret(&self) -> Zeroizing<[u8; 32]> {
        self.primary().key.derive(AI_SECRET_CONTEXT)
    }

    /// As [`ai_key_secret`](Self::ai_key_secret), derived from the ring's key with id `id`
    /// (primary or older); `None` when the ring has no such key.
    pub fn ai_key_secret_from(&self, id: KeyId) -> Option<Zeroizing<[u8; 32]>> {
        self.find(id).map(|(k, _)| k.key.derive(AI_SECRET_CONTEXT))
    }

    pub(crate) fn primary(&self) -> &RingKey {
        &self.keys[0]
    }

    /// The key with this id, and whether it is the primary key.
    pub(crate) fn find(&self, id: KeyId) -> Option<(&RingKey, bool)> {
        self.keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.key.id() == id)
            .map(|(i, k)| (k, i == 0))
    }

    fn build(primary: EncryptionKey, older: Vec<EncryptionKey>) -> Self {
        let keys = std::iter::once(primary)
            .chain(older)
            .map(|key| RingKey {
                cipher: XChaCha20Poly1305::new(key.material().into()),
                key,
            })
            .collect();
        Self { keys }
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Shown<'a>(KeyInfo<'a>);
        impl fmt::Debug for Shown<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0.label {
                    Some(label) => write!(f, "{} ({label})", self.0.id),
                    None => write!(f, "{}", self.0.id),
                }
            }
        }
        let mut keys = self.keys().map(Shown);
        let mut d = f.debug_struct("KeyRing");
        if let Some(primary) = keys.next() {
            d.field("primary", &primary);
        }
        d.field("older", &keys.collect::<Vec<_>>()).finish()
    }
}

/// Parses `key` or `label:key`; `name` says where it came from in errors.
fn parse_entry(text: &str, name: &str) -> Result<EncryptionKey> {
    let (label, encoded) = match text.split_once(':') {
        Some((label, encoded)) => (Some(label.trim()), encoded),
        None => (None, text),
    };
    if text.trim().is_empty() {
        return Err(Error::configuration(format!(
            "{name} is set but empty (unset it to disable encryption)"
        )));
    }
    let material =
        key::decode(encoded).map_err(|problem| Error::configuration(format!("{name} {problem}")))?;
    let key = EncryptionKey::from_material(material);
    match label {
        Some(label) if !key::valid_label(label) => Err(Error::configuration(format!(
            "{name}: the label before ':' {LABEL_RULE}"
        ))),
        Some(label) => key.with_label(label),
        None => Ok(key),
    }
}

/// Refuses two keys with the same id; `names[i]` names `keys[i]` in the error.
fn check_distinct(keys: &[&EncryptionKey], names: &[String]) -> Result<()> {
    for (i, a) in keys.iter().enumerate() {
        for (j, b) in keys.iter().enumerate().take(i) {
            if a.id() != b.id() {
                continue;
            }
            let what = if a.material() == b.material() {
                "is the same key as"
            } else {
                "has the same key id as (a one-in-four-billion coincidence: generate a new key)"
            };
            return Err(Error::configuration(format!(
                "{} {what} {} (key id {}); each key may appear once",
                names[i],
                names[j],
                a.id()
            )));
        }
    }
    Ok(())
}
