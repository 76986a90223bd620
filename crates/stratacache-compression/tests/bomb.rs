//! Decompression bombs: small stored values, written straight into the inner cache with the
//! layer's header, whose zstd frame expands far past `max_decompressed_size`. Each read must be a
//! clear `Serialization` error, must not panic, and must not allocate the expanded size: this
//! test binary counts the bytes allocated while the read runs.

#![allow(clippy::unwrap_used)]

mod common;

use std::alloc::System;
use std::sync::Mutex;

use common::{compressed, with_threshold};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use stratacache_compression::CompressionConfig;
use stratacache_compression::format::{Format, MAGIC, VERSION};
use stratacache_core::{Bytes, Cache, ErrorKind, Ttl};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The tests of this binary measure one global counter: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// What a bomb expands to: 64 MiB, eight times the default limit.
const EXPANDED: usize = 64 * 1024 * 1024;

/// A read may allocate its own small buffers, nothing near the bomb's size. (zstd's contexts
/// come from the C allocator and are not counted; the output buffer is a Rust `Vec`.)
const SMALL: usize = 1024 * 1024;

/// A zstd frame of `EXPANDED` zero bytes (a few KiB), with the content size in its header.
fn bomb_frame() -> Vec<u8> {
    let frame = zstd::bulk::compress(&vec![0u8; EXPANDED], 3).unwrap();
    assert!(frame.len() < 16 * 1024, "{} bytes", frame.len());
    frame
}

/// The layer's zstd header declaring `declared` bytes, then `frame`.
fn stored(declared: usize, frame: &[u8]) -> Bytes {
    let mut v = MAGIC.to_vec();
    v.extend([VERSION, Format::Zstd.code()]);
    v.extend(u32::try_from(declared).unwrap().to_le_bytes());
    v.extend_from_slice(frame);
    v.into()
}

/// Reads `value` through a layer with `config`, returning the error message and the bytes
/// allocated during the read (by any thread: the tests of this binary run one at a time).
fn read_bomb(config: CompressionConfig, value: Bytes) -> (String, usize) {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let cache = compressed(config);
        cache.inner().set("bomb", value, Ttl::Default).await.unwrap();
        let region = Region::new(ALLOCATOR);
        let result = cache.get("bomb").await;
        let change = region.change();
        let largest = change.bytes_allocated + change.bytes_reallocated.max(0).unsigned_abs();
        let err = match result {
            Ok(value) => panic!(
                "a bomb must not be returned as a value ({:?} bytes returned)",
                value.map(|v| v.len())
            ),
            Err(e) => e,
        };
        assert_eq!(err.kind(), ErrorKind::Serialization, "{err}");
        assert!(err.message().contains("\"bomb\""), "the key is named: {err}");
        (err.message().to_owned(), largest)
    })
}

#[test]
fn the_default_limit_refuses_a_small_frame_that_expands_past_it() {
    // Header and frame agree on 64 MiB: only the default limit stands in the way.
    let (message, largest) = read_bomb(with_threshold(100), stored(EXPANDED, &bomb_frame()));
    assert!(
        message.contains("declares 67108864 bytes, above max_decompressed_size = 8388608 bytes"),
        "{message}"
    );
    assert!(largest < SMALL, "the read allocated {largest} bytes");
}

#[test]
fn a_header_that_understates_the_frame_is_refused_before_decompressing() {
    // The header declares 4 KiB (under the limit); the frame's own header says 64 MiB.
    let (message, largest) = read_bomb(with_threshold(100), stored(4096, &bomb_frame()));
    assert!(
        message.contains("the header declares 4096 bytes, the zstd frame 67108864"),
        "{message}"
    );
    assert!(largest < SMALL, "the read allocated {largest} bytes");
}

#[test]
fn a_frame_that_lies_about_its_size_stops_at_the_declared_length() {
    // Header and frame both declare 4 KiB, but the frame's blocks expand to 64 MiB: zstd writes
    // into a buffer of the declared length and fails when it is full.
    let mut frame = bomb_frame();
    let descriptor = frame[4];
    assert_eq!(descriptor >> 6, 2, "a 4-byte content size field");
    assert_eq!(descriptor & 0b11, 0, "no dictionary id");
    let single_segment = descriptor & 0b0010_0000 != 0;
    let at = 5 + usize::from(!single_segment);
    assert_eq!(
        u32::from_le_bytes(frame[at..at + 4].try_into().unwrap()) as usize,
        EXPANDED
    );
    frame[at..at + 4].copy_from_slice(&4096u32.to_le_bytes());
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&frame).ok(),
        Some(Some(4096))
    );
    let (message, largest) = read_bomb(with_threshold(100), stored(4096, &frame));
    assert!(message.contains("zstd decompression failed"), "{message}");
    assert!(largest < SMALL, "the read allocated {largest} bytes");
}

#[test]
fn a_raised_limit_decompresses_the_same_frame() {
    // The control: the frame is a valid 64 MiB value, read (and allocated) once the limit
    // allows it.
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let mut config = with_threshold(100);
        config.max_decompressed_size = EXPANDED;
        let cache = compressed(config);
        cache
            .inner()
            .set("big", stored(EXPANDED, &bomb_frame()), Ttl::Default)
            .await
            .unwrap();
        let region = Region::new(ALLOCATOR);
        let value = cache.get("big").await.unwrap().unwrap();
        // The counter sees a decompression's buffer: the bounds above measure something.
        assert!(region.change().bytes_allocated >= EXPANDED);
        assert_eq!(value.len(), EXPANDED);
        assert!(value.iter().all(|&b| b == 0));
    });
}
