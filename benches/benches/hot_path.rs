//! The hot path: what one span costs the thread that makes it (start and end), on one
//! thread and on four, for sgp-trace and, in the same run, for the peers a Rust user would
//! pick instead. Results and the machine are in `benches/README.md`.
//!
//! ```text
//! CARGO_TARGET_DIR=target-bench cargo bench -p sgp-trace-benches --bench hot_path -- \
//!     --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every library gets a background exporter that discards, so its export thread does all
//! its work (coalescing and JSON encoding for sgp-trace, `SpanData` batches for
//! OpenTelemetry, span collection for fastrace) but sends nothing. Spans are children of a
//! trace in scope (a root per thread), except in the no-op cases. A recording thread waits,
//! off the clock, for its library's export thread to catch up every
//! [`SPANS_PER_CATCH_UP`] spans, so every library is measured recording all of its spans,
//! not shedding them at a full queue. After the run the medians are printed again with
//! their ratios to the peers.

use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use sgp_trace::Config;
use sgp_trace_benches::peers::{discarding_otel_provider, tracing_two_args, DiscardReporter};
use tracing_subscriber::layer::SubscriberExt;

/// The small input: a short string, as a question or a tool name.
const SMALL: &str = "what is sgp?";

/// A recording thread lets its library's export thread catch up, off the clock, after this
/// many spans. An endless loop outruns sgp-trace's export thread (about 2.4M spans/s with
/// a discarding exporter, against 6-8M made on two cores); once the queue is full, about
/// half of the spans end on the cheaper queue-full path, and the figure is no longer what
/// a recorded span costs. 8,192 spans on each of four threads stay under half the default
/// queue, where start events begin to give way.
const SPANS_PER_CATCH_UP: u64 = 8192;

// ---------------------------------------------------------------------------------------
// The functions under test: two small arguments each.

/// The baseline: the same function, not traced.
#[inline(never)]
fn untraced_two_args(count: u64, label: &str) -> u64 {
    black_box(count) + label.len() as u64
}

#[sgp_trace::traced]
fn sgp_two_args(count: u64, label: &str) -> u64 {
    black_box(count) + label.len() as u64
}

#[fastrace::trace]
fn fastrace_two_args(count: u64, label: &str) -> u64 {
    black_box(count) + label.len() as u64
}

/// What a fastrace user writes to see the arguments, as `#[traced]` records them: each is
/// formatted into a property (the return value still is not recorded).
#[fastrace::trace(properties = { "count": "{count}", "label": "{label}" })]
fn fastrace_two_args_recorded(count: u64, label: &str) -> u64 {
    black_box(count) + label.len() as u64
}

fn otel_two_attrs(tracer: &SdkTracer, count: u64, label: &'static str) -> u64 {
    let span = tracer
        .span_builder("otel_two_attrs")
        .with_attributes([
            KeyValue::new("count", count as i64),
            KeyValue::new("label", label),
        ])
        .start(tracer);
    let _current = Context::current_with_span(span).attach();
    black_box(count) + label.len() as u64
}

// ---------------------------------------------------------------------------------------
// sgp-trace runtime: one process-wide runtime, switched between disabled and recording.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SgpMode {
    Disabled,
    Recording,
}

static SGP_MODE: Mutex<Option<SgpMode>> = Mutex::new(None);

