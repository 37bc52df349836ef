//! Test-only encoders for every chunk encoding, written from the format description, so that
//! property tests can check that decoding gives back what was encoded. They make valid chunks,
//! not necessarily the exact bytes Prometheus's appenders choose (those are checked against
//! chunks Prometheus itself wrote, in `tests/prometheus_chunks.rs`).

use super::{FloatHistogram, Histogram, Sample, Span, Value, CUSTOM_BUCKETS_SCHEMA, STALE_NAN_BITS};

/// Writes bits most significant first.
#[derive(Default)]
pub(crate) struct BitWriter {
    pub(crate) bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u32,
}

impl BitWriter {
    pub(crate) fn with_header(header: &[u8]) -> Self {
        BitWriter { bytes: header.to_vec(), used: 0 }
    }

    pub(crate) fn bit(&mut self, b: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if b {
            *self.bytes.last_mut().unwrap() |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    pub(crate) fn bits(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            self.bit(v >> i & 1 == 1);
        }
    }

    fn uvarint(&mut self, v: u64) {
        let mut b = Vec::new();
        crate::decbuf::put_uvarint(&mut b, v);
        self.bytes_at_bit(&b);
    }

    fn varint(&mut self, v: i64) {
        let mut b = Vec::new();
        crate::decbuf::put_varint(&mut b, v);
        self.bytes_at_bit(&b);
    }

    /// Appends whole bytes at the current bit position (which need not be byte-aligned).
    fn bytes_at_bit(&mut self, b: &[u8]) {
        for &byte in b {
            self.bits(byte.into(), 8);
        }
    }

    fn ones(&mut self, n: u32, terminated: bool) {
        for _ in 0..n {
            self.bit(true);
        }
        if terminated {
            self.bit(false);
        }
    }

    /// A value in `-(2^(n-1) - 1) ..= 2^(n-1)`, if it fits.
    fn fits_biased(v: i64, n: u32) -> bool {
        -((1i64 << (n - 1)) - 1) <= v && v <= 1i64 << (n - 1)
    }

    fn varbit_int(&mut self, v: i64) {
        if v == 0 {
            return self.bit(false);
        }
        for (i, &w) in [3u32, 6, 9, 12, 18, 25, 56].iter().enumerate() {
            if Self::fits_biased(v, w) {
                self.ones(i as u32 + 1, true);
                return self.bits(v as u64 & ((1u64 << w) - 1), w);
            }
        }
        self.ones(8, false);
        self.bits(v as u64, 64);
    }

    fn varbit_uint(&mut self, v: u64) {
        if v == 0 {
            return self.bit(false);
        }
        for (i, &w) in [3u32, 6, 9, 12, 18, 25, 56].iter().enumerate() {
            if v < 1u64 << w {
                self.ones(i as u32 + 1, true);
                return self.bits(v, w);
            }
        }
        self.ones(8, false);
        self.bits(v, 64);
    }
}

/// The leading/trailing window of XOR value compression; `None` before the first window.
#[derive(Clone, Copy, Default)]
struct Window(Option<(u32, u32)>);

impl Window {
    /// Writes a non-zero XOR `delta` as `reuse` + the significant bits of the current window,
    /// or `new` + 5 bits of leading zeros + 6 bits of significant-bit count + those bits.
    fn write_nonzero(&mut self, w: &mut BitWriter, delta: u64, reuse: &[bool], new: &[bool]) {
        let lead = delta.leading_zeros().min(31);
        let trail = delta.trailing_zeros();
        if let Some((l, t)) = self.0 {
            if lead >= l && trail >= t {
                reuse.iter().for_each(|&b| w.bit(b));
                w.bits(delta >> t, 64 - l - t);
                return;
            }
        }
        new.iter().for_each(|&b| w.bit(b));
        let sig = 64 - lead - trail;
        w.bits(u64::from(lead), 5);
        w.bits(u64::from(sig % 64), 6);
        w.bits(delta >> trail, sig);
        self.0 = Some((lead, trail));
    }

