//! A sharded Prometheus remote-write queue: series cache, shards, batching, retries, resharding,
//! remote-write 1.0/2.0 encoding and HTTP sending, with an acknowledged low watermark so that a
//! WAL shipper can resume without loss.
//!
//! This crate is still empty: it arrives with the `remote-queue` issue.
