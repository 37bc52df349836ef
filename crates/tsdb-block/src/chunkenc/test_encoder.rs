//! Test-only encoders.
