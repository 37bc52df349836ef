//! `--prometheus.url`: the metadata of the Prometheus server's scrape targets, read from its API
//! at start and every `metadata_config.send_interval`, handed to every queue.
//!
//! Prometheus 2.x writes no metadata to its WAL, and 3.x only with a feature flag; its own remote
//! write takes metadata from the scrape cache, which `/api/v1/targets/metadata` shows. The API
//! being down costs metadata, never samples: the queues keep what they were last given, and the
//! outage is logged once when it starts and once when it ends.

use remote_queue::{PrometheusApi, QueueManager, TargetMetadata};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A change in whether the API answers: what is worth a log line.
pub enum Note<'a> {
    /// The first answer, or the first after failures (`again`).
    Answers {
        /// The API's base URL.
        url: &'a str,
        /// After failures.
        again: bool,
        /// Targets listed.
        targets: usize,
        /// Distinct families.
        families: usize,
    },
    /// The first failure after an answer (or at start).
    Fails {
        /// The API's base URL.
        url: &'a str,
        /// What failed.
        err: &'a str,
    },
}

/// Where notes go (the caller's logger).
pub type Notify = fn(&Note<'_>);

/// Reads the API and tells whether it answered, noting only changes of state.
pub struct Reader {
    api: PrometheusApi,
    notify: Notify,
    /// The last read failed (and was logged).
    failing: bool,
    /// What the queues were last given, to skip handing out the same metadata again.
    last: Option<Arc<TargetMetadata>>,
}

impl Reader {
    /// A reader of `api`, telling `notify` when the API starts or stops answering.
    pub fn new(api: PrometheusApi, notify: Notify) -> Reader {
        Reader { api, notify, failing: false, last: None }
    }

    /// Reads the targets' metadata once; `None` when the API did not answer or nothing changed.
    pub fn read(&mut self) -> Option<Arc<TargetMetadata>> {
        match self.api.targets_metadata() {
            Ok(md) => {
                let first = self.last.is_none();
                if self.failing || first {
                    (self.notify)(&Note::Answers {
                        url: self.api.url(),
                        again: self.failing,
                        targets: md.targets(),
                        families: md.len(),
                    });
                }
                self.failing = false;
                if self.last.as_deref() == Some(&md) {
                    return None;
                }
                let md = Arc::new(md);
                self.last = Some(md.clone());
                Some(md)
            }
            Err(e) => {
                if !self.failing {
                    (self.notify)(&Note::Fails { url: self.api.url(), err: &e });
                }
                self.failing = true;
                None
            }
        }
    }
}

/// The thread that refreshes the queues' target metadata.
pub struct Refresher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Refresher {
    /// Reads the API every `interval` and hands what it answers to `queues`.
    pub fn start(mut reader: Reader, interval: Duration, queues: Vec<Arc<QueueManager>>) -> std::io::Result<Refresher> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let s = stop.clone();
        let thread = std::thread::Builder::new().name("target-metadata".into()).spawn(move || loop {
            {
                let g = s.0.lock().unwrap_or_else(|p| p.into_inner());
                let (g, _) =
                    s.1.wait_timeout_while(g, interval, |stopped| !*stopped).unwrap_or_else(|p| p.into_inner());
                if *g {
                    return;
                }
            }
            if let Some(md) = reader.read() {
                for q in &queues {
                    q.set_target_metadata(md.clone());
                }
            }
        })?;
        Ok(Refresher { stop, thread: Some(thread) })
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        *self.stop.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
