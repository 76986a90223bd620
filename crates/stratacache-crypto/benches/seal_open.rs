//! Seal, open (copying) and a round trip (seal, then open in place as a value read from Redis is)
//! at 1 KiB, 10 KiB, 100 KiB and 1 MiB: time per operation and per round trip,
//! and throughput (plaintext bytes per second), the median of several runs.
//!
//! `cargo bench -p stratacache-crypto` runs it in full; under `cargo test` (no `--bench`) it makes
//! one tiny smoke run; `--list` lists nothing.
//!
//! Targets: a 1 KiB round trip under 5 µs, and at least 500 MB/s at 100 KiB.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use stratacache_crypto::envelope::{open, open_bytes, seal};
use stratacache_crypto::{EncryptionKey, KeyRing};

const SIZES: [(usize, &str); 4] = [
    (1024, "1 KiB"),
    (10 * 1024, "10 KiB"),
    (100 * 1024, "100 KiB"),
    (1024 * 1024, "1 MiB"),
];
const KEY: &str = "ai:summarize:2f1c9a7e4b";

/// The median time per call of `f`, over `runs` runs of `iters` calls.
fn median(runs: usize, iters: u32, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed() / iters
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn mb_per_s(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e6
}

fn micros(t: Duration) -> f64 {
    t.as_secs_f64() * 1e6
}

fn main() {
    let Some(full) = stratacache_testkit::bench::full_run("seal_open") else {
        return;
    };
    let ring = KeyRing::new(EncryptionKey::generate());

    println!(
        "{:>8}  {:>10} {:>10} {:>12}  {:>10} {:>10} {:>10}",
        "size", "seal µs", "open µs", "round µs", "seal MB/s", "open MB/s", "round MB/s"
    );
    let mut results = Vec::new();
    // The smoke run (debug build, under `cargo test`) only checks that the bench works.
    let sizes = if full { &SIZES[..] } else { &SIZES[..1] };
    for &(size, name) in sizes {
        let plaintext: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let sealed = seal(&ring, KEY, &plaintext);
        let (runs, iters) = if full {
            // About 40 MiB of plaintext per run, 7 runs.
            (7, u32::try_from((40 << 20) / size).unwrap().clamp(20, 40_000))
        } else {
            (1, 1)
        };
        let t_seal = median(runs, iters, || {
            black_box(seal(&ring, KEY, black_box(&plaintext)));
        });
        let t_open = median(runs, iters, || {
            black_box(open(&ring, KEY, black_box(&sealed)).unwrap());
        });
        // As through the layer over Redis: the envelope read back is decrypted in place.
        let t_round = median(runs, iters, || {
            let s = seal(&ring, KEY, black_box(&plaintext));
            black_box(open_bytes(&ring, KEY, s.into()).unwrap());
        });
        println!(
            "{name:>8}  {:>10.2} {:>10.2} {:>12.2}  {:>10.0} {:>10.0} {:>10.0}",
            micros(t_seal),
            micros(t_open),
            micros(t_round),
            mb_per_s(size, t_seal),
            mb_per_s(size, t_open),
            mb_per_s(size, t_round),
        );
        results.push((size, t_seal, t_open, t_round));
    }
    if !full {
        println!("(smoke run: pass --bench, as `cargo bench` does, for real figures)");
        return;
    }

    let (_, _, _, round_1k) = results[0];
    let (size_100k, seal_100k, open_100k, _) = results[2];
    let ok = |met: bool| if met { "met" } else { "NOT met" };
    println!();
    println!(
        "target: 1 KiB round trip < 5 µs: {:.2} µs ({})",
        micros(round_1k),
        ok(round_1k < Duration::from_micros(5))
    );
    let (seal_rate, open_rate) = (mb_per_s(size_100k, seal_100k), mb_per_s(size_100k, open_100k));
    println!(
        "target: >= 500 MB/s at 100 KiB: seal {seal_rate:.0} MB/s, open {open_rate:.0} MB/s ({})",
        ok(seal_rate >= 500.0 && open_rate >= 500.0)
    );
}
