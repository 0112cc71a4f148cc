//! Benchmarks of sgp-trace: the hot path against its peers (`benches/hot_path.rs`) and
//! whole-process export, memory and outage figures (`src/bin/export_bench.rs`). Results are
//! in `README.md`.

pub mod summary;
