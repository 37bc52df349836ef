//! Encodings 2 and 3 (`histogram`, `floathistogram`) and their start-timestamp variants 5 and
//! 6 (`histogramST`, `floathistogramST`, Prometheus 3.x behind the `histograms-st-encoding`
//! feature flag).
//!
//! Header (3 bytes): a big-endian `u16` sample count and a flags byte whose top two bits are
//! the counter-reset header. The ST variants move those two bits into the top of the count
//! (leaving 14 bits of count) and use the third byte for the start-timestamp header. Then,
//! once per chunk, the bucket layout: zero threshold, schema, positive and negative spans and,
//! for custom-bucket histograms, the bucket bounds. Samples follow: the first in full, later
//! ones as (delta-of-)deltas — integer histograms delta-of-delta every count, float histograms
//! XOR every value. A sample whose sum is the stale marker stores nothing after the sum.

use super::bits::BitReader;
use super::encoding::{header_count, Encoding};
use super::sample::{
    CounterResetHint, FloatHistogram, Histogram, Sample, Span, Value, CUSTOM_BUCKETS_SCHEMA, STALE_NAN_BITS,
};
use crate::error::Error;

const HEADER_LEN: usize = 3;
/// In the ST variants the sample count has 14 bits; the top two hold the counter-reset header.
pub(crate) const ST_COUNT_MASK: u16 = 0x3FFF;
const COUNTER_RESET_MASK: u8 = 0b1100_0000;
const GAUGE: u8 = 0b1100_0000;

/// Schemas Prometheus accepts when reading: exponential -9..=52 (those above 8 are reserved
/// and reduced to 8 by Prometheus's query layer, not by the chunk) and custom buckets.
fn known_schema(s: i32) -> bool {
    (-9..=52).contains(&s) || s == CUSTOM_BUCKETS_SCHEMA
}

/// An XOR-compressed float with its own leading/trailing window.
#[derive(Clone, Copy, Default)]
struct XorValue {
    v: f64,
    leading: u8,
    trailing: u8,
}

impl XorValue {
    fn read(&mut self, r: &mut BitReader<'_>) -> Result<(), Error> {
        r.read_xor(&mut self.v, &mut self.leading, &mut self.trailing)
    }
}

/// The start-timestamp side channel of the ST variants (the same scheme XOR2 uses).
#[derive(Default)]
struct StState {
    first_known: bool,
    changed_on: u16,
    st: i64,
    diff: i64,
}

impl StState {
    /// Reads the start timestamp stored after sample number `index` (0-based), if any.
    fn read(&mut self, r: &mut BitReader<'_>, index: u16, t: i64, prev_t: i64) -> Result<(), Error> {
        match index {
            0 => {
                if self.first_known {
                    self.diff = r.read_varint()?;
                    self.st = t.wrapping_sub(self.diff);
                }
            }
            1 => {
                if self.changed_on == 1 {
                    self.diff = r.read_varbit_int()?;
                    self.st = prev_t.wrapping_sub(self.diff);
                }
            }
            _ => {
                if self.changed_on > 0 && index >= self.changed_on {
                    let dod = r.read_varbit_int()?;
                    self.diff = if index == self.changed_on { dod } else { self.diff.wrapping_add(dod) };
                    self.st = prev_t.wrapping_sub(self.diff);
                }
            }
        }
        Ok(())
    }
}

struct Layout {
    schema: i32,
    zero_threshold: f64,
    positive_spans: Vec<Span>,
    negative_spans: Vec<Span>,
    custom_values: Vec<f64>,
}

pub(crate) struct HistogramDecoder<'a> {
    r: BitReader<'a>,
    float: bool,
    st: Option<StState>,
    total: u16,
    read: u16,
    counter_reset: u8,
    layout: Layout,
    t: i64,
    t_delta: i64,
    // Integer histograms.
    count: u64,
    zero_count: u64,
    count_delta: i64,
    zero_count_delta: i64,
    sum: XorValue,
    pos: Vec<i64>,
    neg: Vec<i64>,
    pos_delta: Vec<i64>,
    neg_delta: Vec<i64>,
    // Float histograms.
    fcount: XorValue,
    fzero_count: XorValue,
    fpos: Vec<XorValue>,
    fneg: Vec<XorValue>,
}

