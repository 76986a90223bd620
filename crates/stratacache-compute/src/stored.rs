//! The stored format of a computed value under a freshness policy: a small versioned header in
//! front of the value, saying until when it is fresh and how long it took to compute.
//!
//! | offset | size | field | value |
//! |---|---|---|---|
//! | 0 | 4 | magic | [`MAGIC`]: `C1 53 43 46` (`0xC1`, then `SCF`) |
//! | 4 | 1 | version | [`VERSION`]: `1` |
//! | 5 | 8 | fresh until | milliseconds since the Unix epoch, `u64` little-endian; `0`: never stale |
//! | 13 | 4 | delta | the computation's duration in microseconds, `u32` little-endian (saturating) |
//! | 17 | rest | value | the computed bytes |
//!
//! Values written by [`ComputeCache`](crate::ComputeCache) under a policy that needs them
//! ([`Freshness::needs_header`](crate::Freshness::needs_header)) carry the header, and so does
//! any value written through it that starts with [`MAGIC`] or [`NEGATIVE_MAGIC`] by chance (with
//! no soft expiry), so that it reads back as it was; any other value is read as it is, fresh until
//! the backend expires it. A value starting with a magic written past the `ComputeCache` (another
//! client) is read as a header. `0xC1` never occurs in UTF-8, so
//! no text or JSON value starts with the magic, and the compression header (`C1 53 43 5A`) differs
//! in its fourth byte: the two formats nest in either order, each layer reading its own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stratacache_core::{Bytes, Error, ErrorKind, Result};

/// The first four bytes of a value stored with a freshness header.
pub const MAGIC: [u8; 4] = [0xC1, b'S', b'C', b'F'];

/// The first four bytes of a cached error ([`ComputeConfig::negative_ttl`](crate::ComputeConfig::negative_ttl)):
/// `C1 53 43 4E` (`0xC1`, then `SCN`), then the version, the length of the kind's name (one
/// byte), the kind's name ([`ErrorKind::as_str`]) and the message, in UTF-8.
pub const NEGATIVE_MAGIC: [u8; 4] = [0xC1, b'S', b'C', b'N'];

/// The header version this crate writes and reads.
pub const VERSION: u8 = 1;

/// The header's length in bytes.
pub const HEADER_LEN: usize = 17;

/// A value with what its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The value itself.
    pub(crate) value: Bytes,
    /// Until when it is fresh, in milliseconds since the epoch; `None`: no soft expiry (a value
    /// without a header, or one stored with `Ttl::Never` / `Ttl::Default`).
    pub(crate) fresh_until: Option<u64>,
    /// How long its computation took (zero without a header).
    pub(crate) delta: Duration,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `value` with a header.
pub(crate) fn encode(value: &[u8], fresh_until: Option<u64>, delta: Duration) -> Bytes {
    let mut out = Vec::with_capacity(HEADER_LEN + value.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&fresh_until.unwrap_or(0).to_le_bytes());
    let micros = u32::try_from(delta.as_micros()).unwrap_or(u32::MAX);
    out.extend_from_slice(&micros.to_le_bytes());
    out.extend_from_slice(value);
    Bytes::from(out)
}

/// `value` as stored without a policy: as it is, unless it starts with one of the magics (a
/// binary value may, by chance), then behind a header with no soft expiry, so that it reads
/// back as it was and not as a header or a cached error.
pub(crate) fn escape(value: &Bytes) -> Bytes {
    if value.starts_with(&MAGIC) || value.starts_with(&NEGATIVE_MAGIC) {
        encode(value, None, Duration::ZERO)
    } else {
        value.clone()
    }
}

