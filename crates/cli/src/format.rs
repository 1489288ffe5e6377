//! How times and durations read in the tool's output.

use chrono::{DateTime, Duration, Utc};

/// An instant as `2025-01-31 12:00:00 UTC`.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration as `1h 2m`, `59m 12s` or `12s`: the two largest units, enough to act on.
pub fn duration(d: Duration) -> String {
    let total = d.num_seconds().max(0);
    let (days, hours, minutes, seconds) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// `in 5m 0s` or `3m 2s ago`, from `now`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at >= now { format!("in {}", duration(at - now)) } else { format!("{} ago", duration(now - at)) }
}

/// A token's expiry relative to `now` as a verb phrase: "expires in 4m 0s", or "expired 3h 0m ago".
pub fn expiry(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at > now { format!("expires {}", relative(at, now)) } else { format!("expired {}", relative(at, now)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_show_two_units() {
        assert_eq!(duration(Duration::seconds(12)), "12s");
        assert_eq!(duration(Duration::seconds(59 * 60 + 12)), "59m 12s");
        assert_eq!(duration(Duration::seconds(3600 + 120 + 5)), "1h 2m");
        assert_eq!(duration(Duration::days(3) + Duration::hours(4)), "3d 4h");
        assert_eq!(duration(Duration::seconds(-5)), "0s");
    }

    #[test]
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(relative(now + Duration::minutes(15), now), "in 15m 0s");
        assert_eq!(relative(now - Duration::seconds(90), now), "1m 30s ago");
        assert!(time(now).ends_with(" UTC"));
        assert_eq!(expiry(now + Duration::minutes(4), now), "expires in 4m 0s");
        assert_eq!(expiry(now - Duration::hours(3), now), "expired 3h 0m ago");
    }
}