impl<'a> HistogramDecoder<'a> {
    pub(crate) fn new(encoding: Encoding, data: &'a [u8]) -> Result<Self, Error> {
        let raw = header_count(data, HEADER_LEN)?;
        let float = matches!(encoding, Encoding::FloatHistogram | Encoding::FloatHistogramSt);
        let with_st = matches!(encoding, Encoding::HistogramSt | Encoding::FloatHistogramSt);
        let (total, counter_reset, st) = if with_st {
            let st = StState {
                first_known: data[2] & 0x80 != 0,
                changed_on: u16::from(data[2] & 0x7f),
                ..StState::default()
            };
            (raw & ST_COUNT_MASK, data[0] & COUNTER_RESET_MASK, Some(st))
        } else {
            (raw, data[2] & COUNTER_RESET_MASK, None)
        };
        Ok(HistogramDecoder {
            r: BitReader::new(&data[HEADER_LEN..], HEADER_LEN),
            float,
            st,
            total,
            read: 0,
            counter_reset,
            layout: Layout {
                schema: 0,
                zero_threshold: 0.0,
                positive_spans: Vec::new(),
                negative_spans: Vec::new(),
                custom_values: Vec::new(),
            },
            t: 0,
            t_delta: 0,
            count: 0,
            zero_count: 0,
            count_delta: 0,
            zero_count_delta: 0,
            sum: XorValue::default(),
            pos: Vec::new(),
            neg: Vec::new(),
            pos_delta: Vec::new(),
            neg_delta: Vec::new(),
            fcount: XorValue::default(),
            fzero_count: XorValue::default(),
            fpos: Vec::new(),
            fneg: Vec::new(),
        })
    }

    /// Decodes the next sample and returns it as a new value.
    pub(crate) fn next_sample(&mut self) -> Result<Option<Sample>, Error> {
        if !self.advance()? {
            return Ok(None);
        }
        let st = self.st.as_ref().map_or(0, |s| s.st);
        Ok(Some(Sample { t: self.t, st, value: self.value() }))
    }

    /// Decodes the next sample into `out`, reusing the histogram box and vectors `out` already
    /// holds when it is of the same kind. `false` at the end (then `out` is left as it was).
    pub(crate) fn next_into(&mut self, out: &mut Sample) -> Result<bool, Error> {
        if !self.advance()? {
            return Ok(false);
        }
        out.t = self.t;
        out.st = self.st.as_ref().map_or(0, |s| s.st);
        self.fill(&mut out.value);
        Ok(true)
    }

    /// Reads the next sample into the decoder's state. `false` at the end.
    fn advance(&mut self) -> Result<bool, Error> {
        if self.read == self.total {
            return Ok(false);
        }
        let prev_t = self.t;
        let index = self.read;
        if index == 0 {
            self.read_layout()?;
            self.t = self.r.read_varbit_int()?;
            if self.float {
                self.read_first_float()?
            } else {
                self.read_first_int()?
            }
        } else {
            let dod = self.r.read_varbit_int()?;
            self.t_delta = self.t_delta.wrapping_add(dod);
            self.t = self.t.wrapping_add(self.t_delta);
            if self.float {
                self.read_next_float()?
            } else {
                self.read_next_int()?
            }
        }
        if let Some(st) = self.st.as_mut() {
            st.read(&mut self.r, index, self.t, prev_t)?;
        }
        self.read += 1;
        Ok(true)
    }

    fn read_layout(&mut self) -> Result<(), Error> {
        let r = &mut self.r;
        let zero_threshold = match r.read_byte()? {
            0 => 0.0,
            255 => f64::from_bits(r.read_bits(64)?),
            // 2^(b-244): a power of two from 2^-243 to 2^10, built from its exponent bits.
            b => f64::from_bits(((i64::from(b) - 244 + 1023) as u64) << 52),
        };
        let schema = r.read_varbit_int()? as i32;
        let positive_spans = read_spans(r)?;
        let negative_spans = read_spans(r)?;
        let mut custom_values = Vec::new();
        if schema == CUSTOM_BUCKETS_SCHEMA {
            let n = r.read_varbit_uint()?;
            for _ in 0..n {
                let b = r.read_varbit_uint()?;
                custom_values.push(if b == 0 { f64::from_bits(r.read_bits(64)?) } else { (b - 1) as f64 / 1000.0 });
            }
        }
        if !known_schema(schema) {
            return Err(r.err(format!("unknown histogram schema {schema}")));
        }
        self.layout = Layout { schema, zero_threshold, positive_spans, negative_spans, custom_values };
        Ok(())
    }

    /// The number of buckets the spans declare, refused if the rest of the chunk could not hold
    /// that many first-sample values (so bad bytes cannot make us allocate without bound).
    fn bucket_count(&self, spans_positive: bool, bits_each: usize) -> Result<usize, Error> {
        let spans = if spans_positive { &self.layout.positive_spans } else { &self.layout.negative_spans };
        let n = spans.iter().fold(0u64, |n, s| n.saturating_add(u64::from(s.length)));
        if n > (self.r.bits_left() / bits_each) as u64 {
            return Err(self.r.err(format!("spans declare {n} buckets, more than the chunk can hold")));
        }
        Ok(n as usize)
    }

