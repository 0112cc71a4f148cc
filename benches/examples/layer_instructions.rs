//! Instructions per `tracing` span of an `#[instrument]` function with two arguments
//! (create, enter, exit, close) under a root span, counted by callgrind: the layer's cost
//! compared between two versions when the machine is too noisy for times (see
//! `benches/tracing_layer.rs` for the times). The argument picks the subscriber: `layer`
//! (the default), `layer-no-source` (`.source_metadata(false)`), `registry` (no layer:
//! what `tracing-subscriber` costs first) or `otel` (`tracing-opentelemetry`, its batch
//! processor discarding).
//!
//! ```text
//! CARGO_TARGET_DIR=target-bench cargo build --release -p sgp-trace-benches --example layer_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*measured_spans*' \
//!     target-bench/release/examples/layer_instructions layer 2>&1 | grep 'Collected'
//! ```
//!
//! The collected count covers the spans' thread only; divide it by [`SPANS`]. A count
//! after the mode (`layer 2000000`) makes that many spans instead, paced as the benches
//! pace them, for `perf record`.

use std::hint::black_box;

use opentelemetry::trace::TracerProvider;
use sgp_trace_benches::peers::{discarding_otel_provider, tracing_two_args};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// Spans measured; the first [`WARM_UP`] before them fill the lane and the allocator.
const SPANS: u64 = 20_000;
const WARM_UP: u64 = 5_000;

#[inline(never)]
fn spans(count: u64) {
    for index in 0..count {
        black_box(tracing_two_args(
            black_box(index),
            black_box("what is sgp?"),
        ));
    }
}

#[inline(never)]
fn measured_spans() {
    spans(SPANS);
}

/// `count` spans, the export thread caught up every 8,192 as in the benches: for a
/// sampling profiler (`perf record`), which needs far more spans than callgrind.
fn paced_spans(count: u64) {
    let mut left = count;
    while left > 0 {
        let round = left.min(8192);
        spans(round);
        if let Err(error) = sgp_trace::flush_queue() {
            eprintln!("flush between rounds: {error}");
        }
        left -= round;
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "layer".into());
    let profiled: Option<u64> = std::env::args().nth(2).and_then(|count| count.parse().ok());
    // As in `span_instructions`: a queue that holds every span, so that the export
    // thread's turns under callgrind do not send spans down the pressure path.
    let config = sgp_trace_benches::discarding()
        .queue_capacity(4 * (WARM_UP + SPANS) as usize)
        .build()
        .expect("valid config");
    let guard = sgp_trace::init(config);
    let mut provider = None;
    let dispatch = match mode.as_str() {
        "layer" => Dispatch::new(tracing_subscriber::registry().with(sgp_trace_tracing::layer())),
        "layer-no-source" => Dispatch::new(
            tracing_subscriber::registry().with(sgp_trace_tracing::layer().source_metadata(false)),
        ),
        "registry" => Dispatch::new(tracing_subscriber::registry()),
        "otel" => {
            let made = discarding_otel_provider();
            let tracer = made.tracer("instructions");
            provider = Some(made);
            Dispatch::new(
                tracing_subscriber::registry()
                    .with(tracing_opentelemetry::layer().with_tracer(tracer)),
            )
        }
        other => {
            eprintln!(
                "unknown mode {other:?}: expected `layer` (the default), `layer-no-source`, \
                 `registry` or `otel`"
            );
            std::process::exit(2);
        }
    };
    tracing::dispatcher::with_default(&dispatch, || {
        let root = tracing::info_span!("instructions");
        let _entered = root.enter();
        spans(WARM_UP);
        match profiled {
            Some(count) => paced_spans(count),
            None => measured_spans(),
        }
    });
    drop(guard);
    if let Some(provider) = provider {
        let _ = provider.shutdown();
    }
    println!("{SPANS} spans measured; divide callgrind's Collected count by {SPANS}");
}
