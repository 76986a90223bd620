//! The envelope format, and [`seal`], [`open`], [`open_bytes`] and [`inspect`] for tools that work on stored
//! values directly (re-encryption under a new key, audits).
//!
//! | offset | size | field | value |
//! |---|---|---|---|
//! | 0 | 4 | magic | `C0 53 43 45` (`0xC0`, then ASCII `SCE`) |
//! | 4 | 1 | version | `1` |
//! | 5 | 4 | key id | the sealing key's [`KeyId`] |
//! | 9 | 24 | nonce | random, fresh for every seal |
//! | 33 | n | ciphertext | XChaCha20 of the plaintext (same length) |
//! | 33 + n | 16 | tag | Poly1305 |
//!
//! The associated data is the 33 header bytes, then the cache key's length as a `u64`
//! little-endian, then the cache key's bytes: an envelope copied to another key, or whose header
//! was edited, fails authentication.

use std::fmt;

use chacha20poly1305::aead::Generate as _;
use chacha20poly1305::aead::common::getrandom;
use chacha20poly1305::{AeadInOut as _, Tag, XNonce};
use stratacache_core::{Bytes, Error, ErrorKind};

use crate::key::KeyId;
use crate::ring::{KeyRing, RingKey};

/// The first 4 bytes of every envelope: `0xC0` (which never occurs in UTF-8, so no text value
/// starts with it), then ASCII `SCE`.
pub const MAGIC: [u8; 4] = [0xC0, b'S', b'C', b'E'];

/// The envelope version this crate writes and reads.
pub const VERSION: u8 = 1;

/// The length of the nonce.
pub const NONCE_LEN: usize = 24;

/// The length of the authentication tag.
pub const TAG_LEN: usize = 16;

/// The length of the header: magic, version, key id, nonce.
pub const HEADER_LEN: usize = MAGIC.len() + 1 + 4 + NONCE_LEN;

/// What an envelope adds to the plaintext: header and tag (49 bytes).
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

const KEY_ID_AT: usize = MAGIC.len() + 1;
const NONCE_AT: usize = KEY_ID_AT + 4;

/// The header of an envelope, read by [`inspect`] without decrypting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvelopeHeader {
    /// The format version (this crate reads and writes [`VERSION`]).
    pub version: u8,
    /// The id of the key that sealed the value.
    pub key_id: KeyId,
    /// The nonce.
    pub nonce: [u8; NONCE_LEN],
}

/// A value opened by [`open`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    /// The plaintext.
    pub plaintext: Bytes,
    /// The id of the key that had sealed it.
    pub key_id: KeyId,
    /// Whether that key is the ring's primary key (if not, the value is due for re-encryption).
    pub is_primary: bool,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("plaintext", &format_args!("<{} bytes>", self.plaintext.len()))
            .field("key_id", &self.key_id)
            .field("is_primary", &self.is_primary)
            .finish()
    }
}

/// Why a value could not be opened. Converts into a [`stratacache_core::Error`] of kind
/// [`ErrorKind::Decryption`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The bytes do not start with [`MAGIC`]: plaintext, or a value written without encryption.
    NotEnvelope,
    /// The bytes start like an envelope but cannot be one.
    Malformed(Malformed),
    /// The envelope was sealed with a key the ring does not hold.
    UnknownKey(KeyId),
    /// The ring holds the key, but the tag does not verify: the ciphertext, tag or header was
    /// altered, or the envelope was stored under another cache key.
    Authentication(KeyId),
}

