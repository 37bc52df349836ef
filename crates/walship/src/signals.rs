//! SIGINT and SIGTERM, counted: the first asks for a clean stop (flush the queues, save the
//! cursors), a second one for an immediate exit.

use crate::error::CliError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The number of SIGINT and SIGTERM received so far, kept by a thread of its own.
pub struct Signals {
    count: Arc<AtomicUsize>,
}

impl Signals {
    /// Starts counting.
    pub fn watch() -> Result<Signals, CliError> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .map_err(|e| CliError::Run(format!("cannot watch for signals: {e}")))?;
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for _ in signals.forever() {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            })
            .map_err(|e| CliError::Run(format!("cannot start a thread: {e}")))?;
        Ok(Signals { count })
    }

    /// How many signals arrived.
    pub fn received(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}
