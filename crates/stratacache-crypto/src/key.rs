//! Key material: [`EncryptionKey`], its [`KeyId`] fingerprint, and [`generate_key`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE, URL_SAFE_PAD_INDIFFERENT};
use chacha20poly1305::aead::common::getrandom;
use stratacache_core::{Error, Result};
use zeroize::Zeroizing;

/// The length of a key: 32 bytes (256 bits).
pub const KEY_LEN: usize = 32;

/// The `blake3::derive_key` context of key ids.
pub(crate) const KEY_ID_CONTEXT: &str = "stratacache 2026-11 encryption key id v1";

/// The `blake3::derive_key` context of the AI cache key secret.
pub(crate) const AI_SECRET_CONTEXT: &str = "stratacache 2026-11 ai cache key secret v1";

/// The length of a key in padded base64.
const ENCODED_LEN: usize = 44;

/// The longest label accepted for a key.
pub const MAX_LABEL_LEN: usize = 64;

/// A key's public fingerprint: the first 4 bytes of
/// `blake3::derive_key("stratacache 2026-11 encryption key id v1", key)`.
///
/// Every envelope names the key that sealed it by this id, so a [`KeyRing`](crate::KeyRing) finds
/// the key to open it with. It identifies a key without revealing it: it is safe in logs, errors
/// and status pages. Displayed as 8 lower-case hex digits (`3fa2c901`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 4]);

impl KeyId {
    /// The id made of these 4 bytes, as they appear in an envelope.
    pub const fn from_bytes(bytes: [u8; 4]) -> Self {
        Self(bytes)
    }

    /// The 4 bytes of the id, as they appear in an envelope.
    pub const fn to_bytes(self) -> [u8; 4] {
        self.0
    }

    /// The id of `material`.
    fn of(material: &[u8; KEY_LEN]) -> Self {
        let derived = Zeroizing::new(blake3::derive_key(KEY_ID_CONTEXT, material));
        Self([derived[0], derived[1], derived[2], derived[3]])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One 256-bit encryption key, with its [`KeyId`] and an optional human-readable label.
///
/// The key bytes live in memory that is wiped when the key is dropped, and never appear in
/// `Debug` output, logs or error messages: `Debug` shows the id and the label only.
///
/// ```
/// use stratacache_crypto::{EncryptionKey, generate_key};
///
/// let text = generate_key(); // 44 characters of URL-safe base64, like a Fernet key
/// let key = EncryptionKey::from_base64(&text)?.with_label("2026-q4")?;
/// assert_eq!(key.label(), Some("2026-q4"));
/// assert!(!format!("{key:?}").contains(&text));
/// # Ok::<(), stratacache_core::Error>(())
/// ```
#[derive(Clone)]
pub struct EncryptionKey {
    material: Zeroizing<[u8; KEY_LEN]>,
    id: KeyId,
    label: Option<String>,
}

impl EncryptionKey {
    /// A new random key from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// If the operating system's random number generator fails (`getrandom`), which modern
    /// systems do not do once booted.
    pub fn generate() -> Self {
        let mut material = Zeroizing::new([0_u8; KEY_LEN]);
        #[allow(clippy::expect_used)]
        getrandom::fill(material.as_mut_slice())
            .expect("the operating system's random number generator failed");
        Self::from_material(material)
    }

    /// The key made of these bytes.
    ///
    /// The array is moved into wiped memory, but copies the caller made before (arrays are
    /// `Copy`) are the caller's to wipe. Unlike [`from_base64`](Self::from_base64), no byte
    /// pattern is refused: use random bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self::from_material(Zeroizing::new(bytes))
    }

    /// Parses a key written as base64: standard (`+/`) or URL-safe (`-_`) alphabet, with or
    /// without `=` padding, surrounding whitespace ignored. It must decode to exactly 32 bytes
    /// that are not all the same (a placeholder such as `AAAA...A=` is refused).
    ///
    /// A key of the reference system (Fernet: 32 bytes in URL-safe base64) is accepted as key
    /// material; values that system encrypted are *not* readable (see the crate documentation).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) saying what is
    /// wrong ("not valid base64", "decodes to 16 bytes, expected 32", ...), never echoing the text.
    pub fn from_base64(text: &str) -> Result<Self> {
        decode(text)
            .map(Self::from_material)
            .map_err(|problem| Error::configuration(format!("the encryption key {problem}")))
    }

    /// Gives the key a label, shown with its id in logs and status reports (`2026-q4`,
    /// `before-rotation`): 1 to 64 ASCII letters, digits, `.`, `_` or `-`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Configuration`](stratacache_core::ErrorKind::Configuration) for any other label.
    pub fn with_label(mut self, label: impl Into<String>) -> Result<Self> {
        let label = label.into();
        if !valid_label(&label) {
            return Err(Error::configuration(format!(
                "the encryption key label {LABEL_RULE}"
            )));
        }
        self.label = Some(label);
        Ok(self)
    }

    /// The key's public fingerprint.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key's label, if it has one.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The key as URL-safe base64 with padding (44 characters, the format of [`generate_key`]),
    /// in memory that is wiped when dropped. Handle with care: this is the secret.
    pub fn to_base64(&self) -> Zeroizing<String> {
        // Encoded into wiped memory, then copied once into a string of the exact size: no
        // intermediate buffer keeps a copy.
        let mut buf = Zeroizing::new([0_u8; ENCODED_LEN]);
        let n = URL_SAFE
            .encode_slice(self.material.as_slice(), buf.as_mut_slice())
            .unwrap_or_default();
        let mut out = Zeroizing::new(String::with_capacity(ENCODED_LEN));
        out.extend(buf[..n].iter().map(|&b| char::from(b)));
        out
    }

    pub(crate) fn material(&self) -> &[u8; KEY_LEN] {
        &self.material
    }

    /// `blake3::derive_key(context, key)`, in wiped memory.
    pub(crate) fn derive(&self, context: &str) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(blake3::derive_key(context, self.material.as_slice()))
    }

