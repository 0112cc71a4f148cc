//! Starting and stopping: init from the environment, disabled and credential-less modes,
//! shutdown with spans still open.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sgp_trace::{create_span, create_trace, Config, ShutdownError};
use sgp_trace_collector::{Collector, CollectorConfig};
use sgp_trace_tests::{tree, Harness, ACCOUNT, API_KEY};

/// Counts how often it is serialized, to prove a no-op span never serializes its input.
struct CountsSerialization<'a>(&'a AtomicUsize);

impl serde::Serialize for CountsSerialization<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_str("counted")
    }
}

#[test]
fn without_init_the_first_span_reads_the_environment() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    // SAFETY: set before any thread of this test process reads the environment.
    unsafe {
        std::env::set_var("SGP_API_KEY", API_KEY);
        std::env::set_var("SGP_ACCOUNT_ID", ACCOUNT);
        std::env::set_var("SGP_CLIENT_BASE_URL", collector.base_url());
        std::env::set_var("DISABLE_SCALE_TRACING", "false");
    }
    {
        let _trace = create_trace("from env").start();
    }
    sgp_trace::flush_queue().unwrap();
    assert_eq!(collector.spans(ACCOUNT).len(), 1);
}

#[test]
fn disabled_tracing_sends_nothing_and_serializes_nothing() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let config = Config::builder()
        .base_url(collector.base_url())
        .credentials(API_KEY, ACCOUNT)
        .disabled(true)
        .build()
        .unwrap();
    let _guard = sgp_trace::init(config);
    let serialized = AtomicUsize::new(0);
    {
        let trace = create_trace("off")
            .input(&CountsSerialization(&serialized))
            .start();
        assert!(!trace.is_recording());
        let mut span = create_span("off child").start();
        span.set_output(&CountsSerialization(&serialized));
    }
    sgp_trace::flush_queue().unwrap();
    assert_eq!(serialized.load(Ordering::SeqCst), 0);
    assert!(collector.requests().is_empty());
    assert_eq!(sgp_trace::stats(), Default::default());
}

#[test]
fn without_credentials_spans_are_noops() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let config = Config::builder()
        .base_url(collector.base_url())
        .build()
        .unwrap();
    assert!(!config.can_export());
    let _guard = sgp_trace::init(config);
    let serialized = AtomicUsize::new(0);
    {
        let trace = create_trace("no credentials")
            .input(&CountsSerialization(&serialized))
            .start();
        assert!(!trace.is_recording());
    }
    sgp_trace::flush_queue().unwrap();
    assert_eq!(serialized.load(Ordering::SeqCst), 0);
    assert!(collector.requests().is_empty());
}

#[test]
fn shutdown_sends_open_spans_as_canceled() {
    let mut harness = Harness::start(|config| config);
    let trace = create_trace("interrupted").input(&"started").start();
    let child = create_span("unfinished").start();
    {
        let _done = create_span("finished").start();
    }
    harness.guard.take().unwrap().shutdown().unwrap();
    let spans = sgp_trace_tests::by_name(harness.collector.spans(ACCOUNT));
    assert_eq!(
        tree(&spans),
        "interrupted [CANCELED]\n  unfinished [CANCELED]\n    finished [SUCCESS]\n"
    );
    for name in ["interrupted", "unfinished"] {
        assert_eq!(spans[name]["metadata"]["open_at_shutdown"], true);
        assert!(spans[name]["end_timestamp"].is_string());
    }
    assert_eq!(spans["interrupted"]["input"]["value"], "started");
    // Spans ending after shutdown are counted, not sent.
    drop(child);
    drop(trace);
    let stats = sgp_trace::stats();
    assert_eq!(stats.dropped_while_stopped, 2, "{stats:?}");
    assert_eq!(harness.collector.spans(ACCOUNT).len(), 3);
}

