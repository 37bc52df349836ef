//! Prometheus duration strings: `30s`, `5m`, `1h30m`, `100ms`, `1d`, `2w`, `1y`.

use std::time::Duration;

/// Parses a Prometheus duration (units y, w, d, h, m, s, ms, in that order, each at most once).
pub fn parse(s: &str) -> Result<Duration, String> {
    let bad = || format!("not a valid duration string: {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let units: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1_000),
    ];
    let order = ["y", "w", "d", "h", "m", "s", "ms"];
    let (mut rest, mut total, mut last) = (s, 0u64, None::<usize>);
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, ms) = units.iter().find(|(u, _)| rest.starts_with(u)).ok_or_else(bad)?;
        let rank = order.iter().position(|o| o == unit).ok_or_else(bad)?;
        if last.is_some_and(|l| rank <= l) {
            return Err(bad());
        }
        last = Some(rank);
        total = n.checked_mul(*ms).and_then(|x| total.checked_add(x)).ok_or_else(bad)?;
        rest = &rest[unit.len()..];
    }
    Ok(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_durations() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("1m5s10ms"), Ok(Duration::from_millis(65_010)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "s", "1s1m", "1.5s", "-1s", "1x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
