//! What `sgp-trace-tracing` costs per `tracing` span (create, enter, exit, close, two
//! fields: an `#[instrument]` function of two arguments), beside `tracing-opentelemetry`
//! with a batch processor that discards, beside `#[traced]`, beside the registry with no
//! layer (what every layer's span pays `tracing-subscriber` first), and beside a layer that
//! only keeps a value per span in the registry (what any layer with state per span pays on
//! top), in the same run. Then a
//! loss check: 100k spans through the layer, paced as the hot-path bench paces, with the
//! runtime's default settings, drop none. Results are in `sgp-trace-tracing/README.md`.
//!
//! ```text
//! CARGO_TARGET_DIR=target-bench cargo bench -p sgp-trace-benches --bench tracing_layer -- \
//!     --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Each `tracing` case makes its subscriber the default of the measuring thread only
//! (`tracing::dispatcher::set_default`), so both subscribers live in one process; every
//! span is a child of a root span entered on that thread, and the times are the thread's
//! CPU time, off the clock while the exporter catches up every [`SPANS_PER_CATCH_UP`]
//! spans.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use opentelemetry::trace::TracerProvider;
use sgp_trace_benches::peers::{discarding_otel_provider, tracing_two_args};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// As in the hot-path bench: the exporters catch up, off the clock, after this many spans.
const SPANS_PER_CATCH_UP: u64 = 8192;

const SMALL: &str = "what is sgp?";

const SGP_LAYER: &str = "tracing_sgp_layer_instrument_2args";
const SGP_LAYER_NO_SOURCE: &str = "tracing_sgp_layer_no_source_instrument_2args";
const OTEL_LAYER: &str = "tracing_otel_layer_instrument_2args";
const REGISTRY_ONLY: &str = "tracing_registry_only_instrument_2args";
const BOOKKEEPING_ONLY: &str = "tracing_bookkeeping_layer_instrument_2args";
const TRACED: &str = "sgp_traced_2args_beside_layer";

#[sgp_trace::traced]
fn sgp_two_args(count: u64, label: &str) -> u64 {
    black_box(count) + label.len() as u64
}

/// A layer that records nothing but does the per-span bookkeeping any layer with state
/// per span does through the registry, as `SgpLayer` does: a boxed value (the size of an
/// SGP span) put in the span's extensions when it is made, looked up when it is entered,
/// taken out when it closes. What is left of the layer's cost above it is its own work.
struct BookkeepingLayer;

impl<S> tracing_subscriber::Layer<S> for BookkeepingLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Box::new([0u64; 16]));
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            black_box(
                span.extensions()
                    .get::<Box<[u64; 16]>>()
                    .map(|state| state[0]),
            );
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            black_box(span.extensions_mut().remove::<Box<[u64; 16]>>());
        }
    }
}

/// This thread's time on a CPU so far (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a constant Linux knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// CPU time of `iters` calls of `span`, in rounds of [`SPANS_PER_CATCH_UP`] with
/// `catch_up` before each, off the clock.
fn paced(iters: u64, catch_up: &dyn Fn(), span: impl Fn()) -> Duration {
    let mut measured = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let round = left.min(SPANS_PER_CATCH_UP);
        catch_up();
        let start = thread_cpu_time();
        for _ in 0..round {
            span();
        }
        measured += thread_cpu_time() - start;
        left -= round;
    }
    measured
}

fn sgp_catch_up() {
    if let Err(error) = sgp_trace::flush_queue() {
        eprintln!("flush between rounds: {error}");
    }
}

/// `iters` `#[instrument]` spans under a root, with `dispatch` this thread's subscriber.
fn instrumented(dispatch: &Dispatch, iters: u64, catch_up: &dyn Fn()) -> Duration {
    let _default = tracing::dispatcher::set_default(dispatch);
    let root = tracing::info_span!("bench");
    let _entered = root.enter();
    paced(iters, catch_up, || {
        black_box(tracing_two_args(black_box(7), black_box(SMALL)));
    })
}