    fn read_first_int(&mut self) -> Result<(), Error> {
        let (np, nn) = (self.bucket_count(true, 1)?, self.bucket_count(false, 1)?);
        self.count = self.r.read_varbit_uint()?;
        self.zero_count = self.r.read_varbit_uint()?;
        self.sum.v = f64::from_bits(self.r.read_bits(64)?);
        self.pos = (0..np).map(|_| self.r.read_varbit_int()).collect::<Result<_, _>>()?;
        self.neg = (0..nn).map(|_| self.r.read_varbit_int()).collect::<Result<_, _>>()?;
        self.pos_delta = vec![0; np];
        self.neg_delta = vec![0; nn];
        Ok(())
    }

    fn read_first_float(&mut self) -> Result<(), Error> {
        let (np, nn) = (self.bucket_count(true, 64)?, self.bucket_count(false, 64)?);
        self.fcount.v = f64::from_bits(self.r.read_bits(64)?);
        self.fzero_count.v = f64::from_bits(self.r.read_bits(64)?);
        self.sum.v = f64::from_bits(self.r.read_bits(64)?);
        let mut read = |n| -> Result<Vec<XorValue>, Error> {
            (0..n).map(|_| Ok(XorValue { v: f64::from_bits(self.r.read_bits(64)?), ..XorValue::default() })).collect()
        };
        self.fpos = read(np)?;
        self.fneg = read(nn)?;
        Ok(())
    }

    /// Reads a later integer sample. A stale marker stores nothing after its sum.
    fn read_next_int(&mut self) -> Result<(), Error> {
        let r = &mut self.r;
        self.count_delta = self.count_delta.wrapping_add(r.read_varbit_int()?);
        self.count = (self.count as i64).wrapping_add(self.count_delta) as u64;
        self.zero_count_delta = self.zero_count_delta.wrapping_add(r.read_varbit_int()?);
        self.zero_count = (self.zero_count as i64).wrapping_add(self.zero_count_delta) as u64;
        self.sum.read(r)?;
        if self.sum.v.to_bits() == STALE_NAN_BITS {
            return Ok(());
        }
        for (b, d) in
            self.pos.iter_mut().zip(self.pos_delta.iter_mut()).chain(self.neg.iter_mut().zip(self.neg_delta.iter_mut()))
        {
            *d = d.wrapping_add(r.read_varbit_int()?);
            *b = b.wrapping_add(*d);
        }
        Ok(())
    }

    /// Reads a later float sample. A stale marker stores nothing after its sum.
    fn read_next_float(&mut self) -> Result<(), Error> {
        let r = &mut self.r;
        self.fcount.read(r)?;
        self.fzero_count.read(r)?;
        self.sum.read(r)?;
        if self.sum.v.to_bits() == STALE_NAN_BITS {
            return Ok(());
        }
        for b in self.fpos.iter_mut().chain(self.fneg.iter_mut()) {
            b.read(r)?;
        }
        Ok(())
    }

    fn hint(&self) -> CounterResetHint {
        // As Prometheus's chunk iterators report it: the chunk header only says "gauge"; any
        // sample after the first is known not to follow a reset; the first one is left to the
        // reader to judge.
        if self.counter_reset == GAUGE {
            CounterResetHint::Gauge
        } else if self.read > 1 {
            CounterResetHint::NotReset
        } else {
            CounterResetHint::Unknown
        }
    }

    /// The current sample's value, newly allocated (built directly: measurably faster than
    /// filling a blank one with [`Self::fill`]).
    fn value(&self) -> Value {
        // Prometheus returns a histogram with a stale-marker sum as that sum alone, also as
        // a chunk's first sample (which stores its buckets all the same).
        let stale = self.sum.v.to_bits() == STALE_NAN_BITS;
        let l = &self.layout;
        if self.float {
            if stale {
                return Value::FloatHistogram(Box::new(FloatHistogram {
                    sum: self.sum.v,
                    ..FloatHistogram::default()
                }));
            }
            Value::FloatHistogram(Box::new(FloatHistogram {
                counter_reset_hint: self.hint(),
                schema: l.schema,
                zero_threshold: l.zero_threshold,
                zero_count: self.fzero_count.v,
                count: self.fcount.v,
                sum: self.sum.v,
                positive_spans: l.positive_spans.clone(),
                negative_spans: l.negative_spans.clone(),
                positive_buckets: self.fpos.iter().map(|b| b.v).collect(),
                negative_buckets: self.fneg.iter().map(|b| b.v).collect(),
                custom_values: l.custom_values.clone(),
            }))
        } else {
            if stale {
                return Value::Histogram(Box::new(Histogram { sum: self.sum.v, ..Histogram::default() }));
            }
            Value::Histogram(Box::new(Histogram {
                counter_reset_hint: self.hint(),
                schema: l.schema,
                zero_threshold: l.zero_threshold,
                zero_count: self.zero_count,
                count: self.count,
                sum: self.sum.v,
                positive_spans: l.positive_spans.clone(),
                negative_spans: l.negative_spans.clone(),
                positive_buckets: self.pos.clone(),
                negative_buckets: self.neg.clone(),
                custom_values: l.custom_values.clone(),
            }))
        }
    }