#[test]
fn spans_shown_running_and_then_ended_are_not_closed_again_at_shutdown() {
    let mut harness = Harness::start(|config| config);
    let trace = create_trace("long").start();
    let step = create_span("step").start();
    // Both starts are sent: the export thread keeps them as open spans until their ends.
    sgp_trace::flush_queue().unwrap();
    drop(step);
    drop(trace);
    harness.guard.take().unwrap().shutdown().unwrap();
    let spans = sgp_trace_tests::by_name(harness.collector.spans(ACCOUNT));
    assert_eq!(tree(&spans), "long [SUCCESS]\n  step [SUCCESS]\n");
    for name in ["long", "step"] {
        assert!(
            spans[name]["metadata"]["open_at_shutdown"].is_null(),
            "{}",
            spans[name]
        );
    }
}

#[test]
fn shutdown_is_bounded_when_the_backend_hangs() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    collector.faults().delay(Duration::from_secs(5));
    let config = Config::builder()
        .base_url(collector.base_url())
        .credentials(API_KEY, ACCOUNT)
        .build()
        .unwrap();
    let _guard = sgp_trace::init(config);
    {
        let _trace = create_trace("stuck").start();
    }
    let result = sgp_trace::shutdown(Duration::from_millis(300));
    assert_eq!(
        result,
        Err(ShutdownError::Timeout(Duration::from_millis(300)))
    );
}

#[test]
fn dropping_the_guard_flushes() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let config = Config::builder()
        .base_url(collector.base_url())
        .credentials(API_KEY, ACCOUNT)
        .flush_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let guard = sgp_trace::init(config);
    {
        let _trace = create_trace("last words").start();
        let _span = create_span("final step").start();
    }
    drop(guard);
    assert_eq!(collector.spans(ACCOUNT).len(), 2);
}

#[test]
fn init_again_updates_settings_and_keeps_recording() {
    let harness = Harness::start(|config| config);
    let again = Config::builder()
        .base_url(harness.collector.base_url())
        .credentials(API_KEY, ACCOUNT)
        .flush_at(2)
        .build()
        .unwrap();
    let _second = sgp_trace::init(again);
    {
        let _trace = create_trace("after reinit").start();
        let _span = create_span("child").start();
    }
    let spans = harness
        .collector
        .wait_for_spans(ACCOUNT, 2, Duration::from_secs(10));
    assert_eq!(spans.len(), 2, "the new flush_at of 2 applies");
}

#[test]
fn init_again_with_larger_batches_fills_them() {
    // The first config buffers a few events only (its batches are small); the second one's
    // batches are 40 times larger, and only a buffer grown with them reaches its flush_at.
    let harness = Harness::start(|config| config.max_batch_items(5).flush_at(5));
    let again = Config::builder()
        .base_url(harness.collector.base_url())
        .credentials(API_KEY, ACCOUNT)
        .max_batch_items(200)
        .flush_at(200)
        .flush_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let _second = sgp_trace::init(again);
    for index in 0..150 {
        let _trace = create_trace(format!("trace {index}")).start();
        let _span = create_span("child").start();
    }
    let spans = harness
        .collector
        .wait_for_spans(ACCOUNT, 200, Duration::from_secs(10));
    assert!(
        spans.len() >= 200,
        "flush_at 200 was reached: {} spans arrived within 10 s",
        spans.len()
    );
}

#[test]
fn tracing_stops_with_the_last_guard() {
    let harness = Harness::start(|config| config);
    let second = Config::builder()
        .base_url(harness.collector.base_url())
        .credentials(API_KEY, ACCOUNT)
        .flush_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    drop(sgp_trace::init(second));
    {
        let trace = create_trace("still traced").start();
        assert!(trace.is_recording(), "the first guard still lives");
    }
    drop(harness.guard);
    assert_eq!(
        harness.collector.spans(ACCOUNT).len(),
        1,
        "the last guard flushed"
    );
    assert!(!create_trace("after").start().is_recording());
}