/// How an envelope is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Shorter than [`OVERHEAD`].
    Truncated {
        /// Its length.
        len: usize,
    },
    /// A version this crate does not read.
    UnsupportedVersion(u8),
    /// One byte of the magic differs while the rest (version, length) is an envelope's: a damaged
    /// envelope, not plaintext (so it is refused even when plaintext is accepted).
    DamagedMagic,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotEnvelope => f.write_str("the value is not an encryption envelope (plaintext?)"),
            Self::Malformed(Malformed::Truncated { len }) => write!(
                f,
                "the envelope is truncated ({len} bytes, at least {OVERHEAD} expected)"
            ),
            Self::Malformed(Malformed::UnsupportedVersion(v)) => write!(
                f,
                "unsupported envelope version {v} (this build reads version {VERSION})"
            ),
            Self::Malformed(Malformed::DamagedMagic) => {
                f.write_str("the value is a damaged envelope (its magic bytes were altered)")
            }
            Self::UnknownKey(id) => write!(
                f,
                "the value was sealed with key id {id}, which is not in the key ring \
                 (add that key to REDIS_ENCRYPTION_KEYS to read it)"
            ),
            Self::Authentication(id) => write!(
                f,
                "authentication failed under key id {id}: tampered or corrupted data, or a value \
                 copied from another cache key"
            ),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<OpenError> for Error {
    fn from(e: OpenError) -> Self {
        Error::new(ErrorKind::Decryption, e.to_string())
    }
}

/// Reads the header of `bytes` without decrypting: `None` unless they start with [`MAGIC`] and
/// are at least [`HEADER_LEN`] long. The key id and nonce are those of a version-1 layout;
/// check `version` before relying on them.
pub fn inspect(bytes: &[u8]) -> Option<EnvelopeHeader> {
    if !bytes.starts_with(&MAGIC) || bytes.len() < HEADER_LEN {
        return None;
    }
    let mut key_id = [0_u8; 4];
    key_id.copy_from_slice(&bytes[KEY_ID_AT..NONCE_AT]);
    let mut nonce = [0_u8; NONCE_LEN];
    nonce.copy_from_slice(&bytes[NONCE_AT..HEADER_LEN]);
    Some(EnvelopeHeader {
        version: bytes[MAGIC.len()],
        key_id: KeyId::from_bytes(key_id),
        nonce,
    })
}

/// Seals `plaintext` for `cache_key` under the ring's primary key, with a fresh random nonce.
///
/// # Panics
///
/// If the operating system's random number generator fails, or the plaintext is 256 GiB or
/// more (the limit of XChaCha20-Poly1305). The layer reports both as errors instead.
pub fn seal(ring: &KeyRing, cache_key: &str, plaintext: &[u8]) -> Vec<u8> {
    match try_seal(ring, cache_key, plaintext) {
        Ok(envelope) => envelope,
        Err(e) => panic!("cannot seal: {e}"),
    }
}

/// Opens an envelope sealed for `cache_key` with any key of `ring`.
///
/// # Errors
///
/// An [`OpenError`] saying why; it converts into a [`stratacache_core::Error`] of kind
/// [`ErrorKind::Decryption`] with `?`.
pub fn open(ring: &KeyRing, cache_key: &str, envelope: &[u8]) -> Result<Opened, OpenError> {
    let (key, is_primary) = check(ring, envelope)?;
    let mut plaintext = envelope[HEADER_LEN..envelope.len() - TAG_LEN].to_vec();
    decrypt(key, cache_key, envelope, &mut plaintext)?;
    Ok(Opened {
        plaintext: plaintext.into(),
        key_id: key.key.id(),
        is_primary,
    })
}

/// Why sealing failed.
#[derive(Debug)]
pub(crate) enum SealError {
    Random(getrandom::Error),
    TooLarge,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Random(e) => write!(f, "the operating system's random number generator failed: {e}"),
            Self::TooLarge => f.write_str("the value is too large to encrypt (256 GiB or more)"),
        }
    }
}

impl From<SealError> for Error {
    fn from(e: SealError) -> Self {
        let kind = match e {
            SealError::Random(_) => ErrorKind::Backend,
            SealError::TooLarge => ErrorKind::InvalidInput,
        };
        Error::new(kind, e.to_string())
    }
}

