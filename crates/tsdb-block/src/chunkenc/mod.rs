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
//!
//! Each histogram sample the iterator yields is newly allocated (a box and its span and bucket
//! vectors). A caller that looks at one sample at a time can instead decode every sample into
//! one [`Sample`] it keeps, with [`ChunkSamples::next_into`]: its histogram's box and vectors are
//! overwritten in place, so decoding allocates nothing once they have grown to the chunk's size.

mod bits;
mod encoding;
mod histogram;
#[cfg(test)]
mod proptests;
mod sample;
#[cfg(test)]
pub(crate) mod test_encoder;
mod xor;
mod xor2;

pub use encoding::Encoding;
pub use sample::{
    CounterResetHint, FloatHistogram, Histogram, Sample, Span, Value, CUSTOM_BUCKETS_SCHEMA, STALE_NAN_BITS,
};

use crate::error::Error;

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

impl ChunkSamples<'_> {
    /// Decodes the next sample into `out`, reusing the memory of the histogram `out` holds when
    /// it is of the same kind (spans, bucket and custom bound vectors are overwritten, not
    /// reallocated); `out` can hold anything, e.g. `Sample::default()`, before the first call.
    ///
    /// Returns `Ok(true)` when `out` holds the next sample and `Ok(false)` at the end (`out`
    /// left as it was). As the iterator, this reports an error at most once, then ends. Calls
    /// may be mixed with [`Iterator::next`]; they read from the same position.
    ///
    /// ```
    /// use tsdb_block::{Chunk, Encoding, Sample};
    /// // An XOR chunk of one sample: count 1, t = 1000 (varint), value 0.0 (64 bits).
    /// let mut data = vec![0, 1, 0xd0, 0x0f];
    /// data.extend_from_slice(&0f64.to_bits().to_be_bytes());
    /// let mut samples = Chunk::new(Encoding::Xor, &data).samples();
    /// let mut s = Sample::default();
    /// let mut n = 0;
    /// while samples.next_into(&mut s)? {
    ///     assert_eq!(s.t, 1000);
    ///     n += 1;
    /// }
    /// assert_eq!(n, 1);
    /// # Ok::<(), tsdb_block::Error>(())
    /// ```
    #[inline]
    pub fn next_into(&mut self, out: &mut Sample) -> Result<bool, Error> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        let Some(decoder) = self.decoder.as_mut() else { return Ok(false) };
        let result = match decoder {
            Decoder::Xor(d) => d.next_sample().map(|s| put_float(out, s)),
            Decoder::Xor2(d) => d.next_sample().map(|s| put_float(out, s)),
            Decoder::Histogram(d) => d.next_into(out),
        };
        if !matches!(result, Ok(true)) {
            self.decoder = None;
        }
        result
    }
}

/// Stores a float sample into `out` field by field: as fast as the iterator's return, where
/// moving a whole [`Sample`] in would first drop what `out` held. `false` for `None`.
#[inline(always)]
fn put_float(out: &mut Sample, s: Option<Sample>) -> bool {
    match s {
        Some(Sample { t, st, value: Value::Float(v) }) => {
            out.t = t;
            out.st = st;
            match &mut out.value {
                Value::Float(o) => *o = v,
                other => *other = Value::Float(v),
            }
            true
        }
        Some(s) => {
            *out = s;
            true
        }
        None => false,
    }
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
