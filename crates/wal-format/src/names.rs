//! File names in a WAL directory: segments `00000000`, `00000001`, … and checkpoints
//! `checkpoint.NNNNNNNN`. Built and parsed in one place so the two can never disagree.

/// Prefix of checkpoint directory names.
pub const CHECKPOINT_PREFIX: &str = "checkpoint.";

/// The file name of segment `index`: at least eight digits, zero-padded (Go's `%08d`).
pub fn segment_file_name(index: u64) -> String {
    format!("{index:08}")
}

/// The directory name of the checkpoint that covers segments up to `index`.
pub fn checkpoint_dir_name(index: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{index:08}")
}

/// The segment index a file name stands for, or `None` for a name Prometheus ignores. Like Go's
/// `strconv.Atoi`, a leading `+` is accepted; negative numbers are ignored here (Prometheus would
/// fail on them as out of sequence; no writer makes them).
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('+').unwrap_or(name);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Go's int is 64-bit and signed.
    digits.parse::<u64>().ok().filter(|&i| i <= i64::MAX as u64)
}

/// The index of a checkpoint directory name; `None` for other names, including the
/// `checkpoint.NNNNNNNN.tmp` of a checkpoint still being written.
pub fn parse_checkpoint_name(name: &str) -> Option<u64> {
    parse_segment_name(name.strip_prefix(CHECKPOINT_PREFIX)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_what_prometheus_ignores() {
        assert_eq!(segment_file_name(3), "00000003");
        assert_eq!(segment_file_name(123_456_789), "123456789");
        assert_eq!(parse_segment_name("00000003"), Some(3));
        assert_eq!(parse_segment_name("+7"), Some(7));
        for bad in ["", "+", "-1", "0000000a", "00000001.tmp", "lock", " 1", "99999999999999999999"] {
            assert_eq!(parse_segment_name(bad), None, "{bad:?}");
        }
        assert_eq!(checkpoint_dir_name(12), "checkpoint.00000012");
        assert_eq!(parse_checkpoint_name("checkpoint.00000012"), Some(12));
        assert_eq!(parse_checkpoint_name("checkpoint.00000012.tmp"), None);
        assert_eq!(parse_checkpoint_name("00000012"), None);
    }
}
