//! Benchmarks of sgp-trace: the hot path against its peers (`benches/hot_path.rs`) and
//! whole-process export, memory and outage figures (`src/bin/export_bench.rs`). Results are
//! in `README.md`.

pub mod summary;

use sgp_trace::{Batch, Config, ConfigBuilder, ExportError};

/// A configuration whose exporter discards every batch: the export thread does all its work
/// (coalescing, JSON encoding) but sends nothing.
pub fn discarding() -> ConfigBuilder {
    Config::builder().exporter(|_batch: &Batch<'_>| -> Result<(), ExportError> { Ok(()) })
}