    /// The `varbit_xor` encoding of XOR and histogram chunks.
    fn write(&mut self, w: &mut BitWriter, v: f64, prev: f64) {
        let delta = v.to_bits() ^ prev.to_bits();
        if delta == 0 {
            return w.bit(false);
        }
        w.bit(true);
        self.write_nonzero(w, delta, &[false], &[true]);
    }
}

/// An `XOR` chunk (encoding 1) of float samples.
pub(crate) fn xor(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut w = BitWriter::with_header(&(samples.len() as u16).to_be_bytes());
    let (mut t_prev, mut delta_prev, mut v_prev, mut win) = (0i64, 0i64, 0f64, Window::default());
    for (i, &(t, v)) in samples.iter().enumerate() {
        match i {
            0 => {
                w.varint(t);
                w.bits(v.to_bits(), 64);
            }
            1 => {
                delta_prev = t.wrapping_sub(t_prev);
                w.uvarint(delta_prev as u64);
                win.write(&mut w, v, v_prev);
            }
            _ => {
                let delta = t.wrapping_sub(t_prev);
                let dod = delta.wrapping_sub(delta_prev);
                delta_prev = delta;
                if dod == 0 {
                    w.bit(false);
                } else if let Some(k) = [14u32, 17, 20].iter().position(|&n| BitWriter::fits_biased(dod, n)) {
                    let n = [14u32, 17, 20][k];
                    w.ones(k as u32 + 1, true);
                    w.bits(dod as u64 & ((1u64 << n) - 1), n);
                } else {
                    w.ones(4, false);
                    w.bits(dod as u64, 64);
                }
                win.write(&mut w, v, v_prev);
            }
        }
        t_prev = t;
        v_prev = v;
    }
    w.bytes
}

/// The start-timestamp header byte and "changed on" index for `sts` (the start timestamps of
/// the samples in order), as the ST encodings define them.
fn st_header(sts: &[i64]) -> (u8, usize) {
    let first_known = sts.first().is_some_and(|&st| st != 0);
    let changed_on = (1..sts.len()).find(|&i| sts[i] != sts[i - 1]).map_or(0, |i| i.min(127));
    (u8::from(first_known) << 7 | changed_on as u8, changed_on)
}

/// Writes the ST of sample `i` after its data.
fn write_st(w: &mut BitWriter, i: usize, changed_on: usize, first_known: bool, t: &[i64], st: &[i64], diff: &mut i64) {
    match i {
        0 if first_known => w.varint(t[0].wrapping_sub(st[0])),
        0 => {}
        _ if changed_on > 0 && i >= changed_on => {
            let d = t[i - 1].wrapping_sub(st[i]);
            w.varbit_int(if i == changed_on { d } else { d.wrapping_sub(*diff) });
            *diff = d;
        }
        _ => {}
    }
}

/// An `XOR2` chunk (encoding 4) of float samples with start timestamps `(st, t, v)`.
pub(crate) fn xor2(samples: &[(i64, i64, f64)]) -> Vec<u8> {
    let sts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let ts: Vec<i64> = samples.iter().map(|s| s.1).collect();
    let (header, changed_on) = st_header(&sts);
    let mut head = (samples.len() as u16).to_be_bytes().to_vec();
    head.push(header);
    let mut w = BitWriter::with_header(&head);
    let (mut delta_prev, mut base, mut win, mut st_diff) = (0i64, 0f64, Window::default(), 0i64);
    // A value after a prefix that did not say whether it changed: `0` same, `10` reuse window,
    // `110` new window, `111` stale marker (which does not become the XOR base).
    let write_value = |w: &mut BitWriter, v: f64, base: &mut f64, win: &mut Window| {
        if v.to_bits() == STALE_NAN_BITS {
            return w.ones(3, false);
        }
        let delta = v.to_bits() ^ base.to_bits();
        if delta == 0 {
            return w.bit(false);
        }
        win.write_nonzero(w, delta, &[true, false], &[true, true, false]);
        *base = v;
    };
    for (i, &(_, t, v)) in samples.iter().enumerate() {
        match i {
            0 => {
                w.varint(t);
                w.bits(v.to_bits(), 64);
                if v.to_bits() != STALE_NAN_BITS {
                    base = v;
                }
            }
            1 => {
                delta_prev = t.wrapping_sub(ts[0]);
                w.uvarint(delta_prev as u64);
                write_value(&mut w, v, &mut base, &mut win);
            }
            _ => {
                let delta = t.wrapping_sub(ts[i - 1]);
                let dod = delta.wrapping_sub(delta_prev);
                delta_prev = delta;
                let stale = v.to_bits() == STALE_NAN_BITS;
                if dod == 0 && stale {
                    w.ones(5, false);
                } else if dod == 0 && v.to_bits() == base.to_bits() {
                    w.bit(false);
                } else if dod == 0 {
                    // `10`, then the value known to have changed: `0` reuse, `1` new window.
                    w.ones(1, true);
                    win.write_nonzero(&mut w, v.to_bits() ^ base.to_bits(), &[false], &[true]);
                    base = v;
                } else {
                    if (-4096..=4095).contains(&dod) {
                        w.ones(2, true);
                        w.bits(dod as u64 & 0x1fff, 13);
                    } else if (-524_288..=524_287).contains(&dod) {
                        w.ones(3, true);
                        w.bits(dod as u64 & 0xf_ffff, 20);
                    } else {
                        w.ones(4, true);
                        w.bits(dod as u64, 64);
                    }
                    write_value(&mut w, v, &mut base, &mut win);
                }
            }
        }
        write_st(&mut w, i, changed_on, header & 0x80 != 0, &ts, &sts, &mut st_diff);
    }
    w.bytes
}

/// The bucket layout all histograms of one chunk share.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) positive_spans: Vec<Span>,
    pub(crate) negative_spans: Vec<Span>,
    pub(crate) custom_values: Vec<f64>,
}

