//! Helpers for `harness = false` benchmark binaries: how they were invoked, medians and
//! percentiles, timed get hits compared in alternating rounds, and a closed loopback port.

use std::hint::black_box;
use std::time::Instant;

use stratacache_core::Cache;

/// How a benchmark binary named `name` was invoked, from its arguments:
///
/// - `None`: do nothing: nextest asks benches for their tests with `--list` (there are none), or
///   `cargo bench <filter>` selected other benches;
/// - `Some(true)`: a real run (`cargo bench` passes `--bench`);
/// - `Some(false)`: a quick smoke run, as under `cargo test --all-targets`.
pub fn full_run(name: &str) -> Option<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return None;
    }
    if let Some(filter) = args.iter().find(|a| !a.starts_with("--"))
        && !name.contains(filter.as_str())
    {
        return None;
    }
    Some(args.iter().any(|a| a == "--bench"))
}

/// The median of a non-empty set of measurements.
///
/// # Panics
///
/// If `values` is empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "median of no measurements");
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The `p`-th percentile (`0.0 ..= 100.0`) of a non-empty set of measurements, by nearest rank:
/// the smallest value that at least `p` percent of the values do not exceed.
///
/// # Panics
///
/// If `values` is empty or `p` is outside `0.0 ..= 100.0`.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    assert!(!values.is_empty(), "percentile of no measurements");
    assert!((0.0..=100.0).contains(&p), "percentile {p} outside 0..=100");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Nanoseconds per `get` over `ops` sequential reads of `keys` (in turn, from the first).
///
/// # Panics
///
/// If `keys` is empty or a `get` fails.
pub async fn get_ns(cache: &dyn Cache, keys: &[String], ops: usize) -> f64 {
    let start = Instant::now();
    for i in 0..ops {
        black_box(
            cache
                .get(&keys[i % keys.len()])
                .await
                .expect("a get during the benchmark failed"),
        );
    }
    start.elapsed().as_nanos() as f64 / ops as f64
}

/// Alternates `rounds` rounds of [`get_ns`] on `a` and on `b`, so that both see the same machine
/// conditions; returns the median ns per get of each.
///
/// # Panics
///
/// As [`get_ns`], and if `rounds` is zero.
pub async fn compare_gets(
    a: &dyn Cache,
    b: &dyn Cache,
    keys: &[String],
    ops: usize,
    rounds: usize,
) -> (f64, f64) {
    let (mut x, mut y) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        x.push(get_ns(a, keys, ops).await);
        y.push(get_ns(b, keys, ops).await);
    }
    (median(x), median(y))
}

/// A loopback port nothing listens on (bound, then released): connecting to it is refused.
///
/// # Panics
///
/// If no loopback port can be bound.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("the bound address").port()
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
    }

    #[test]
    fn percentile_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(super::percentile(&values, 50.0), 50.0);
        assert_eq!(super::percentile(&values, 99.0), 99.0);
        assert_eq!(super::percentile(&values, 100.0), 100.0);
        assert_eq!(super::percentile(&values, 0.0), 1.0);
        assert_eq!(super::percentile(&[7.0, 3.0], 99.0), 7.0);
        assert_eq!(super::percentile(&[7.0, 3.0], 50.0), 3.0);
    }
}
