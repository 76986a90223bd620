//! The stored format: a small versioned header in front of every value the layer writes.
//!
//! | offset | size | field | value |
//! |---|---|---|---|
//! | 0 | 4 | magic | [`MAGIC`]: `C1 53 43 5A` (`0xC1`, then `SCZ`) |
//! | 4 | 1 | version | [`VERSION`]: `1` |
//! | 5 | 1 | format | [`Format::Raw`] `0`, [`Format::Zstd`] `1` |
//! | 6 | 4 | original length | `Zstd` only: the value's length in bytes, `u32` little-endian |
//! | 6 or 10 | rest | payload | `Raw`: the value itself; `Zstd`: one zstd frame |
//!
//! `0xC1` never occurs in UTF-8, so no text or JSON value starts with the magic. The zstd frame
//! declares the content size and carries a checksum of the original bytes, so corruption is
//! detected on read. The header and a raw payload carry no checksum: their integrity is the
//! business of an encryption layer below (or of the backend).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Error, Result};
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::CParameter;

use crate::CompressionConfig;

/// The first four bytes of every value the layer writes.
pub const MAGIC: [u8; 4] = [0xC1, b'S', b'C', b'Z'];

/// The header version this crate writes and reads.
pub const VERSION: u8 = 1;

/// Length of the header of a raw value: magic, version, format.
pub const RAW_HEADER_LEN: usize = 6;

/// Length of the header of a zstd value: magic, version, format, original length.
pub const ZSTD_HEADER_LEN: usize = 10;

/// How a stored value's payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// The payload is the value itself (short, or did not shrink). Format byte `0`.
    Raw,
    /// The payload is a zstd frame. Format byte `1`.
    Zstd,
}

impl Format {
    /// The format byte in the header.
    pub const fn code(self) -> u8 {
        match self {
            Self::Raw => 0,
            Self::Zstd => 1,
        }
    }
}

/// What the header of a stored value says, as returned by [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// How the payload is encoded.
    pub format: Format,
    /// Length of the header in bytes ([`RAW_HEADER_LEN`] or [`ZSTD_HEADER_LEN`]).
    pub header_len: usize,
    /// Length of the original value in bytes (for a raw value: the payload's length).
    pub original_len: usize,
}

/// Reads the header of a stored value without decoding its payload.
///
/// Returns `Ok(None)` when the value does not start with [`MAGIC`]: it was not written by the
/// compression layer.
///
/// ```
/// use stratacache_compression::format::{self, Format};
///
/// let header = format::inspect(b"\xC1SCZ\x01\x00hello").unwrap().unwrap();
/// assert_eq!((header.format, header.original_len), (Format::Raw, 5));
/// assert!(format::inspect(b"{\"plain\": true}").unwrap().is_none());
/// ```
///
/// # Errors
///
/// [`ErrorKind::Serialization`](stratacache_core::ErrorKind::Serialization) when the value
/// starts with the magic but its header is truncated, of an unknown version, or of an unknown
/// format.
pub fn inspect(stored: &[u8]) -> Result<Option<Header>> {
    if !stored.starts_with(&MAGIC) {
        return Ok(None);
    }
    let Some(&[version, format]) = stored.get(MAGIC.len()..RAW_HEADER_LEN) else {
        return Err(truncated(stored.len(), RAW_HEADER_LEN));
    };
    if version != VERSION {
        return Err(Error::serialization(format!(
            "compression header version {version} is not supported (this build reads version {VERSION}); \
             the value was written by a newer or different stratacache"
        )));
    }
    match format {
        0 => Ok(Some(Header {
            format: Format::Raw,
            header_len: RAW_HEADER_LEN,
            original_len: stored.len() - RAW_HEADER_LEN,
        })),
        1 => {
            let Some(&[a, b, c, d]) = stored.get(RAW_HEADER_LEN..ZSTD_HEADER_LEN) else {
                return Err(truncated(stored.len(), ZSTD_HEADER_LEN));
            };
            Ok(Some(Header {
                format: Format::Zstd,
                header_len: ZSTD_HEADER_LEN,
                original_len: u32::from_le_bytes([a, b, c, d]) as usize,
            }))
        }
        other => Err(Error::serialization(format!(
            "compression header format {other} is unknown (known: 0 = raw, 1 = zstd)"
        ))),
    }
}

