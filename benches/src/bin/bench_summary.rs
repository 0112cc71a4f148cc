//! Prints the hot-path table from the last `cargo bench --bench hot_path` run.

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(sgp_trace_benches::summary::criterion_dir);
    sgp_trace_benches::summary::print(&dir);
}
