//! Remote-write messages for a *receiver*: prost messages declared by hand from the official
//! `.proto` files (`prompb/types.proto`, `prompb/remote.proto`,
//! `prompb/io/prometheus/write/v2/types.proto`), with the fields' names and tags as there.
//!
//! The queue never uses them: its encoders write the wire format themselves. They decode what a
//! queue sent independently of that encoder, for tests and for a receiver that counts or prints
//! what arrives (`walship receive`). Behind the `pb` feature, which brings in `prost`.
//!
//! ```
//! use prost::Message;
//! use remote_queue::pb::v1;
//! let req = v1::WriteRequest { timeseries: vec![v1::TimeSeries::default()], ..Default::default() };
//! let back = v1::WriteRequest::decode(req.encode_to_vec().as_slice()).unwrap();
//! assert_eq!(back.timeseries.len(), 1);
//! ```

/// Remote write 1.0 (`prometheus.WriteRequest`).
pub mod v1 {
    /// A 1.0 request.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// The series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        /// Metadata of the series.
        #[prost(message, repeated, tag = "3")]
        pub metadata: Vec<MetricMetadata>,
    }
    /// Metadata of a metric family (1.0).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricMetadata {
        /// The metric type (`MetricType` of the proto).
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        /// The metric family.
        #[prost(string, tag = "2")]
        pub metric_family_name: String,
        /// Its help text.
        #[prost(string, tag = "4")]
        pub help: String,
        /// Its unit.
        #[prost(string, tag = "5")]
        pub unit: String,
    }
    /// One series and its points.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// The labels.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// The float samples.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        /// The exemplars.
        #[prost(message, repeated, tag = "3")]
        pub exemplars: Vec<Exemplar>,
        /// The native histograms.
        #[prost(message, repeated, tag = "4")]
        pub histograms: Vec<Histogram>,
    }
    /// A label pair.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        /// Label name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// The value.
        #[prost(string, tag = "2")]
        pub value: String,
    }
    /// A float sample.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// The value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
    /// An exemplar.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        /// The labels.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// The value.
        #[prost(double, tag = "2")]
        pub value: f64,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "3")]
        pub timestamp: i64,
    }
    /// A histogram's count, integer or float.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Count {
        /// Integer histograms.
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        /// Float histograms.
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }
    /// A histogram's zero-bucket count, integer or float.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        /// Integer histograms.
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        /// Float histograms.
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }
    /// A native histogram sample (integer or float).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        /// Observations: an integer count, or a float one for float histograms.
        #[prost(oneof = "Count", tags = "1, 2")]
        pub count: Option<Count>,
        /// Sum of the observations.
        #[prost(double, tag = "3")]
        pub sum: f64,
        /// Bucket schema (-53: custom bounds).
        #[prost(sint32, tag = "4")]
        pub schema: i32,
        /// Width of the zero bucket.
        #[prost(double, tag = "5")]
        pub zero_threshold: f64,
        /// Observations in the zero bucket.
        #[prost(oneof = "ZeroCount", tags = "6, 7")]
        pub zero_count: Option<ZeroCount>,
        /// Spans of the negative buckets.
        #[prost(message, repeated, tag = "8")]
        pub negative_spans: Vec<BucketSpan>,
        /// Negative bucket counts as deltas (integer histograms).
        #[prost(sint64, repeated, tag = "9")]
        pub negative_deltas: Vec<i64>,
        /// Negative bucket counts (float histograms).
        #[prost(double, repeated, tag = "10")]
        pub negative_counts: Vec<f64>,
        /// Spans of the positive buckets.
        #[prost(message, repeated, tag = "11")]
        pub positive_spans: Vec<BucketSpan>,
        /// Positive bucket counts as deltas (integer histograms).
        #[prost(sint64, repeated, tag = "12")]
        pub positive_deltas: Vec<i64>,
        /// Positive bucket counts (float histograms).
        #[prost(double, repeated, tag = "13")]
        pub positive_counts: Vec<f64>,
        /// Counter-reset hint.
        #[prost(int32, tag = "14")]
        pub reset_hint: i32,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "15")]
        pub timestamp: i64,
        /// Bucket bounds of a custom-bucket histogram.
        #[prost(double, repeated, tag = "16")]
        pub custom_values: Vec<f64>,
        /// 2.0 only.
        #[prost(int64, tag = "17")]
        pub start_timestamp: i64,
    }
    /// A run of consecutive buckets.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        /// Gap to the previous span (or the first bucket index).
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        /// Buckets in the span.
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }
}

/// Remote write 2.0 (`io.prometheus.write.v2.Request`).
pub mod v2 {
    pub use super::v1::{BucketSpan, Histogram};

    /// A 2.0 request.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        /// The symbol table: every string of the request, once.
        #[prost(string, repeated, tag = "4")]
        pub symbols: Vec<String>,
        /// The series.
        #[prost(message, repeated, tag = "5")]
        pub timeseries: Vec<TimeSeries>,
    }
    /// One series and its points.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Labels as pairs of indices into the symbol table.
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        /// The float samples.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        /// The native histograms.
        #[prost(message, repeated, tag = "3")]
        pub histograms: Vec<Histogram>,
        /// The exemplars.
        #[prost(message, repeated, tag = "4")]
        pub exemplars: Vec<Exemplar>,
        /// Metadata of the series.
        #[prost(message, optional, tag = "5")]
        pub metadata: Option<Metadata>,
    }
    /// A float sample.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// The value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
        /// Start (created) time, ms since the epoch; 0 when unknown.
        #[prost(int64, tag = "3")]
        pub start_timestamp: i64,
    }
    /// An exemplar.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        /// Labels as pairs of indices into the symbol table.
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        /// The value.
        #[prost(double, tag = "2")]
        pub value: f64,
        /// Milliseconds since the epoch.
        #[prost(int64, tag = "3")]
        pub timestamp: i64,
    }
    /// Metadata of a series (2.0).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metadata {
        /// The metric type (`MetricType` of the proto).
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        /// Help text as an index into the symbol table.
        #[prost(uint32, tag = "3")]
        pub help_ref: u32,
        /// Unit as an index into the symbol table.
        #[prost(uint32, tag = "4")]
        pub unit_ref: u32,
    }

    impl Request {
        /// Checks every symbol reference and returns each series' labels as strings.
        pub fn resolve(&self, refs: &[u32]) -> Result<Vec<(String, String)>, String> {
            if !refs.len().is_multiple_of(2) {
                return Err(format!("odd labels_refs length {}", refs.len()));
            }
            let sym = |r: u32| self.symbols.get(r as usize).cloned().ok_or(format!("ref {r} out of range"));
            refs.chunks(2).map(|p| Ok((sym(p[0])?, sym(p[1])?))).collect()
        }
    }
}
