//! Helpers for `harness = false` benchmark binaries: how they were invoked, and medians.

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

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
    }
}
