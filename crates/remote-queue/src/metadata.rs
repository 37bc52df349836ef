//! Remote write 1.0 metadata requests: every `send_interval`, the metric families known from
//! metadata records, `max_samples_per_send` entries per request, retried like data (spec §3.8).

use crate::client::StoreError;
use crate::config::Protocol;
use crate::proto::{begin_len, end_len, put_int, put_tag, put_uvarint, WIRE_LEN};
use crate::series::Family;
use crate::shared::Shared;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

/// `WriteRequest { metadata = 3 }` with one `MetricMetadata` per family.
pub(crate) fn encode(families: &[Family], buf: &mut Vec<u8>) {
    for (name, typ, help, unit) in families {
        let start = begin_len(buf, 3);
        // The 1.0 enum numbers the types as the WAL does; anything unknown is UNKNOWN (0).
        let t = match typ.byte() {
            b @ 1..=7 => u64::from(b),
            _ => 0,
        };
        put_int(buf, 1, t);
        for (field, s) in [(2u32, name), (4, help), (5, unit)] {
            if !s.is_empty() {
                put_tag(buf, field, WIRE_LEN);
                put_uvarint(buf, s.len() as u64);
                buf.extend_from_slice(s);
            }
        }
        end_len(buf, start);
    }
}

/// Sends the current families once. Returns false when the queue is stopping.
pub(crate) fn send_all(shared: &Shared) -> bool {
    let families = shared.cache_read().metadata_families();
    let m = &shared.metrics;
    for chunk in families.chunks(shared.cfg.metadata.max_samples_per_send.max(1)) {
        let mut raw = Vec::new();
        encode(chunk, &mut raw);
        let body = match snap::raw::Encoder::new().compress_vec(&raw) {
            Ok(b) => b,
            Err(e) => {
                log::error!("cannot compress metadata request: {e}");
                m.metadata_failed.fetch_add(chunk.len() as u64, Relaxed);
                continue;
            }
        };
        let n = chunk.len() as u64;
        let mut backoff = shared.cfg.queue.min_backoff;
        let mut attempt = 0;
        loop {
            if shared.hard_stop.load(SeqCst) {
                return false;
            }
            let t0 = Instant::now();
            let r = shared.transport.store(&body, Protocol::V1, attempt);
            if !matches!(r, Err(StoreError::Local { .. })) {
                m.observe_duration(t0.elapsed());
                shared.local_fault_cleared();
            }
            match r {
                Ok(_) => {
                    m.metadata_total.fetch_add(n, Relaxed);
                    m.metadata_bytes.fetch_add(body.len() as u64, Relaxed);
                    break;
                }
                Err(StoreError::NonRecoverable { message, .. }) => {
                    log::error!("non-recoverable error sending {n} metadata entries: {message}");
                    m.metadata_failed.fetch_add(n, Relaxed);
                    break;
                }
                Err(StoreError::Recoverable { message, retry_after }) => {
                    let sleep = retry_after.unwrap_or(backoff);
                    if !shared.sleep_unless_hard_stop(sleep) {
                        return false;
                    }
                    m.metadata_retried.fetch_add(n, Relaxed);
                    log::warn!("failed to send metadata, retrying: {message}");
                    backoff = (sleep * 2).min(shared.cfg.queue.max_backoff);
                    attempt += 1;
                }
                Err(StoreError::Local { message }) => {
                    shared.local_fault(&message);
                    if !shared.sleep_unless_hard_stop(backoff) {
                        return false;
                    }
                    backoff = (backoff * 2).min(shared.cfg.queue.max_backoff);
                }
            }
        }
    }
    true
}
