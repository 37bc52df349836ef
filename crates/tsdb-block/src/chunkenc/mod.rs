//! Chunk decoders: every encoding Prometheus writes into block chunks.
//!
//! | id | encoding | samples |
//! |---|---|---|
//! | 1 | [`Encoding::Xor`] | floats (Gorilla-style delta-of-delta timestamps, XORed values) |
//! | 2 | [`Encoding::Histogram`] | integer native histograms |
//! | 3 | [`Encoding::FloatHistogram`] | float native histograms |
//! | 4 | [`Encoding::Xor2`] | floats with optional start timestamps (Prometheus 3.x, experimental) |
//! | 5 | [`Encoding::HistogramSt`] | integer histograms with optional start timestamps |
//! | 6 | [`Encoding::FloatHistogramSt`] | float histograms with optional start timestamps |
//!
//! Decoding is a pure function of the chunk's bytes: a [`Chunk`] borrows them and
//! [`Chunk::samples`] yields one [`Sample`] at a time. Bad bytes end the iteration with an
//! [`Error::Corrupt`](crate::Error) whose offset counts from the chunk's first data byte
//! (the block reader rewrites it into the segment file's path and offset).

mod bits;
mod histogram;
#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod test_encoder;
mod xor;
mod xor2;

use crate::error::Error;

/// The bit pattern of Prometheus's staleness marker, a NaN no arithmetic produces.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The schema number of native histograms with custom bucket bounds.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// A chunk encoding, as stored in the byte before each chunk's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Encoding {
    /// Float samples (1).
    Xor,
    /// Integer native histograms (2).
    Histogram,
    /// Float native histograms (3).
    FloatHistogram,
    /// Float samples with start timestamps (4).
    Xor2,
    /// Integer native histograms with start timestamps (5).
    HistogramSt,
    /// Float native histograms with start timestamps (6).
    FloatHistogramSt,
}

impl Encoding {
    /// The encoding with byte `b`, if it is one Prometheus defines.
    pub fn from_byte(b: u8) -> Option<Encoding> {
        Some(match b {
            1 => Encoding::Xor,
            2 => Encoding::Histogram,
            3 => Encoding::FloatHistogram,
            4 => Encoding::Xor2,
            5 => Encoding::HistogramSt,
            6 => Encoding::FloatHistogramSt,
            _ => return None,
        })
    }

    /// The encoding's byte.
    pub fn byte(self) -> u8 {
        match self {
            Encoding::Xor => 1,
            Encoding::Histogram => 2,
            Encoding::FloatHistogram => 3,
            Encoding::Xor2 => 4,
            Encoding::HistogramSt => 5,
            Encoding::FloatHistogramSt => 6,
        }
    }

    /// Prometheus's name for it (`XOR`, `histogram`, …).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Xor => "XOR",
            Encoding::Histogram => "histogram",
            Encoding::FloatHistogram => "floathistogram",
            Encoding::Xor2 => "XOR2",
            Encoding::HistogramSt => "histogramST",
            Encoding::FloatHistogramSt => "floathistogramST",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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

/// One decoded sample.
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

/// A chunk's encoding and data bytes (what follows the encoding byte in a segment file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    encoding: Encoding,
    data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// A chunk of `encoding` with the given data bytes.
    pub fn new(encoding: Encoding, data: &'a [u8]) -> Self {
        Chunk { encoding, data }
    }

    /// The encoding.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The data bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The number of samples the chunk's header declares, or `None` if the header is
    /// incomplete.
    pub fn num_samples(&self) -> Option<u16> {
        let n = u16::from_be_bytes([*self.data.first()?, *self.data.get(1)?]);
        Some(match self.encoding {
            Encoding::HistogramSt | Encoding::FloatHistogramSt => n & histogram::ST_COUNT_MASK,
            _ => n,
        })
    }

    /// Decodes the samples, in the order stored (ascending time).
    pub fn samples(&self) -> ChunkSamples<'a> {
        let decoder = match self.encoding {
            Encoding::Xor => xor::XorDecoder::new(self.data).map(Decoder::Xor),
            Encoding::Xor2 => xor2::Xor2Decoder::new(self.data).map(Decoder::Xor2),
            Encoding::Histogram | Encoding::FloatHistogram | Encoding::HistogramSt | Encoding::FloatHistogramSt => {
                histogram::HistogramDecoder::new(self.encoding, self.data).map(|d| Decoder::Histogram(Box::new(d)))
            }
        };
        match decoder {
            Ok(d) => ChunkSamples { decoder: Some(d), pending_error: None },
            Err(e) => ChunkSamples { decoder: None, pending_error: Some(e) },
        }
    }
}

enum Decoder<'a> {
    Xor(xor::XorDecoder<'a>),
    Xor2(xor2::Xor2Decoder<'a>),
    Histogram(Box<histogram::HistogramDecoder<'a>>),
}

/// The samples of one chunk. Yields `Err` at most once, then ends.
pub struct ChunkSamples<'a> {
    decoder: Option<Decoder<'a>>,
    pending_error: Option<Error>,
}

impl Iterator for ChunkSamples<'_> {
    type Item = Result<Sample, Error>;

    // Inlined into the caller's loop: the item is large (it can hold an `Error`), and returning
    // it through memory from a call costs more than decoding an XOR sample.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending_error.take() {
            return Some(Err(e));
        }
        let result = match self.decoder.as_mut()? {
            Decoder::Xor(d) => d.next_sample(),
            Decoder::Xor2(d) => d.next_sample(),
            Decoder::Histogram(d) => d.next_sample(),
        };
        match result {
            Ok(Some(s)) => Some(Ok(s)),
            Ok(None) => {
                self.decoder = None;
                None
            }
            Err(e) => {
                self.decoder = None;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for ChunkSamples<'_> {}

/// The big-endian `u16` sample count every chunk starts with.
fn header_count(data: &[u8], header_len: usize) -> Result<u16, Error> {
    if data.len() < header_len {
        return Err(Error::Corrupt {
            path: std::path::PathBuf::new(),
            offset: 0,
            reason: format!("chunk of {} bytes is shorter than its {header_len}-byte header", data.len()),
        });
    }
    Ok(u16::from_be_bytes([data[0], data[1]]))
}
