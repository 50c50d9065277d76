//! Calendar arithmetic for the UTC timestamps sluice writes and reads (audit and flow logs,
//! principal expiry), without a time crate: Howard Hinnant's day-count algorithms.

/// Days from 1970-01-01 to a date on or after it (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    // Count from 0000-03-01, so that leap days end a year; the epoch is day 719,468.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month, day) of a day counted from 1970-01-01 (Hinnant's `civil_from_days`).
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    (year_of_era + era * 400 + u64::from(month <= 2), month, day)
}

/// Nanoseconds since the Unix epoch as RFC 3339 in UTC with milliseconds, such as
/// `2026-03-01T12:00:00.250Z`.
pub fn rfc3339_millis(unix_ns: u64) -> String {
    const NANOS_PER_SECOND: u64 = 1_000_000_000;
    let seconds = unix_ns / NANOS_PER_SECOND;
    let millis = unix_ns % NANOS_PER_SECOND / 1_000_000;
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_day_counts_agree() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_709_294_400_250_000_000),
            "2024-03-01T12:00:00.250Z"
        );
        assert_eq!(
            days_from_civil(2024, 2, 29) + 1,
            days_from_civil(2024, 3, 1)
        );
        for days in [0, 59, 60, 365, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