fn bench(c: &mut Criterion) {
    std::mem::forget(sgp_trace::init(
        sgp_trace_benches::discarding()
            .build()
            .expect("valid config"),
    ));
    let sgp = Dispatch::new(tracing_subscriber::registry().with(sgp_trace_tracing::layer()));
    let sgp_no_source = Dispatch::new(
        tracing_subscriber::registry().with(sgp_trace_tracing::layer().source_metadata(false)),
    );
    let registry_only = Dispatch::new(tracing_subscriber::registry());
    let bookkeeping_only = Dispatch::new(tracing_subscriber::registry().with(BookkeepingLayer));
    let provider = discarding_otel_provider();
    let otel = Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
    );
    let otel_catch_up = || {
        if let Err(error) = provider.force_flush() {
            eprintln!("OpenTelemetry flush between rounds: {error}");
        }
    };

    c.bench_function(SGP_LAYER, |b| {
        b.iter_custom(|iters| instrumented(&sgp, iters, &sgp_catch_up))
    });
    c.bench_function(SGP_LAYER_NO_SOURCE, |b| {
        b.iter_custom(|iters| instrumented(&sgp_no_source, iters, &sgp_catch_up))
    });
    c.bench_function(OTEL_LAYER, |b| {
        b.iter_custom(|iters| instrumented(&otel, iters, &otel_catch_up))
    });
    c.bench_function(REGISTRY_ONLY, |b| {
        b.iter_custom(|iters| instrumented(&registry_only, iters, &|| {}))
    });
    c.bench_function(BOOKKEEPING_ONLY, |b| {
        b.iter_custom(|iters| instrumented(&bookkeeping_only, iters, &|| {}))
    });
    c.bench_function(TRACED, |b| {
        b.iter_custom(|iters| {
            let _trace = sgp_trace::create_trace("bench").start();
            paced(iters, &sgp_catch_up, || {
                black_box(sgp_two_args(black_box(7), black_box(SMALL)));
            })
        })
    });
    sgp_catch_up();
    no_span_dropped_in_100k(&sgp);
}

/// 100k layer spans, paced as above, with the runtime's default settings: every one is
/// exported, none dropped.
fn no_span_dropped_in_100k(sgp: &Dispatch) {
    let before = sgp_trace::stats();
    instrumented(sgp, 100_000, &sgp_catch_up);
    sgp_catch_up();
    let after = sgp_trace::stats();
    let dropped = after.dropped_queue_full - before.dropped_queue_full;
    let exported = after.exported - before.exported;
    eprintln!("100k layer spans: exported {exported}, dropped (queue full) {dropped}");
    assert_eq!(dropped, 0, "no span dropped");
    assert!(exported >= 100_000, "every span exported");
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let dir = sgp_trace_benches::summary::criterion_dir();
    let median = |case| {
        sgp_trace_benches::summary::estimate(&dir, case, "")
            .map(|estimate| estimate.median)
            .expect("criterion wrote an estimate")
    };
    let (otel, traced) = (median(OTEL_LAYER), median(TRACED));
    let registry = median(REGISTRY_ONLY);
    println!("\nns per span (median): tracing-opentelemetry {otel:.0}, #[traced] {traced:.0}");
    for (case, ns) in [
        (REGISTRY_ONLY, registry),
        (BOOKKEEPING_ONLY, median(BOOKKEEPING_ONLY)),
    ] {
        println!(
            "{case}: {ns:.0} ns; / tracing-opentelemetry = {:.2}",
            ns / otel
        );
    }
    for case in [SGP_LAYER, SGP_LAYER_NO_SOURCE] {
        let layer = median(case);
        println!(
            "{case}: {layer:.0} ns; / tracing-opentelemetry = {:.2}; / #[traced] = {:.2}",
            layer / otel,
            layer / traced
        );
    }
}
