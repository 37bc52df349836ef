//! Follows a Prometheus WAL directory as Prometheus's own remote-write watcher does: reads the last
//! checkpoint (series only), then every segment in order, then tails the newest segment, handing
//! every record to a caller-supplied sink together with its WAL position.
//!
//! This crate is still empty: the loop arrives with the `wal-watcher` issue.