    pub(crate) fn from_material(material: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let id = KeyId::of(&material);
        Self {
            material,
            id,
            label: None,
        }
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("material", &format_args!("<redacted>"))
            .finish()
    }
}

/// A new random key, as 44 characters of URL-safe base64 with padding: the value to put in
/// `REDIS_ENCRYPTION_KEY`. Same shape as a Fernet key (`Fernet.generate_key()`).
///
/// The returned `String` is ordinary memory; wipe or drop it once it is stored.
///
/// # Panics
///
/// As [`EncryptionKey::generate`].
pub fn generate_key() -> String {
    EncryptionKey::generate().to_base64().as_str().to_owned()
}

/// What is wrong with a key's text. Its `Display` never includes the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyProblem {
    Empty,
    NotBase64,
    WrongLength(usize),
    Placeholder,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("is empty"),
            Self::NotBase64 => f.write_str(
                "is not valid base64 (expected 32 random bytes in standard or URL-safe base64, \
                 as printed by `generate_key`)",
            ),
            Self::WrongLength(n) => write!(f, "decodes to {n} bytes, expected {KEY_LEN}"),
            Self::Placeholder => {
                f.write_str("decodes to 32 identical bytes, a placeholder rather than a random key")
            }
        }
    }
}

/// Decodes base64 key text into wiped memory.
pub(crate) fn decode(text: &str) -> std::result::Result<Zeroizing<[u8; KEY_LEN]>, KeyProblem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(KeyProblem::Empty);
    }
    // Room for the whole decoded input, so the buffer never reallocates (and leaves no unwiped
    // copy behind). The decoder's own errors name the offending character: they are dropped.
    let mut buf = Zeroizing::new(vec![0_u8; base64::decoded_len_estimate(text.len())]);
    let n = STANDARD_PAD_INDIFFERENT
        .decode_slice(text, &mut buf)
        .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode_slice(text, &mut buf))
        .map_err(|_| KeyProblem::NotBase64)?;
    if n != KEY_LEN {
        return Err(KeyProblem::WrongLength(n));
    }
    let mut key = Zeroizing::new([0_u8; KEY_LEN]);
    key.copy_from_slice(&buf[..KEY_LEN]);
    if key.iter().all(|b| *b == key[0]) {
        return Err(KeyProblem::Placeholder);
    }
    Ok(key)
}

/// The rule for labels, completing "the label ...".
pub(crate) const LABEL_RULE: &str = "is not valid (use 1 to 64 ASCII letters, digits, '.', '_' or '-')";

pub(crate) fn valid_label(label: &str) -> bool {
    (1..=MAX_LABEL_LEN).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_fernet_shaped_and_distinct() {
        let a = generate_key();
        let b = generate_key();
        assert_eq!(a.len(), 44);
        assert!(a.ends_with('='));
        assert!(!a.contains(['+', '/']), "URL-safe alphabet: {a}");
        assert_ne!(a, b);
        let key = EncryptionKey::from_base64(&a).expect("a generated key parses");
        assert_eq!(key.to_base64().as_str(), a);
    }

    #[test]
    fn all_four_base64_variants_decode_to_the_same_key() {
        // 0xfb 0xff bytes produce '+' '/' in the standard alphabet and '-' '_' in URL-safe.
        let mut bytes = [0xfb_u8; KEY_LEN];
        bytes[0] = 0xff;
        bytes[31] = 1;
        let key = EncryptionKey::from_bytes(bytes);
        let url_padded = key.to_base64();
        let url = url_padded.trim_end_matches('=').to_owned();
        let std_padded = url_padded.replace('-', "+").replace('_', "/");
        let std = std_padded.trim_end_matches('=').to_owned();
        assert!(std.contains('+') && std.contains('/'), "{std}");
        for text in [
            url_padded.as_str(),
            &url,
            &std_padded,
            &std,
            &format!("  {std}\n"),
        ] {
            let parsed = EncryptionKey::from_base64(text).expect(text);
            assert_eq!(parsed.material(), &bytes, "{text}");
            assert_eq!(parsed.id(), key.id());
        }
    }

    #[test]
    fn key_id_is_the_documented_derivation() {
        let key = EncryptionKey::from_bytes([9; KEY_LEN]);
        let full = blake3::derive_key("stratacache 2026-11 encryption key id v1", &[9; KEY_LEN]);
        assert_eq!(key.id().to_bytes(), full[..4]);
        assert_eq!(key.id().to_string(), hex(&full[..4]));
        assert_eq!(format!("{:?}", key.id()), format!("KeyId({})", hex(&full[..4])));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn labels() {
        let key = EncryptionKey::generate();
        assert!(key.clone().with_label("2026-q4_old.v2").is_ok());
        for bad in ["", "has space", "colon:", "comma,", "é", &"x".repeat(65)] {
            let err = key.clone().with_label(bad).expect_err(bad);
            assert_eq!(err.kind(), stratacache_core::ErrorKind::Configuration);
        }
    }
}