    /// Writes the current sample's value into `v`. A box and vectors of the right kind are kept
    /// and overwritten, so that a caller decoding into the same value allocates nothing once
    /// its vectors have grown to the chunk's bucket count; any other value is replaced.
    fn fill(&self, v: &mut Value) {
        // Prometheus returns a histogram with a stale-marker sum as that sum alone, also as
        // a chunk's first sample (which stores its buckets all the same).
        let stale = self.sum.v.to_bits() == STALE_NAN_BITS;
        let l = &self.layout;
        if self.float {
            if !matches!(v, Value::FloatHistogram(_)) {
                *v = Value::FloatHistogram(Box::default());
            }
            let Value::FloatHistogram(h) = v else { return };
            if stale {
                reset_float(h);
                h.sum = self.sum.v;
                return;
            }
            h.counter_reset_hint = self.hint();
            h.schema = l.schema;
            h.zero_threshold = l.zero_threshold;
            h.zero_count = self.fzero_count.v;
            h.count = self.fcount.v;
            h.sum = self.sum.v;
            h.positive_spans.clone_from(&l.positive_spans);
            h.negative_spans.clone_from(&l.negative_spans);
            h.positive_buckets.clear();
            h.positive_buckets.extend(self.fpos.iter().map(|b| b.v));
            h.negative_buckets.clear();
            h.negative_buckets.extend(self.fneg.iter().map(|b| b.v));
            h.custom_values.clone_from(&l.custom_values);
        } else {
            if !matches!(v, Value::Histogram(_)) {
                *v = Value::Histogram(Box::default());
            }
            let Value::Histogram(h) = v else { return };
            if stale {
                reset_int(h);
                h.sum = self.sum.v;
                return;
            }
            h.counter_reset_hint = self.hint();
            h.schema = l.schema;
            h.zero_threshold = l.zero_threshold;
            h.zero_count = self.zero_count;
            h.count = self.count;
            h.sum = self.sum.v;
            h.positive_spans.clone_from(&l.positive_spans);
            h.negative_spans.clone_from(&l.negative_spans);
            h.positive_buckets.clone_from(&self.pos);
            h.negative_buckets.clone_from(&self.neg);
            h.custom_values.clone_from(&l.custom_values);
        }
    }
}

/// Sets `h` to the default histogram, keeping its vectors' allocations.
fn reset_int(h: &mut Histogram) {
    let Histogram {
        counter_reset_hint,
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans,
        negative_spans,
        positive_buckets,
        negative_buckets,
        custom_values,
    } = h;
    (*counter_reset_hint, *schema, *zero_threshold, *zero_count, *count, *sum) =
        (CounterResetHint::default(), 0, 0.0, 0, 0, 0.0);
    positive_spans.clear();
    negative_spans.clear();
    positive_buckets.clear();
    negative_buckets.clear();
    custom_values.clear();
}

/// Sets `h` to the default float histogram, keeping its vectors' allocations.
fn reset_float(h: &mut FloatHistogram) {
    let FloatHistogram {
        counter_reset_hint,
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans,
        negative_spans,
        positive_buckets,
        negative_buckets,
        custom_values,
    } = h;
    (*counter_reset_hint, *schema, *zero_threshold, *zero_count, *count, *sum) =
        (CounterResetHint::default(), 0, 0.0, 0.0, 0.0, 0.0);
    positive_spans.clear();
    negative_spans.clear();
    positive_buckets.clear();
    negative_buckets.clear();
    custom_values.clear();
}

fn read_spans(r: &mut BitReader<'_>) -> Result<Vec<Span>, Error> {
    let n = r.read_varbit_uint()?;
    let mut spans = Vec::new();
    for _ in 0..n {
        let length = r.read_varbit_uint()? as u32;
        let offset = r.read_varbit_int()? as i32;
        spans.push(Span { offset, length });
    }
    Ok(spans)
}
