//! What a watcher is asked to do: which records to hand on, and how often to look.

use crate::start::StartMode;
use std::time::Duration;

/// How a watcher behaves. `Default` gives Prometheus's behaviour and periods.
#[derive(Debug, Clone)]
pub struct WatcherOptions {
    /// Which samples to send.
    pub start: StartMode,
    /// Hand exemplars to the sink.
    pub send_exemplars: bool,
    /// Hand native histograms to the sink.
    pub send_histograms: bool,
    /// Hand metadata records to the sink.
    pub send_metadata: bool,
    /// Wake on file-system notifications (inotify). Without them, or where they fail, the
    /// watcher polls every `poll_interval`.
    pub use_notify: bool,
    /// How often the tailed segment is read when nothing wakes the watcher. Prometheus 2.42 polls
    /// every 10 ms; with notifications this is only a safety net.
    pub poll_interval: Duration,
    /// How often to look for a newer segment while tailing (Prometheus: 100 ms).
    pub segment_check_interval: Duration,
    /// How often to look for a new checkpoint to garbage-collect series (Prometheus: 5 s).
    pub checkpoint_check_interval: Duration,
    /// Pause before starting again after an error (Prometheus: 5 s).
    pub retry_interval: Duration,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        WatcherOptions {
            start: StartMode::Now,
            send_exemplars: true,
            send_histograms: true,
            send_metadata: true,
            use_notify: true,
            poll_interval: Duration::from_millis(10),
            segment_check_interval: Duration::from_millis(100),
            checkpoint_check_interval: Duration::from_secs(5),
            retry_interval: Duration::from_secs(5),
        }
    }
}