/// Reads a stored value: with its header if it has one, as it is otherwise.
///
/// # Errors
///
/// [`ErrorKind::Serialization`] for a value that starts with the magic but whose header is cut
/// short or of another version.
pub(crate) fn decode(stored: Bytes) -> Result<Entry> {
    if !stored.starts_with(&MAGIC) {
        return Ok(Entry {
            value: stored,
            fresh_until: None,
            delta: Duration::ZERO,
        });
    }
    if stored.len() < HEADER_LEN {
        return Err(Error::new(
            ErrorKind::Serialization,
            format!(
                "a stored value starts with the freshness header but is {} bytes long (a header takes {HEADER_LEN})",
                stored.len()
            ),
        ));
    }
    if stored[4] != VERSION {
        return Err(Error::new(
            ErrorKind::Serialization,
            format!(
                "a stored value has freshness header version {}; this build reads version {VERSION}",
                stored[4]
            ),
        ));
    }
    let fresh_until = u64::from_le_bytes(stored[5..13].try_into().unwrap_or_default());
    let micros = u32::from_le_bytes(stored[13..17].try_into().unwrap_or_default());
    Ok(Entry {
        value: stored.slice(HEADER_LEN..),
        fresh_until: (fresh_until != 0).then_some(fresh_until),
        delta: Duration::from_micros(u64::from(micros)),
    })
}

/// A cached error of the computation.
pub(crate) fn encode_error(error: &Error) -> Bytes {
    let kind = error.kind().as_str();
    let mut out = Vec::with_capacity(6 + kind.len() + error.message().len());
    out.extend_from_slice(&NEGATIVE_MAGIC);
    out.push(VERSION);
    out.push(u8::try_from(kind.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(error.message().as_bytes());
    Bytes::from(out)
}

/// The cached error `stored` holds, if it is one (an unreadable one reads as a backend error
/// saying so: it is not a value either).
pub(crate) fn negative(stored: &[u8]) -> Option<Error> {
    let rest = stored.strip_prefix(&NEGATIVE_MAGIC)?;
    let parsed = (|| {
        let (&version, rest) = rest.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let kind = std::str::from_utf8(rest.get(..usize::from(len))?).ok()?;
        let message = std::str::from_utf8(&rest[usize::from(len)..]).ok()?;
        let kind = ErrorKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
        (version == VERSION).then(|| Error::new(kind, message.to_owned()))
    })();
    Some(parsed.unwrap_or_else(|| {
        Error::new(
            ErrorKind::Backend,
            "a cached error of the computation could not be read",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_a_plain_value_is_read_as_it_is() {
        let stored = encode(b"answer", Some(1_700_000_000_123), Duration::from_micros(50_001));
        assert_eq!(stored.len(), HEADER_LEN + 6);
        assert_eq!(&stored[..5], &[0xC1, b'S', b'C', b'F', 1]);
        let entry = decode(stored).unwrap();
        assert_eq!(entry.value, "answer");
        assert_eq!(entry.fresh_until, Some(1_700_000_000_123));
        assert_eq!(entry.delta, Duration::from_micros(50_001));

        let never = decode(encode(b"", None, Duration::from_secs(1 << 40))).unwrap();
        assert_eq!((never.fresh_until, never.value.len()), (None, 0));
        assert_eq!(
            never.delta,
            Duration::from_micros(u64::from(u32::MAX)),
            "saturates"
        );

        for plain in [&b"{\"json\":1}"[..], b"", b"\xC1SCZ\x01\x00compressed", b"\xC1SC"] {
            let entry = decode(Bytes::copy_from_slice(plain)).unwrap();
            assert_eq!((&entry.value[..], entry.fresh_until), (plain, None));
        }
    }

    #[test]
    fn a_cached_error_round_trips_and_is_no_value() {
        let error = Error::new(ErrorKind::Unavailable, "the model is down");
        let stored = encode_error(&error);
        let read = negative(&stored).expect("an error");
        assert_eq!(
            (read.kind(), read.message()),
            (ErrorKind::Unavailable, "the model is down")
        );
        assert!(negative(&encode(b"v", None, Duration::ZERO)).is_none());
        assert!(negative(b"plain").is_none());
        let cut = negative(b"\xC1SCN\x01\x09unav").expect("still no value");
        assert_eq!(cut.kind(), ErrorKind::Backend);
    }

    #[test]
    fn a_cut_or_unknown_header_is_an_error_naming_it() {
        let cut = decode(Bytes::from_static(b"\xC1SCF\x01\x00")).unwrap_err();
        assert_eq!(cut.kind(), ErrorKind::Serialization);
        assert!(cut.message().contains("6 bytes"), "{cut}");
        let mut future = encode(b"v", None, Duration::ZERO).to_vec();
        future[4] = 2;
        let e = decode(Bytes::from(future)).unwrap_err();
        assert!(e.message().contains("version 2"), "{e}");
    }
}
