//! Follows a Prometheus WAL directory the way Prometheus's remote-write watcher does: reads the
//! last checkpoint (series only), then every segment in order, then tails the newest segment as
//! Prometheus appends to it, handing every record to a [`Sink`] together with its [`Position`].
//!
//! On top of Prometheus's behaviour: start modes besides "now" ([`StartMode`]: a timestamp, the
//! beginning, a saved position), a restart after an error that resumes where it stopped instead
//! of skipping ahead, inotify wake-ups with a polling fallback, and counters for observability.
//!
//! ```no_run
//! use wal_format::record::{RefSample, RefSeries};
//! use wal_format::Position;
//! use wal_watcher::{Sink, StartMode, Watcher, WatcherOptions};
//!
//! struct Print;
//! impl Sink for Print {
//!     type Error = std::convert::Infallible;
//!     fn store_series(&mut self, series: &[RefSeries<'_>], _segment: u64) -> Result<bool, Self::Error> {
//!         for s in series { println!("series {} {}", s.series_ref, s.labels); }
//!         Ok(true) // go on reading
//!     }
//!     fn append_samples(&mut self, samples: &[RefSample], at: Position) -> Result<bool, Self::Error> {
//!         for s in samples { println!("{at} {} {} {}", s.series_ref, s.t, s.v); }
//!         Ok(true)
//!     }
//! }
//!
//! let opts = WatcherOptions { start: StartMode::Now, ..Default::default() };
//! let mut watcher = Watcher::new("/var/lib/prometheus/data", opts, Print);
//! watcher.run(|event| eprintln!("{event:?}"))?;
//! # Ok::<(), wal_watcher::Error>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod dispatch;
mod error;
mod metrics;
mod options;
mod sink;
mod start;
mod wakeup;
mod watcher;

pub use error::Error;
pub use metrics::WatcherMetrics;
pub use options::WatcherOptions;
pub use sink::{GapAnswer, Sink};
pub use start::StartMode;
pub use wal_format::Position;
pub use watcher::{Event, StopHandle, Watcher};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