fn sgp_mode(mode: SgpMode) {
    let mut current = SGP_MODE.lock().unwrap();
    if *current == Some(mode) {
        return;
    }
    let config = match mode {
        SgpMode::Disabled => Config::builder().disabled(true),
        SgpMode::Recording => sgp_trace_benches::discarding(),
    };
    // The guard would stop tracing when dropped; the runtime lives for the whole run.
    std::mem::forget(sgp_trace::init(config.build().expect("valid config")));
    *current = Some(mode);
    if mode == SgpMode::Recording {
        // Record for a while first: the first recorded case measured 240-285 ns on one
        // thread against 120-165 ns alone, paying for the queue's memory being touched for
        // the first time, which no later case sees.
        on_threads(4, 500_000, &*sgp_in_trace(sgp_create_span));
        if let Err(error) = sgp_trace::flush_queue() {
            eprintln!("flush after warming up: {error}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The peers, set up once.

/// The OpenTelemetry providers: the one behind `tracing-opentelemetry` and a plain one.
struct Peers {
    for_tracing: SdkTracerProvider,
    plain: SdkTracerProvider,
}

fn peers() -> Peers {
    fastrace::set_reporter(DiscardReporter, fastrace::collector::Config::default());
    let for_tracing = discarding_otel_provider();
    let layer = tracing_opentelemetry::layer().with_tracer(for_tracing.tracer("tracing"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("no other subscriber");
    let plain = discarding_otel_provider();
    Peers { for_tracing, plain }
}

// ---------------------------------------------------------------------------------------
// Running a loop on N threads at once.

/// Runs `body(iters)` on `threads` threads started together and returns the on-CPU time
/// of the measured loops, averaged over the threads (`CLOCK_THREAD_CPUTIME_ID`).
///
/// CPU time, not wall time: the machine is shared, and wall time would mostly measure how
/// often other processes took the core away. With four threads on two cores the figure is
/// still per span and per thread, so contention between the threads (locks, shared cache
/// lines, the bounded channel) shows, but waiting for a core does not. Set
/// `SGP_BENCH_CLOCK=wall` to get wall time from the common start to the last thread's end.
fn on_threads(
    threads: usize,
    iters: u64,
    body: &(dyn Fn(&Barrier, u64) -> Duration + Sync),
) -> Duration {
    let barrier = Barrier::new(threads + 1);
    let wall = std::env::var_os("SGP_BENCH_CLOCK").is_some_and(|clock| clock == "wall");
    thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| body(&barrier, iters)))
            .collect();
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        let elapsed = start.elapsed();
        let cpu: Duration = workers.into_iter().map(|w| w.join().unwrap()).sum();
        if wall {
            elapsed
        } else {
            cpu / threads as u32
        }
    })
}

/// This thread's time on a CPU so far (`CLOCK_THREAD_CPUTIME_ID`, nanosecond resolution).
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a constant Linux knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Marks the start and the end of the measured loop of one thread; returns its CPU time.
struct Measured<'a> {
    barrier: &'a Barrier,
    cpu_start: Duration,
    /// CPU time spent off the clock (see [`Measured::untimed`]).
    untimed: Duration,
}

impl<'a> Measured<'a> {
    fn start(barrier: &'a Barrier) -> Measured<'a> {
        barrier.wait();
        Measured {
            barrier,
            cpu_start: thread_cpu_time(),
            untimed: Duration::ZERO,
        }
    }

    /// Does `work` off the clock.
    fn untimed(&mut self, work: impl FnOnce()) {
        let start = thread_cpu_time();
        work();
        self.untimed += thread_cpu_time() - start;
    }

    /// Runs `iters` spans in rounds of at most [`SPANS_PER_CATCH_UP`] (`spans(n)` makes
    /// `n`). Before each round, `catch_up` waits for the export thread, off the clock.
    fn in_rounds(&mut self, iters: u64, catch_up: &dyn Fn(), mut spans: impl FnMut(u64)) {
        let mut left = iters;
        while left > 0 {
            let round = left.min(SPANS_PER_CATCH_UP);
            self.untimed(catch_up);
            spans(round);
            left -= round;
        }
    }

    fn end(self) -> Duration {
        let cpu = thread_cpu_time() - self.cpu_start - self.untimed;
        self.barrier.wait();
        cpu
    }
}

/// One benchmark case: per-thread setup, then the measured loop between two barrier waits.
type Case = Box<dyn Fn(&Barrier, u64) -> Duration + Sync>;

/// Waits until sgp-trace's export thread has taken everything queued.
fn sgp_catch_up() {
    if let Err(error) = sgp_trace::flush_queue() {
        eprintln!("flush between rounds: {error}");
    }
}

fn sgp_in_trace(span: fn()) -> Case {
    Box::new(move |barrier, iters| {
        let _trace = sgp_trace::create_trace("bench").start();
        let mut measured = Measured::start(barrier);
        measured.in_rounds(iters, &sgp_catch_up, |round| {
            for _ in 0..round {
                span();
            }
        });
        measured.end()
    })
}

fn no_trace(span: fn()) -> Case {
    Box::new(move |barrier, iters| {
        let measured = Measured::start(barrier);
        for _ in 0..iters {
            span();
        }
        measured.end()
    })
}

fn untraced() {
    black_box(untraced_two_args(black_box(7), black_box(SMALL)));
}

fn sgp_traced() {
    black_box(sgp_two_args(black_box(7), black_box(SMALL)));
}

fn sgp_create_span() {
    let span = sgp_trace::create_span("child")
        .input(black_box(SMALL))
        .start();
    black_box(&span);
}

/// Annotating the current span where none is recording: what a library that annotates
/// unconditionally costs a program that traces nothing there.
fn sgp_with_current_span() {
    black_box(sgp_trace::with_current_span(|span| {
        span.set_metadata("cache", black_box(SMALL))
    }));
}

/// A span with no payload: what the span itself costs, apart from any JSON.
fn sgp_create_span_bare() {
    let span = sgp_trace::create_span("child").start();
    black_box(&span);
}

fn payload(bytes: usize) -> &'static str {
    Box::leak("x".repeat(bytes).into_boxed_str())
}

fn sgp_input<T: serde::Serialize + ?Sized + Sync>(payload: &'static T) -> Case {
    Box::new(move |barrier, iters| {
        let _trace = sgp_trace::create_trace("bench").start();
        let mut measured = Measured::start(barrier);
        measured.in_rounds(iters, &sgp_catch_up, |round| {
            for _ in 0..round {
                let span = sgp_trace::create_span("child")
                    .input(black_box(payload))
                    .start();
                black_box(&span);
            }
        });
        measured.end()
    })
}

/// `traced` is generic rather than a function pointer, so it is called as directly as in
/// the other cases.
fn fastrace_case<F>(traced: F) -> Case
where
    F: Fn(u64, &str) -> u64 + Copy + Send + Sync + 'static,
{
    Box::new(move |barrier, iters| {
        let mut measured = Measured::start(barrier);
        measured.in_rounds(iters, &fastrace::flush, |round| {
            sgp_trace_benches::fastrace_spans(round, |_| {
                black_box(traced(black_box(7), black_box(SMALL)));
            });
        });
        measured.end()
    })
}

/// Waits until an OpenTelemetry batch processor has exported everything queued.
fn otel_catch_up(provider: &SdkTracerProvider) {
    if let Err(error) = provider.force_flush() {
        eprintln!("OpenTelemetry flush between rounds: {error}");
    }
}

fn tracing_case(provider: SdkTracerProvider) -> Case {
    Box::new(move |barrier, iters| {
        let root = tracing::info_span!("bench");
        let _entered = root.enter();
        let mut measured = Measured::start(barrier);
        measured.in_rounds(iters, &|| otel_catch_up(&provider), |round| {
            for _ in 0..round {
                black_box(tracing_two_args(black_box(7), black_box(SMALL)));
            }
        });
        measured.end()
    })
}

fn otel_case(provider: SdkTracerProvider) -> Case {
    let tracer = provider.tracer("plain");
    Box::new(move |barrier, iters| {
        let root = tracer.start("bench");
        let _current = Context::current_with_span(root).attach();
        let mut measured = Measured::start(barrier);
        measured.in_rounds(iters, &|| otel_catch_up(&provider), |round| {
            for _ in 0..round {
                black_box(otel_two_attrs(&tracer, black_box(7), black_box(SMALL)));
            }
        });
        measured.end()
    })
}

fn run(c: &mut Criterion, name: &str, mode: Option<SgpMode>, case: Case) {
    if let Some(mode) = mode {
        sgp_mode(mode);
    }
    let mut group = c.benchmark_group(name);
    for threads in [1usize, 4] {
        let id = BenchmarkId::from_parameter(format!("{threads}_thread"));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| on_threads(threads, iters, &*case))
        });
    }
    group.finish();
    if mode == Some(SgpMode::Recording) {
        // The export thread works through what the case left queued now, not while the
        // next case (or a peer) is measured beside it.
        if let Err(error) = sgp_trace::flush_queue() {
            eprintln!("flush after {name}: {error}");
        }
    }
}

