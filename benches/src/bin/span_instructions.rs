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
//! With the argument `fastrace`, the same function is traced with fastrace's `#[trace]`
//! (under a local parent, its collector reporting to nowhere) instead: the same count for
//! the peer the hot path is compared with; `fastrace-args` also records the two arguments
//! as fastrace properties, as a fastrace user who wants them would. With `noop`, the span
//! is `create_span(..).input(..).start()` with no trace in scope: the no-op path, whose
//! payload must not be serialized.
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

#[fastrace::trace]
fn fastrace_two_args(count: u64, label: &str) -> u64 {
    black_box(count) + label.len() as u64
}

#[fastrace::trace(properties = { "count": "{count}", "label": "{label}" })]
fn fastrace_two_args_recorded(count: u64, label: &str) -> u64 {
    black_box(count) + label.len() as u64
}

/// Which tracer the spans go to.
#[derive(Clone, Copy)]
enum Tracer {
    Sgp,
    Fastrace,
    /// fastrace with the two arguments recorded as properties.
    FastraceArgs,
    /// sgp-trace's `create_span` with a small input and no trace in scope: a no-op.
    SgpNoop,
}

#[inline(never)]
fn spans(tracer: Tracer, count: u64) {
    match tracer {
        Tracer::Sgp => {
            for index in 0..count {
                black_box(two_args(black_box(index), black_box("what is sgp?")));
            }
        }
        Tracer::Fastrace => fastrace_spans(count, fastrace_two_args),
        Tracer::FastraceArgs => fastrace_spans(count, fastrace_two_args_recorded),
        Tracer::SgpNoop => {
            for _ in 0..count {
                let span = sgp_trace::create_span("child")
                    .input(black_box("what is sgp?"))
                    .start();
                black_box(&span);
            }
        }
    }
}

/// fastrace's spans (see [`sgp_trace_benches::fastrace_spans`]); generic so that `traced`
/// is called directly, as `two_args` is.
#[inline(always)]
fn fastrace_spans(count: u64, traced: impl Fn(u64, &str) -> u64) {
    sgp_trace_benches::fastrace_spans(count, |index| {
        black_box(traced(black_box(index), black_box("what is sgp?")));
    });
}

#[inline(never)]
fn measured_spans(tracer: Tracer) {
    spans(tracer, SPANS);
}

fn main() {
    let tracer = match std::env::args().nth(1).as_deref() {
        None | Some("sgp") => Tracer::Sgp,
        Some("fastrace") => Tracer::Fastrace,
        Some("fastrace-args") => Tracer::FastraceArgs,
        Some("noop") => Tracer::SgpNoop,
        Some(other) => {
            eprintln!(
                "unknown tracer {other:?}: expected `sgp` (the default), `fastrace`, \
                 `fastrace-args` or `noop`"
            );
            std::process::exit(2);
        }
    };
    // Under callgrind the threads take turns, and the export thread falls behind in the
    // spans thread's turn: with the default queue, half the spans found it under pressure
    // (their starts skipped, their ends dropped), which a program on real cores does not.
    // A queue that holds every span keeps the count to the path spans take there.
    let config = sgp_trace_benches::discarding()
        .queue_capacity(4 * (WARM_UP + SPANS) as usize)
        .build()
        .expect("valid config");
    let guard = sgp_trace::init(config);
    fastrace::set_reporter(
        sgp_trace_benches::peers::DiscardReporter,
        fastrace::collector::Config::default(),
    );
    {
        // The no-op spans have no trace in scope.
        let _trace = (!matches!(tracer, Tracer::SgpNoop))
            .then(|| sgp_trace::create_trace("instructions").start());
        spans(tracer, WARM_UP);
        measured_spans(tracer);
    }
    drop(guard);
    fastrace::flush();
    println!("{SPANS} spans measured; divide callgrind's Collected count by {SPANS}");
}