/// [`seal`], reporting failures.
pub(crate) fn try_seal(ring: &KeyRing, cache_key: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let key = ring.primary();
    let nonce = XNonce::try_generate().map_err(SealError::Random)?;
    // One allocation of the final size; the plaintext is copied once and encrypted in place.
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&key.key.id().to_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let (header, body) = out.split_at_mut(HEADER_LEN);
    let tag = with_aad(header, cache_key, |aad| {
        key.cipher.encrypt_inout_detached(&nonce, aad, body.into())
    })
    .map_err(|_| SealError::TooLarge)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// [`open`] on a value as a cache returns it: decrypts in place, without copying, when `stored`
/// is its buffer's only handle (a value fresh from Redis); copies the ciphertext otherwise.
///
/// # Errors
///
/// As [`open`].
pub fn open_bytes(ring: &KeyRing, cache_key: &str, stored: Bytes) -> Result<Opened, OpenError> {
    let (key, is_primary) = check(ring, &stored)?;
    let len = stored.len();
    let plaintext = match stored.try_into_mut() {
        Ok(mut buf) => {
            let (header, rest) = buf.split_at_mut(HEADER_LEN);
            let (body, tag) = rest.split_at_mut(len - OVERHEAD);
            decrypt_parts(key, cache_key, header, body, tag)?;
            buf.freeze().slice(HEADER_LEN..len - TAG_LEN)
        }
        Err(stored) => {
            let mut plaintext = stored[HEADER_LEN..len - TAG_LEN].to_vec();
            decrypt(key, cache_key, &stored, &mut plaintext)?;
            plaintext.into()
        }
    };
    Ok(Opened {
        plaintext,
        key_id: key.key.id(),
        is_primary,
    })
}

/// Whether `bytes` are legacy plaintext, by the rule of
/// [`PlaintextPolicy::Migrate`](crate::PlaintextPolicy::Migrate): they do not start with `0xC0`
/// (which no UTF-8 text does, and every envelope does) and are not an envelope whose magic was
/// damaged (see [`Malformed::DamagedMagic`]). A maintenance job that seals plaintext left from
/// before encryption should use this test, not `inspect(bytes).is_none()`, so that it never
/// re-seals a damaged envelope as if it were a value.
pub fn is_legacy_plaintext(bytes: &[u8]) -> bool {
    bytes.first() != Some(&MAGIC[0]) && !has_damaged_magic(bytes)
}

fn has_damaged_magic(bytes: &[u8]) -> bool {
    bytes.len() >= OVERHEAD
        && bytes[MAGIC.len()] == VERSION
        && bytes[..MAGIC.len()]
            .iter()
            .zip(MAGIC)
            .filter(|(a, b)| **a == *b)
            .count()
            == MAGIC.len() - 1
}

/// Checks the envelope's structure and finds its key.
fn check<'r>(ring: &'r KeyRing, bytes: &[u8]) -> Result<(&'r RingKey, bool), OpenError> {
    let truncated = OpenError::Malformed(Malformed::Truncated { len: bytes.len() });
    if !bytes.starts_with(&MAGIC) {
        return Err(if has_damaged_magic(bytes) {
            OpenError::Malformed(Malformed::DamagedMagic)
        } else if !bytes.is_empty() && MAGIC.starts_with(bytes) {
            truncated
        } else {
            OpenError::NotEnvelope
        });
    }
    let version = *bytes.get(MAGIC.len()).ok_or(truncated)?;
    if version != VERSION {
        return Err(OpenError::Malformed(Malformed::UnsupportedVersion(version)));
    }
    let header = inspect(bytes)
        .filter(|_| bytes.len() >= OVERHEAD)
        .ok_or(truncated)?;
    ring.find(header.key_id)
        .ok_or(OpenError::UnknownKey(header.key_id))
}