fn truncated(len: usize, needed: usize) -> Error {
    Error::serialization(format!(
        "compression header is truncated: the value has {len} bytes, the header needs {needed}"
    ))
}

/// A value ready for the inner cache, and what it took to produce it.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub(crate) stored: Bytes,
    pub(crate) compressed: bool,
    pub(crate) original_len: usize,
    pub(crate) nanos: u64,
}

/// A value read back, and what it took.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// Stored raw, with the header.
    Raw(Bytes),
    /// Stored compressed; decompression took `nanos`.
    Decompressed { value: Bytes, nanos: u64 },
    /// Stored without the header and passed through (legacy mode).
    Plain(Bytes),
}

thread_local! {
    // zstd contexts are reused per thread: creating one per call would allocate its work space
    // (megabytes for large values) every time.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

fn zstd_error(what: &str, e: std::io::Error) -> Error {
    Error::serialization(format!("zstd {what} failed: {e}")).with_source(e)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn compress(value: &[u8], level: u8) -> Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some(c) => c,
            empty => {
                let mut c = Compressor::new(i32::from(level)).map_err(|e| zstd_error("setup", e))?;
                // The frame carries the original size and a checksum of the original bytes.
                c.set_parameter(CParameter::ContentSizeFlag(true))
                    .and_then(|()| c.set_parameter(CParameter::ChecksumFlag(true)))
                    .map_err(|e| zstd_error("setup", e))?;
                empty.insert(c)
            }
        };
        compressor
            .set_compression_level(i32::from(level))
            .and_then(|()| compressor.compress(value))
            .map_err(|e| zstd_error("compression", e))
    })
}

fn decompress(frame: &[u8], original_len: usize) -> Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match &mut *slot {
            Some(d) => d,
            empty => empty.insert(Decompressor::new().map_err(|e| zstd_error("setup", e))?),
        };
        // `capacity` bounds the output: a frame that expands further is an error.
        decompressor
            .decompress(frame, original_len)
            .map_err(|e| zstd_error("decompression", e))
    })
}

/// Whether [`encode`] tries to compress a value of `len` bytes: longer than the threshold, and
/// not longer than the largest value a reader decompresses (longer values are written raw).
fn tries_compression(len: usize, config: &CompressionConfig) -> bool {
    len > config.threshold && len <= config.max_decompressed_size
}

/// Whether encoding a value of `len` bytes is zstd work worth a blocking thread: it is
/// compressed, and longer than the offload threshold.
pub(crate) fn encode_offloads(len: usize, config: &CompressionConfig) -> bool {
    len > config.offload_threshold && tries_compression(len, config)
}

/// Whether decoding `stored` is zstd work worth a blocking thread: a zstd value whose declared
/// length is above the offload threshold and within the limit (a value above the limit is refused
/// at once, inline). Headerless and malformed values are decoded (refused) inline.
pub(crate) fn decode_offloads(stored: &[u8], config: &CompressionConfig) -> bool {
    matches!(
        inspect(stored),
        Ok(Some(Header { format: Format::Zstd, original_len, .. }))
            if original_len > config.offload_threshold && original_len <= config.max_decompressed_size
    )
}

/// Encodes `value` for the inner cache: compressed when longer than the threshold and smaller
/// once compressed, raw otherwise.
pub(crate) fn encode(value: &[u8], config: &CompressionConfig) -> Result<Encoded> {
    let len = value.len();
    let mut spent = 0;
    if tries_compression(len, config) {
        let started = Instant::now();
        let frame = compress(value, config.level)?;
        spent = nanos(started.elapsed());
        if ZSTD_HEADER_LEN + frame.len() < len {
            // `max_decompressed_size <= u32::MAX` (validated), so the length fits.
            let declared = u32::try_from(len).map_err(|_| Error::invalid_input("value too large"))?;
            let mut stored = Vec::with_capacity(ZSTD_HEADER_LEN + frame.len());
            stored.extend_from_slice(&MAGIC);
            stored.extend_from_slice(&[VERSION, Format::Zstd.code()]);
            stored.extend_from_slice(&declared.to_le_bytes());
            stored.extend_from_slice(&frame);
            return Ok(Encoded {
                stored: stored.into(),
                compressed: true,
                original_len: len,
                nanos: spent,
            });
        }
    }
    let mut stored = Vec::with_capacity(RAW_HEADER_LEN + len);
    stored.extend_from_slice(&MAGIC);
    stored.extend_from_slice(&[VERSION, Format::Raw.code()]);
    stored.extend_from_slice(value);
    Ok(Encoded {
        stored: stored.into(),
        compressed: false,
        original_len: len,
        nanos: spent,
    })
}

