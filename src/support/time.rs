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
