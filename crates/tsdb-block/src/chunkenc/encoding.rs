//! What says how a chunk is laid out: its encoding byte, and the sample count every chunk
//! starts with.

use crate::error::Error;

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

/// The big-endian `u16` sample count every chunk starts with.
pub(super) fn header_count(data: &[u8], header_len: usize) -> Result<u16, Error> {
    if data.len() < header_len {
        return Err(Error::Corrupt {
            path: std::path::PathBuf::new(),
            offset: 0,
            reason: format!("chunk of {} bytes is shorter than its {header_len}-byte header", data.len()),
        });
    }
    Ok(u16::from_be_bytes([data[0], data[1]]))
}
