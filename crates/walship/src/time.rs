//! Wall-clock time as walship reads and writes it: milliseconds since the Unix epoch, and RFC 3339
//! text (`jiff` does the calendar arithmetic).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The current time as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    rfc3339(now_ms())
}

/// `ms` since the epoch as RFC 3339 UTC with milliseconds (`2026-11-24T14:46:41.067Z`).
pub fn rfc3339(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => format!("{t:.3}"),
        Err(_) => ms.to_string(),
    }
}

/// Parses an RFC 3339 time (`2026-11-24T14:46:41Z`, with fractional seconds or a UTC offset) to
/// ms since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

/// A lag: seconds while small, then the unit that keeps the number short.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) as f64 / 1000.0;
    match s {
        s if s < 120.0 => format!("{s:.1} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_both_ways() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-24T14:46:41.067Z"), Some(1_795_531_601_067));
        assert_eq!(parse_rfc3339("2026-11-24T15:46:41.067+01:00"), Some(1_795_531_601_067));
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(rfc3339(1_795_531_601_067), "2026-11-24T14:46:41.067Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
