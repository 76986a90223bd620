//! ISO 8601 UTC timestamps from a [`Duration`] since the Unix epoch, without a date-time
//! dependency: the one formatter behind every timestamp stratacache reports (the monitor's
//! invalidation events and snapshots, the factory's health reports, the admin API's answers).

use std::time::Duration;

/// Formats a time since the Unix epoch as an ISO 8601 UTC timestamp with whole seconds
/// (`2026-11-21T09:30:00Z`); the fraction of a second is dropped.
///
/// ```
/// use std::time::Duration;
/// use stratacache_core::format_timestamp;
///
/// assert_eq!(format_timestamp(Duration::from_secs(1_795_253_400)), "2026-11-21T09:30:00Z");
/// assert_eq!(format_timestamp(Duration::ZERO), "1970-01-01T00:00:00Z");
/// ```
pub fn format_timestamp(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let in_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        in_day / 3_600,
        in_day % 3_600 / 60,
        in_day % 60
    )
}

/// The proleptic Gregorian date `(year, month 1..=12, day 1..=31)` of a day number counted from
/// 1970-01-01 (Howard Hinnant's `civil_from_days`, restricted to days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that the leap day ends a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097; // 0..=146_096
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11, March is 0
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> String {
        format_timestamp(Duration::from_secs(secs))
    }

    #[test]
    fn known_dates() {
        // Values from `date -u -d <date> +%s`.
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(946_684_799), "1999-12-31T23:59:59Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_000_000_000), "2001-09-09T01:46:40Z");
        assert_eq!(at(1_709_208_000), "2024-02-29T12:00:00Z");
        assert_eq!(at(1_795_253_400), "2026-11-21T09:30:00Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn fraction_is_dropped() {
        assert_eq!(
            format_timestamp(Duration::from_millis(1_795_253_400_999)),
            "2026-11-21T09:30:00Z"
        );
    }

    #[test]
    fn matches_a_day_by_day_calendar_for_five_centuries() {
        let (mut y, mut m, mut d) = (1970_u64, 1_u64, 1_u64);
        for days in 0..(500 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let month_len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > month_len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
