//! What a chunk decodes to: samples, their values and the native histogram types.

/// The bit pattern of Prometheus's staleness marker, a NaN no arithmetic produces.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The schema number of native histograms with custom bucket bounds.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// A run of consecutive histogram buckets: `offset` buckets after the previous span (or the
/// index of the first bucket, for the first span), `length` buckets long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Gap to the previous span.
    pub offset: i32,
    /// Number of buckets.
    pub length: u32,
}

/// What a histogram sample says about counter resets, as Prometheus's `CounterResetHint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CounterResetHint {
    /// Unknown: the receiver has to compare with the previous sample (0).
    #[default]
    Unknown,
    /// A counter reset happened (1).
    Reset,
    /// No counter reset happened (2).
    NotReset,
    /// A gauge histogram: counter resets do not apply (3).
    Gauge,
}

impl CounterResetHint {
    /// Prometheus's number for it, 0 to 3 (remote write's `ResetHint` uses the same numbers).
    pub fn as_u8(self) -> u8 {
        match self {
            CounterResetHint::Unknown => 0,
            CounterResetHint::Reset => 1,
            CounterResetHint::NotReset => 2,
            CounterResetHint::Gauge => 3,
        }
    }
}

/// A native histogram with integer counts. Bucket counts are deltas to the previous bucket
/// (the first is absolute), as Prometheus and remote write carry them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Counter reset hint.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution; [`CUSTOM_BUCKETS_SCHEMA`] for custom buckets.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Total observations.
    pub count: u64,
    /// Sum of observations (a stale marker's bits for a stale sample).
    pub sum: f64,
    /// Spans of positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts, each a delta to the previous bucket.
    pub positive_buckets: Vec<i64>,
    /// Negative bucket counts, each a delta to the previous bucket.
    pub negative_buckets: Vec<i64>,
    /// Upper bounds of custom buckets (schema −53 only).
    pub custom_values: Vec<f64>,
}

/// A native histogram with float counts (absolute counts, not deltas).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// Counter reset hint.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution; [`CUSTOM_BUCKETS_SCHEMA`] for custom buckets.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total observations.
    pub count: f64,
    /// Sum of observations (a stale marker's bits for a stale sample).
    pub sum: f64,
    /// Spans of positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of negative buckets.
    pub negative_spans: Vec<Span>,
    /// Positive bucket counts.
    pub positive_buckets: Vec<f64>,
    /// Negative bucket counts.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of custom buckets (schema −53 only).
    pub custom_values: Vec<f64>,
}

/// A sample's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A float; a stale marker has the bits [`STALE_NAN_BITS`].
    Float(f64),
    /// An integer native histogram.
    Histogram(Box<Histogram>),
    /// A float native histogram.
    FloatHistogram(Box<FloatHistogram>),
}

impl Value {
    /// Whether this is a Prometheus stale marker (for histograms: a stale-marker sum).
    pub fn is_stale(&self) -> bool {
        match self {
            Value::Float(v) => v.to_bits() == STALE_NAN_BITS,
            Value::Histogram(h) => h.sum.to_bits() == STALE_NAN_BITS,
            Value::FloatHistogram(h) => h.sum.to_bits() == STALE_NAN_BITS,
        }
    }
}

/// One decoded sample. The default is a float 0 at time 0, a blank to decode into with
/// [`ChunkSamples::next_into`](crate::ChunkSamples::next_into).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Timestamp in ms since the Unix epoch.
    pub t: i64,
    /// Start timestamp in ms; 0 when the chunk holds none (every encoding but the three
    /// `…St`/`Xor2` ones, or a chunk that did not record it), as Prometheus reports it.
    pub st: i64,
    /// The value.
    pub value: Value,
}

impl Default for Sample {
    fn default() -> Self {
        Sample { t: 0, st: 0, value: Value::Float(0.0) }
    }
}