impl Layout {
    pub(crate) fn buckets(&self) -> (usize, usize) {
        let n = |s: &[Span]| s.iter().map(|s| s.length as usize).sum();
        (n(&self.positive_spans), n(&self.negative_spans))
    }

    fn write(&self, w: &mut BitWriter) {
        let z = self.zero_threshold;
        let exp = (z.to_bits() >> 52) as i64 - 1023;
        if z == 0.0 {
            w.bits(0, 8);
        } else if z.to_bits() & ((1 << 52) - 1) == 0 && z > 0.0 && (-243..=10).contains(&exp) {
            w.bits((exp + 244) as u64, 8);
        } else {
            w.bits(255, 8);
            w.bits(z.to_bits(), 64);
        }
        w.varbit_int(i64::from(self.schema));
        for spans in [&self.positive_spans, &self.negative_spans] {
            w.varbit_uint(spans.len() as u64);
            for s in spans {
                w.varbit_uint(u64::from(s.length));
                w.varbit_int(i64::from(s.offset));
            }
        }
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            w.varbit_uint(self.custom_values.len() as u64);
            for &x in &self.custom_values {
                let y = x * 1000.0;
                if (0.0..=33_554_430.0).contains(&y) && y.fract() == 0.0 && (y as u64) as f64 / 1000.0 == x {
                    w.varbit_uint(y as u64 + 1);
                } else {
                    w.bit(false);
                    w.bits(x.to_bits(), 64);
                }
            }
        }
    }
}

/// Chunk header of the histogram encodings: 2-byte count, then flags (or, for ST chunks,
/// counter-reset bits in the count and the ST header in the third byte).
fn histogram_header(n: usize, counter_reset: u8, st: Option<u8>) -> Vec<u8> {
    match st {
        None => {
            let mut h = (n as u16).to_be_bytes().to_vec();
            h.push(counter_reset);
            h
        }
        Some(st) => {
            let mut h = ((n as u16 & 0x3fff) | u16::from(counter_reset) << 8).to_be_bytes().to_vec();
            h.push(st);
            h
        }
    }
}

/// What both histogram encoders start from.
struct HistogramStart {
    /// The samples' start timestamps.
    sts: Vec<i64>,
    /// The samples' timestamps.
    ts: Vec<i64>,
    /// The ST header byte ([`st_header`]).
    st_head: u8,
    /// The index of the first sample whose start timestamp changed (0: none, capped at 127).
    changed_on: usize,
    /// The writer, holding the chunk header ([`histogram_header`]).
    w: BitWriter,
}

/// Splits `samples` (start timestamp, timestamp, histogram) into their timestamps and begins the
/// chunk with its header.
fn histogram_start<H>(samples: &[(i64, i64, H)], counter_reset: u8, with_st: bool) -> HistogramStart {
    let sts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let ts: Vec<i64> = samples.iter().map(|s| s.1).collect();
    let (st_head, changed_on) = st_header(&sts);
    let w = BitWriter::with_header(&histogram_header(samples.len(), counter_reset, with_st.then_some(st_head)));
    HistogramStart { sts, ts, st_head, changed_on, w }
}