fn hot_path(c: &mut Criterion) {
    let peers = peers();
    run(c, "untraced_2args", None, no_trace(untraced));
    // The disabled cases first: the runtime starts disabled and is switched on once.
    run(
        c,
        "sgp_disabled_traced",
        Some(SgpMode::Disabled),
        no_trace(sgp_traced),
    );
    run(
        c,
        "sgp_disabled_create_span",
        Some(SgpMode::Disabled),
        no_trace(sgp_create_span),
    );
    run(
        c,
        "sgp_no_trace_traced",
        Some(SgpMode::Recording),
        no_trace(sgp_traced),
    );
    run(
        c,
        "sgp_no_trace_create_span",
        Some(SgpMode::Recording),
        no_trace(sgp_create_span),
    );
    run(
        c,
        "sgp_no_trace_with_current_span",
        Some(SgpMode::Recording),
        no_trace(sgp_with_current_span),
    );
    // What the recorded cases queue, apart from the warm-up's load.
    let before = sgp_trace::stats();
    run(
        c,
        "sgp_create_span_bare",
        Some(SgpMode::Recording),
        sgp_in_trace(sgp_create_span_bare),
    );
    run(
        c,
        "sgp_create_span_small",
        Some(SgpMode::Recording),
        sgp_in_trace(sgp_create_span),
    );
    run(
        c,
        "sgp_traced_2args",
        Some(SgpMode::Recording),
        sgp_in_trace(sgp_traced),
    );
    run(
        c,
        "sgp_input_1kb",
        Some(SgpMode::Recording),
        sgp_input(payload(1024)),
    );
    run(
        c,
        "sgp_input_chat_1kb",
        Some(SgpMode::Recording),
        sgp_input(sgp_trace_benches::chat()),
    );
    run(
        c,
        "sgp_input_10kb",
        Some(SgpMode::Recording),
        sgp_input(payload(10 * 1024)),
    );
    let after = sgp_trace::stats();
    eprintln!(
        "sgp-trace during its recorded cases: enqueued {}, exported {}, coalesced {}, \
         dropped (queue full) {}",
        after.enqueued - before.enqueued,
        after.exported - before.exported,
        after.coalesced - before.coalesced,
        after.dropped_queue_full - before.dropped_queue_full
    );
    run(
        c,
        "fastrace_trace_2args",
        None,
        fastrace_case(fastrace_two_args),
    );
    run(
        c,
        "fastrace_trace_2args_recorded",
        None,
        fastrace_case(fastrace_two_args_recorded),
    );
    run(
        c,
        "tracing_otel_instrument_2args",
        None,
        tracing_case(peers.for_tracing.clone()),
    );
    run(c, "otel_span_2attrs", None, otel_case(peers.plain.clone()));
}

criterion_group!(benches, hot_path);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    sgp_trace_benches::summary::print(&sgp_trace_benches::summary::criterion_dir());
}
