//! A local SGP-compatible span collector.
