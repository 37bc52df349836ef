#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// One hint to the processor needs `unsafe`: see `prefetch.rs`.
#![deny(unsafe_code)]

mod ack;
mod batch_send;
mod batch_stats;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench_support;
mod client;
mod clock;
pub mod config;
mod encode;
mod encode_v1;
mod encode_v2;
mod error;
mod intern;
mod isolate;
mod item;
mod last_error;
mod lock;
mod log_limit;
pub mod logging;
mod metadata;
mod metadata_loop;
pub mod metrics;
mod oauth2;
#[cfg(feature = "pb")]
pub mod pb;
mod point_proto;
mod prefetch;
mod prometheus_api;
mod proto;
mod queue;
mod queue_state;
mod ref_index;
pub mod relabel;
mod reshard;
mod reshard_loop;
mod send;
mod send_context;
mod series;
mod shards;
pub mod sigv4;
mod target_metadata;
mod tls;

pub use config::{
    Auth, EndpointConfig, MetadataConfig, OAuth2Config, Protocol, QueueConfig, Secret, SigV4Config, TlsConfig,
};
pub use error::{Error, Result};
pub use last_error::LastError;
pub use metrics::{DropReason, MetricsSnapshot};
pub use prometheus_api::{parse_targets_metadata, PrometheusApi, PrometheusApiConfig};
pub use queue::{render_metrics, QueueManager};
pub use relabel::{Action, LabelSet, RelabelConfig, Relabeler};
pub use target_metadata::{metric_type_of, TargetEntry, TargetMetadata};

/// The record types the queue accepts, re-exported so that a program without a WAL needs no
/// direct dependency on `wal-format`.
pub use wal_format::record::{
    FloatHistogram, Histogram, Labels, LabelsRef, MetricType, RefExemplar, RefFloatHistogramSample, RefHistogramSample,
    RefMetadata, RefSample, RefSeries, SeriesRef, Span, STALE_NAN_BITS,
};
pub use wal_format::Position;
