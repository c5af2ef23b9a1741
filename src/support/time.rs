//! Unix time: the seconds (or finer units) since the epoch that records, sidecars and FD
//! messages store. A clock before the epoch reads as 0.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Seconds since the epoch, now.
pub fn unix_now() -> u64 {
    unix(SystemTime::now())
}

/// Milliseconds since the epoch, now.
pub fn unix_millis_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Microseconds since the epoch, now.
pub fn unix_micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A time from seconds since the epoch.
pub fn from_unix(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// Unix seconds as a UTC date and time to the second, `YYYY-MM-DD<sep>HH:MM:SSZ`: with
/// `'T'` that is RFC 3339. Howard Hinnant's civil-from-days; no overflow for any u64 (the
/// day count is below 2^48); years past 9999 get more digits.
pub fn utc_date_time(secs: u64, sep: char) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}{sep}{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_before_epoch() {
        assert_eq!(unix(from_unix(1_700_000_000)), 1_700_000_000);
        assert_eq!(unix(UNIX_EPOCH - Duration::from_secs(5)), 0);
        assert!(unix_millis_now() / 1000 >= unix_now().saturating_sub(1));
        assert!(unix_micros_now() > unix_millis_now());
    }
}