/// Decrypts `body` (a copy of the envelope's ciphertext) in place.
fn decrypt(key: &RingKey, cache_key: &str, envelope: &[u8], body: &mut [u8]) -> Result<(), OpenError> {
    let len = envelope.len();
    decrypt_parts(
        key,
        cache_key,
        &envelope[..HEADER_LEN],
        body,
        &envelope[len - TAG_LEN..],
    )
}

fn decrypt_parts(
    key: &RingKey,
    cache_key: &str,
    header: &[u8],
    body: &mut [u8],
    tag: &[u8],
) -> Result<(), OpenError> {
    let id = key.key.id();
    let failed = OpenError::Authentication(id);
    let nonce = XNonce::try_from(&header[NONCE_AT..HEADER_LEN]).map_err(|_| failed)?;
    let tag = Tag::try_from(tag).map_err(|_| failed)?;
    with_aad(header, cache_key, |aad| {
        key.cipher.decrypt_inout_detached(&nonce, aad, body.into(), &tag)
    })
    .map_err(|_| failed)
}

/// Room on the stack for the associated data of keys up to 470 bytes (longer keys allocate).
const AAD_STACK: usize = 512;

/// Calls `f` with the associated data: header ‖ u64-le(key length) ‖ key.
fn with_aad<R>(header: &[u8], cache_key: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let key = cache_key.as_bytes();
    let len = HEADER_LEN + 8 + key.len();
    let fill = |buf: &mut [u8]| {
        buf[..HEADER_LEN].copy_from_slice(header);
        buf[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&(key.len() as u64).to_le_bytes());
        buf[HEADER_LEN + 8..].copy_from_slice(key);
    };
    if len <= AAD_STACK {
        let mut buf = [0_u8; AAD_STACK];
        fill(&mut buf[..len]);
        f(&buf[..len])
    } else {
        let mut buf = vec![0_u8; len];
        fill(&mut buf);
        f(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EncryptionKey;

    #[test]
    fn unshared_values_are_decrypted_in_place() {
        let ring = KeyRing::new(EncryptionKey::generate());
        let stored = Bytes::from(seal(&ring, "k", &[42; 1000]));
        let at = stored.as_ptr() as usize;
        let opened = open_bytes(&ring, "k", stored).expect("opens");
        assert_eq!(opened.plaintext.as_ref(), &[42; 1000][..]);
        assert_eq!(opened.plaintext.as_ptr() as usize, at + HEADER_LEN, "no copy");

        let stored = Bytes::from(seal(&ring, "k", &[42; 1000]));
        let shared = stored.clone();
        let opened = open_bytes(&ring, "k", stored).expect("opens");
        assert_eq!(opened.plaintext.as_ref(), &[42; 1000][..]);
        assert_eq!(shared[..4], MAGIC, "a shared value is left as it was");
        assert_eq!(
            open(&ring, "k", &shared).expect("still opens").plaintext,
            opened.plaintext
        );
    }

    #[test]
    fn damaged_magic_needs_three_of_four_bytes_a_version_and_a_length() {
        let ring = KeyRing::new(EncryptionKey::generate());
        let sealed = seal(&ring, "k", b"");
        for i in 0..4 {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(has_damaged_magic(&bad), "{i}");
            assert!(!is_legacy_plaintext(&bad), "{i}");
        }
        let mut two = sealed.clone();
        two[0] = b'{';
        two[1] = b'"';
        assert!(!has_damaged_magic(&two) && is_legacy_plaintext(&two));
        let mut short = sealed[..OVERHEAD - 1].to_vec();
        short[0] = b'"';
        assert!(is_legacy_plaintext(&short), "too short to be a damaged envelope");
        // A JSON string starting with "SCE: three bytes match, but JSON has no raw 0x01 byte.
        assert!(is_legacy_plaintext(
            b"\"SCE is a JSON string that starts like an envelope's magic...\""
        ));
        assert!(!is_legacy_plaintext(
            b"\"SCE\x01 and binary data long enough to be a damaged envelope."
        ));
    }
}
