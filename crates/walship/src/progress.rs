//! `ship --progress`: a progress bar on a terminal, the periodic plain line elsewhere (a pipe, a
//! journal), where a redrawn bar would only be noise.
//!
//! The bar measures the WAL in bytes: done is where the slowest endpoint's acknowledged cursor
//! stands (every segment before its segment, plus its offset), the total is every segment in the
//! directory now. Both are read again at each tick, so a catch-up that Prometheus keeps adding
//! to shows its true remaining work, and the bar sits near the end while walship tails.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wal_format::Position;

/// The bar, while one is drawn: log lines are printed above it rather than through it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// What one tick reports.
pub struct Tick {
    /// Samples the remotes accepted, summed over endpoints.
    pub delivered: u64,
    /// Samples per second over the last tick.
    pub rate: f64,
    /// Lowest acknowledged position over the endpoints (`None` before the first acknowledgement).
    pub acknowledged: Option<Position>,
    /// Lowest segment being read over the endpoints (for the plain line, as before).
    pub reading: u64,
    /// Seconds behind the newest sample read, when known.
    pub lag_seconds: Option<f64>,
    /// Persisted blocks being shipped (`--start=oldest`, gap fill), while that phase lasts.
    pub blocks: Vec<String>,
}

/// The progress display of one run.
pub enum Progress {
    /// A bar on the terminal.
    Bar { bar: ProgressBar, wal: PathBuf },
    /// A line per tick on stderr.
    Line,
}

impl Progress {
    /// A bar when stderr is a terminal, the plain line otherwise.
    pub fn new(wal_dir: &Path) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::Line;
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4));
        let style = ProgressStyle::with_template(
            "{bar:24.cyan/blue} {percent:>3}% {binary_bytes}/{binary_total_bytes} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        if let Ok(mut slot) = BAR.lock() {
            *slot = Some(bar.clone());
        }
        Progress::Bar { bar, wal: wal_reader::resolve_wal_dir(wal_dir) }
    }

    /// Shows one tick.
    pub fn tick(&self, t: &Tick) {
        let lag = t.lag_seconds.map_or("-".to_string(), |s| format!("{s:.1}s"));
        match self {
            Progress::Line if !t.blocks.is_empty() => {
                eprintln!(
                    "walship: {} samples sent, {:.0} samples/s, blocks {}",
                    t.delivered,
                    t.rate,
                    t.blocks.join(" ")
                )
            }
            Progress::Line => eprintln!(
                "walship: {} samples sent, {:.0} samples/s, lag {lag}, segment {:08}",
                t.delivered, t.rate, t.reading
            ),
            Progress::Bar { bar, wal } => {
                let segments = segment_sizes(wal);
                let (done, total) = bytes_done(&segments, t.acknowledged);
                bar.set_length(total);
                bar.set_position(done);
                let last = segments.last().map_or(0, |s| s.0);
                // The segment of the acknowledged cursor, as the bar measures: the watchers'
                // segment being read stays 0 until their first segment ends.
                let at = t.acknowledged.map_or_else(|| segments.first().map_or(0, |s| s.0), |p| p.segment);
                // Short enough that bar and message fit one 100-column line.
                let lag = t.lag_seconds.map_or("-".to_string(), |s| crate::time::span((s * 1000.0) as i64));
                if !t.blocks.is_empty() {
                    bar.set_message(format!("blocks {} {} sent", t.blocks.join(" "), compact(t.delivered as f64)));
                    return;
                }
                bar.set_message(format!(
                    "seg {at}/{last} {}/s {} sent lag {lag}",
                    compact(t.rate),
                    compact(t.delivered as f64)
                ));
            }
        }
    }

    /// Removes the bar (the summary line follows it).
    pub fn finish(self) {
        if let Progress::Bar { bar, .. } = self {
            if let Ok(mut slot) = BAR.lock() {
                *slot = None;
            }
            bar.finish_and_clear();
        }
    }
}

/// Writes `line` to stderr above the bar, if one is drawn.
pub fn print_above(line: &str) -> bool {
    let Ok(slot) = BAR.lock() else { return false };
    match slot.as_ref() {
        Some(bar) => {
            bar.suspend(|| eprint!("{line}"));
            true
        }
        None => false,
    }
}

/// 950, 12.3k, 4.5M: counts that keep the line short.
fn compact(n: f64) -> String {
    match n {
        n if n < 1e3 => format!("{n:.0}"),
        n if n < 1e6 => format!("{:.1}k", n / 1e3),
        n if n < 1e9 => format!("{:.1}M", n / 1e6),
        n => format!("{:.1}G", n / 1e9),
    }
}

/// (index, size) of every segment in `wal`, in order; empty when it cannot be listed.
fn segment_sizes(wal: &Path) -> Vec<(u64, u64)> {
    wal_reader::list_segments(wal)
        .map(|segs| segs.iter().map(|s| (s.index, std::fs::metadata(&s.path).map_or(0, |m| m.len()))).collect())
        .unwrap_or_default()
}

/// Bytes before `at` and bytes in all, over `segments`.
fn bytes_done(segments: &[(u64, u64)], at: Option<Position>) -> (u64, u64) {
    let total = segments.iter().map(|s| s.1).sum();
    let Some(at) = at else { return (0, total) };
    let before: u64 = segments.iter().filter(|s| s.0 < at.segment).map(|s| s.1).sum();
    let within = segments.iter().find(|s| s.0 == at.segment).map_or(0, |s| at.offset.min(s.1));
    (before + within, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_compact() {
        assert_eq!([compact(950.0), compact(12_345.0), compact(4_500_000.0)], ["950", "12.3k", "4.5M"]);
    }

    #[test]
    fn bytes_done_counts_whole_segments_then_the_offset() {
        let segs = [(3, 100), (4, 100), (5, 40)];
        assert_eq!(bytes_done(&segs, None), (0, 240));
        assert_eq!(bytes_done(&segs, Some(Position { segment: 4, offset: 30 })), (130, 240));
        assert_eq!(bytes_done(&segs, Some(Position { segment: 5, offset: 40 })), (240, 240));
        // An offset past a segment's size (it grew since the listing) is capped at its size.
        assert_eq!(bytes_done(&segs, Some(Position { segment: 5, offset: 90 })), (240, 240));
        // A cursor in a segment deleted since: everything before it is done.
        assert_eq!(bytes_done(&segs, Some(Position { segment: 9, offset: 1 })), (240, 240));
    }
}