/// Decodes a value read from the inner cache.
pub(crate) fn decode(stored: Bytes, config: &CompressionConfig) -> Result<Decoded> {
    let Some(header) = inspect(&stored)? else {
        if config.legacy_plain {
            return Ok(Decoded::Plain(stored));
        }
        return Err(Error::serialization(
            "the value was not written by the compression layer (it lacks the stratacache \
             compression header); set `legacy_plain` to read values written without the layer",
        ));
    };
    match header.format {
        Format::Raw => Ok(Decoded::Raw(stored.slice(header.header_len..))),
        Format::Zstd => {
            let declared = header.original_len;
            if declared > config.max_decompressed_size {
                return Err(Error::serialization(format!(
                    "the compressed value declares {declared} bytes, above max_decompressed_size = {} \
                     bytes; refusing to decompress it",
                    config.max_decompressed_size
                )));
            }
            let frame = &stored[header.header_len..];
            // Cross-check the frame's own size field before allocating `declared` bytes.
            match zstd::zstd_safe::get_frame_content_size(frame) {
                Ok(Some(size)) if size == declared as u64 => {}
                Ok(Some(size)) => {
                    return Err(Error::serialization(format!(
                        "corrupted compressed value: the header declares {declared} bytes, \
                         the zstd frame {size}"
                    )));
                }
                Ok(None) | Err(_) => {
                    return Err(Error::serialization(
                        "corrupted compressed value: the payload is not a zstd frame with a declared size",
                    ));
                }
            }
            let started = Instant::now();
            let value = decompress(frame, declared)?;
            let spent = nanos(started.elapsed());
            if value.len() != declared {
                return Err(Error::serialization(format!(
                    "corrupted compressed value: decompressed to {} bytes, the header declares {declared}",
                    value.len()
                )));
            }
            Ok(Decoded::Decompressed {
                value: value.into(),
                nanos: spent,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use stratacache_core::ErrorKind;

    use super::*;

    fn config(threshold: usize) -> CompressionConfig {
        CompressionConfig {
            threshold,
            ..CompressionConfig::default()
        }
    }

    #[test]
    fn header_layout() {
        let raw = encode(b"abc", &config(100)).unwrap();
        assert_eq!(&raw.stored[..], b"\xC1SCZ\x01\x00abc");
        let value = vec![b'a'; 5000];
        let z = encode(&value, &config(100)).unwrap();
        assert!(z.compressed);
        assert_eq!(&z.stored[..6], b"\xC1SCZ\x01\x01");
        assert_eq!(&z.stored[6..10], &5000u32.to_le_bytes());
        // The payload is a plain zstd frame (magic FD 2F B5 28).
        assert_eq!(&z.stored[10..14], &[0x28, 0xB5, 0x2F, 0xFD]);
        let Decoded::Decompressed { value: back, .. } = decode(z.stored, &config(100)).unwrap() else {
            panic!("not decompressed");
        };
        assert_eq!(back, value);
    }

    #[test]
    fn every_truncation_of_a_compressed_value_is_an_error() {
        let value: Vec<u8> = (0..3000u32).map(|i| (i % 7) as u8).collect();
        let stored = encode(&value, &config(100)).unwrap().stored;
        for cut in 0..stored.len() {
            let err = decode(stored.slice(..cut), &config(100)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Serialization, "cut at {cut}");
        }
    }

    #[test]
    fn unknown_version_and_format() {
        let err = inspect(b"\xC1SCZ\x02\x00x").unwrap_err();
        assert!(err.message().contains("version 2 is not supported"), "{err}");
        let err = inspect(b"\xC1SCZ\x01\x07x").unwrap_err();
        assert!(err.message().contains("format 7 is unknown"), "{err}");
        let err = inspect(b"\xC1SCZ\x01\x01\x00").unwrap_err();
        assert!(err.message().contains("truncated"), "{err}");
        assert!(inspect(b"\xC1SC").unwrap().is_none());
    }
}
