//! `record` from many threads: exact totals, also while the minutes roll over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use stratacache_monitor::invalidation::InvalidationConfig;

use super::{HOUR, MINUTE, MS, tracker};

#[test]
fn concurrent_records_are_counted_exactly() {
    let (t, _clock) = tracker(InvalidationConfig::default());
    std::thread::scope(|s| {
        for thread in 0..8_u64 {
            let t = &t;
            s.spawn(move || {
                let own = format!("thread:{thread}:*");
                for i in 0..10_000_u64 {
                    let pattern = if i % 2 == 0 { "shared" } else { own.as_str() };
                    t.record(pattern, thread + 1, Duration::from_micros(i % 100), "load");
                }
            });
        }
    });
    let s = t.snapshot();
    assert_eq!(s.total_invalidations, 80_000);
    assert_eq!(s.total_keys_invalidated, 10_000 * (1..=8).sum::<u64>());
    assert_eq!((s.rates.last_hour, s.rates.last_24_hours), (80_000, 80_000));
    assert_eq!(s.patterns.most_common_patterns[0].pattern, "shared");
    assert_eq!(s.patterns.most_common_patterns[0].count, 40_000);
    assert!(
        s.patterns.most_common_patterns[1..9]
            .iter()
            .all(|p| p.count == 5_000)
    );
    let types = s.patterns.invalidation_types;
    assert_eq!((types.exact, types.prefix), (40_000, 40_000));
    assert_eq!(s.efficiency.avg_keys_per_invalidation, 4.5);
    assert!((s.efficiency.max_duration - 99e-6).abs() < 1e-12);
    assert_eq!(s.recent.len(), 100);
}

#[test]
fn concurrent_records_while_minutes_roll_over() {
    for (retention, advance_hours) in [(24 * HOUR, 10), (HOUR, 5)] {
        let config = InvalidationConfig {
            retention,
            ..InvalidationConfig::default()
        };
        let (t, clock) = tracker(config);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..8)
                .map(|_| {
                    let t = &t;
                    s.spawn(move || {
                        for _ in 0..10_000 {
                            t.record("k:*", 1, MS, "");
                        }
                    })
                })
                .collect();
            s.spawn(|| {
                let mut minutes = 0;
                while !done.load(Ordering::Relaxed) && minutes < advance_hours * 60 {
                    clock.advance(MINUTE);
                    minutes += 1;
                    std::thread::yield_now();
                }
            });
            for w in writers {
                w.join().expect("writer");
            }
            done.store(true, Ordering::Relaxed);
        });
        let s = t.snapshot();
        assert_eq!(s.total_invalidations, 80_000);
        assert_eq!(s.total_keys_invalidated, 80_000);
        if retention == 24 * HOUR {
            assert_eq!(s.rates.last_24_hours, 80_000, "nothing is older than 10 hours");
        } else {
            assert!(s.rates.last_24_hours <= 80_000);
            assert_eq!(s.rates.last_hour, s.rates.last_24_hours);
        }
    }
}
