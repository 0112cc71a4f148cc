//! Instructions per recorded `#[traced]` span (two small arguments, in a trace), counted by
//! callgrind: deterministic where criterion's times on a shared machine are not, so two
//! versions of the hot path can be compared even when the host is noisy. It counts
//! instructions only, not cache misses or page faults; confirm a gain with criterion.
//!
//! ```text
//! CARGO_TARGET_DIR=target-bench cargo build --release -p sgp-trace-benches --bin span_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*measured_spans*' \
//!     target-bench/release/span_instructions 2>&1 | grep 'Collected'
//! ```
//!
//! The collected count covers the spans' thread only (the export thread runs outside the
//! toggled function); divide it by [`SPANS`].

use std::hint::black_box;

/// Spans measured; the first [`WARM_UP`] before them fill the lane and the allocator.
const SPANS: u64 = 100_000;
const WARM_UP: u64 = 10_000;

#[sgp_trace::traced]
fn two_args(count: u64, label: &str) -> u64 {
    black_box(count) + label.len() as u64
}

#[inline(never)]
fn spans(count: u64) {
    for index in 0..count {
        black_box(two_args(black_box(index), black_box("what is sgp?")));
    }
}

#[inline(never)]
fn measured_spans() {
    spans(SPANS);
}

fn main() {
    let config = sgp_trace_benches::discarding()
        .build()
        .expect("valid config");
    let guard = sgp_trace::init(config);
    {
        let _trace = sgp_trace::create_trace("instructions").start();
        spans(WARM_UP);
        measured_spans();
    }
    drop(guard);
    println!("{SPANS} spans measured; divide callgrind's Collected count by {SPANS}");
}
