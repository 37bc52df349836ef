//! Rate-limited error lines: a receiver that rejects many series must not flood the log.

use crate::lock::lock;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines allowed per window; the rest are counted and reported with the next line allowed.
const LINES_PER_WINDOW: u32 = 10;
const WINDOW: Duration = Duration::from_secs(10);

/// Allows [`LINES_PER_WINDOW`] lines every [`WINDOW`].
#[derive(Default)]
pub(crate) struct LogLimiter {
    /// Start of the window, lines logged in it, lines suppressed since the last one logged.
    state: Mutex<Option<(Instant, u32, u64)>>,
}

impl LogLimiter {
    /// Logs the line `line` builds at error level, unless the window's lines are used up. `line`
    /// gets `" (N similar lines suppressed)"` (or `""`) to place in its text.
    pub(crate) fn log(&self, line: impl FnOnce(&str) -> String) {
        if let Some(suppressed) = self.admit(Instant::now()) {
            let note = if suppressed > 0 { format!(" ({suppressed} similar lines suppressed)") } else { String::new() };
            log::error!("{}", line(&note));
        }
    }

    /// `Some(suppressed so far)` when a line may be logged at `now`.
    fn admit(&self, now: Instant) -> Option<u64> {
        let mut g = lock(&self.state);
        let (start, used, suppressed) = g.get_or_insert((now, 0, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *used = 0;
        }
        if *used >= LINES_PER_WINDOW {
            *suppressed += 1;
            return None;
        }
        *used += 1;
        Some(std::mem::take(suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_lines_a_window_then_a_count() {
        let l = LogLimiter::default();
        let t0 = Instant::now();
        let allowed = (0..25).filter(|_| l.admit(t0).is_some()).count();
        assert_eq!(allowed, 10);
        assert_eq!(l.admit(t0 + WINDOW), Some(15), "the next window's first line reports what was held back");
        assert_eq!(l.admit(t0 + WINDOW), Some(0));
    }
}