/// A `histogram` (2) or, with start timestamps, `histogramST` (5) chunk. Every histogram must
/// have `layout`'s bucket counts; a stale marker is a histogram whose sum has the stale bits.
pub(crate) fn histogram(
    layout: &Layout,
    counter_reset: u8,
    samples: &[(i64, i64, Histogram)],
    with_st: bool,
) -> Vec<u8> {
    let HistogramStart { sts, ts, st_head, changed_on, mut w } = histogram_start(samples, counter_reset, with_st);
    let (mut t_delta, mut cnt_delta, mut z_delta, mut st_diff) = (0i64, 0i64, 0i64, 0i64);
    let (mut prev, mut sum_win) = (Histogram::default(), Window::default());
    let (np, nn) = layout.buckets();
    let (mut pd, mut nd) = (vec![0i64; np], vec![0i64; nn]);
    for (i, (_, t, h)) in samples.iter().enumerate() {
        if i == 0 {
            layout.write(&mut w);
            w.varbit_int(*t);
            w.varbit_uint(h.count);
            w.varbit_uint(h.zero_count);
            w.bits(h.sum.to_bits(), 64);
            for &b in h.positive_buckets.iter().chain(&h.negative_buckets) {
                w.varbit_int(b);
            }
            prev = h.clone();
        } else {
            let d = t.wrapping_sub(ts[i - 1]);
            w.varbit_int(d.wrapping_sub(t_delta));
            t_delta = d;
            let d = (h.count as i64).wrapping_sub(prev.count as i64);
            w.varbit_int(d.wrapping_sub(cnt_delta));
            cnt_delta = d;
            let d = (h.zero_count as i64).wrapping_sub(prev.zero_count as i64);
            w.varbit_int(d.wrapping_sub(z_delta));
            z_delta = d;
            sum_win.write(&mut w, h.sum, prev.sum);
            prev.count = h.count;
            prev.zero_count = h.zero_count;
            prev.sum = h.sum;
            if h.sum.to_bits() != STALE_NAN_BITS {
                for (j, &b) in h.positive_buckets.iter().enumerate() {
                    let d = b.wrapping_sub(prev.positive_buckets[j]);
                    w.varbit_int(d.wrapping_sub(pd[j]));
                    pd[j] = d;
                }
                for (j, &b) in h.negative_buckets.iter().enumerate() {
                    let d = b.wrapping_sub(prev.negative_buckets[j]);
                    w.varbit_int(d.wrapping_sub(nd[j]));
                    nd[j] = d;
                }
                prev.positive_buckets = h.positive_buckets.clone();
                prev.negative_buckets = h.negative_buckets.clone();
            }
        }
        if with_st {
            write_st(&mut w, i, changed_on, st_head & 0x80 != 0, &ts, &sts, &mut st_diff);
        }
    }
    w.bytes
}

/// A `floathistogram` (3) or, with start timestamps, `floathistogramST` (6) chunk.
pub(crate) fn float_histogram(
    layout: &Layout,
    counter_reset: u8,
    samples: &[(i64, i64, FloatHistogram)],
    with_st: bool,
) -> Vec<u8> {
    let HistogramStart { sts, ts, st_head, changed_on, mut w } = histogram_start(samples, counter_reset, with_st);
    let (mut t_delta, mut st_diff) = (0i64, 0i64);
    let mut prev = FloatHistogram::default();
    let (np, nn) = layout.buckets();
    let mut wins = vec![Window::default(); 3 + np + nn];
    for (i, (_, t, h)) in samples.iter().enumerate() {
        if i == 0 {
            layout.write(&mut w);
            w.varbit_int(*t);
            for v in [h.count, h.zero_count, h.sum].iter().chain(&h.positive_buckets).chain(&h.negative_buckets) {
                w.bits(v.to_bits(), 64);
            }
            prev = h.clone();
        } else {
            let d = t.wrapping_sub(ts[i - 1]);
            w.varbit_int(d.wrapping_sub(t_delta));
            t_delta = d;
            wins[0].write(&mut w, h.count, prev.count);
            wins[1].write(&mut w, h.zero_count, prev.zero_count);
            wins[2].write(&mut w, h.sum, prev.sum);
            prev.count = h.count;
            prev.zero_count = h.zero_count;
            prev.sum = h.sum;
            if h.sum.to_bits() != STALE_NAN_BITS {
                let old: Vec<f64> = prev.positive_buckets.iter().chain(&prev.negative_buckets).copied().collect();
                let new: Vec<f64> = h.positive_buckets.iter().chain(&h.negative_buckets).copied().collect();
                for (j, (&a, &b)) in new.iter().zip(&old).enumerate() {
                    wins[3 + j].write(&mut w, a, b);
                }
                prev.positive_buckets = h.positive_buckets.clone();
                prev.negative_buckets = h.negative_buckets.clone();
            }
        }
        if with_st {
            write_st(&mut w, i, changed_on, st_head & 0x80 != 0, &ts, &sts, &mut st_diff);
        }
    }
    w.bytes
}

/// What the decoder should give for an encoded sample: stale histograms come back with only
/// their sum, as Prometheus returns them.
pub(crate) fn expected(t: i64, st: i64, value: Value) -> Sample {
    let value = match value {
        Value::Histogram(h) if h.sum.to_bits() == STALE_NAN_BITS => {
            Value::Histogram(Box::new(Histogram { sum: h.sum, ..Histogram::default() }))
        }
        Value::FloatHistogram(h) if h.sum.to_bits() == STALE_NAN_BITS => {
            Value::FloatHistogram(Box::new(FloatHistogram { sum: h.sum, ..FloatHistogram::default() }))
        }
        v => v,
    };
    Sample { t, st, value }
}
