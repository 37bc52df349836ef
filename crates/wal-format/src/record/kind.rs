//! The type byte that starts every record.

use std::fmt;

/// The type byte at the start of every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RecordType {
    /// Series: a series reference and its labels.
    Series,
    /// Float samples.
    Samples,
    /// Deletion intervals.
    Tombstones,
    /// Exemplars.
    Exemplars,
    /// Markers that a series' samples were memory-mapped to disk (ignored by remote write).
    MmapMarkers,
    /// Metric metadata: type, unit, help.
    Metadata,
    /// Native histograms with integer counts.
    HistogramSamples,
    /// Native histograms with float counts.
    FloatHistogramSamples,
    /// Integer histograms with custom bucket bounds (schema −53).
    CustomBucketsHistogramSamples,
    /// Float histograms with custom bucket bounds (schema −53).
    CustomBucketsFloatHistogramSamples,
    /// Float samples with start timestamps (newest Prometheus).
    SamplesV2,
    /// Integer histograms with start timestamps (newest Prometheus).
    HistogramSamplesV2,
    /// Float histograms with start timestamps (newest Prometheus).
    FloatHistogramSamplesV2,
    /// Any other type byte, or an empty record.
    Unknown(u8),
}

impl RecordType {
    /// The type of an encoded record, from its first byte.
    pub fn of(rec: &[u8]) -> RecordType {
        match rec.first() {
            Some(&b) => RecordType::from_byte(b),
            None => RecordType::Unknown(0),
        }
    }

    /// The type a type byte stands for.
    pub fn from_byte(b: u8) -> RecordType {
        use RecordType::*;
        match b {
            1 => Series,
            2 => Samples,
            3 => Tombstones,
            4 => Exemplars,
            5 => MmapMarkers,
            6 => Metadata,
            7 => HistogramSamples,
            8 => FloatHistogramSamples,
            9 => CustomBucketsHistogramSamples,
            10 => CustomBucketsFloatHistogramSamples,
            11 => SamplesV2,
            12 => HistogramSamplesV2,
            13 => FloatHistogramSamplesV2,
            other => Unknown(other),
        }
    }

    /// The type byte.
    pub fn byte(self) -> u8 {
        use RecordType::*;
        match self {
            Series => 1,
            Samples => 2,
            Tombstones => 3,
            Exemplars => 4,
            MmapMarkers => 5,
            Metadata => 6,
            HistogramSamples => 7,
            FloatHistogramSamples => 8,
            CustomBucketsHistogramSamples => 9,
            CustomBucketsFloatHistogramSamples => 10,
            SamplesV2 => 11,
            HistogramSamplesV2 => 12,
            FloatHistogramSamplesV2 => 13,
            Unknown(b) => b,
        }
    }

    /// Prometheus's name for the type, as in its logs.
    pub fn name(self) -> &'static str {
        use RecordType::*;
        match self {
            Series => "series",
            Samples => "samples",
            Tombstones => "tombstones",
            Exemplars => "exemplars",
            MmapMarkers => "mmapmarkers",
            Metadata => "metadata",
            HistogramSamples => "histogram_samples",
            FloatHistogramSamples => "float_histogram_samples",
            CustomBucketsHistogramSamples => "custom_buckets_histogram_samples",
            CustomBucketsFloatHistogramSamples => "custom_buckets_float_histogram_samples",
            SamplesV2 => "samples_v2",
            HistogramSamplesV2 => "histogram_samples_v2",
            FloatHistogramSamplesV2 => "float_histogram_samples_v2",
            Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordType::Unknown(b) => write!(f, "unknown({b})"),
            t => f.write_str(t.name()),
        }
    }
}
