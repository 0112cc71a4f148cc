//! The fan-out exporter: SGP (the local collector) and OTLP (a loopback receiver) at once,
//! one of them failing or stalled while the other delivers.

mod support;

use std::time::Duration;

use sgp_trace::{create_span, create_trace, Config, HttpExporter};
use sgp_trace_collector::{Collector, CollectorConfig};
use sgp_trace_otel::{FanOutBuilder, FanOutExporter, OtlpExporter};
use support::{Answer, OtlpSink};

const ACCOUNT: &str = "fanout-account";
const WAIT: Duration = Duration::from_secs(30);

struct Setup {
    collector: Collector,
    sink: OtlpSink,
    fanout: FanOutExporter,
    guard: Option<sgp_trace::TracingGuard>,
}

/// A collector as SGP and a loopback OTLP receiver behind one fan-out, with short backoffs,
/// and the runtime exporting to the fan-out.
fn setup(configure: impl FnOnce(FanOutBuilder) -> FanOutBuilder) -> Setup {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let sink = OtlpSink::start();
    let sgp_config = Config::builder()
        .base_url(collector.base_url())
        .credentials("key", ACCOUNT)
        .build()
        .unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(&sink.base_url)
        // Longer than any test holds an answer: a held request must not time out.
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let fanout = configure(
        FanOutExporter::builder()
            .exporter("sgp", HttpExporter::new(&sgp_config))
            .exporter("otlp", otlp)
            .backoff(Duration::from_millis(10), Duration::from_millis(50)),
    )
    .build();
    let guard = sgp_trace::init(
        Config::builder()
            .exporter(fanout.clone())
            .flush_interval(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    Setup {
        collector,
        sink,
        fanout,
        guard: Some(guard),
    }
}

/// One trace of `spans` spans, all ended, then handed to the fan-out.
fn emit_trace(name: &str, spans: usize) {
    {
        let _trace = create_trace(format!("{name} root")).start();
        for index in 1..spans {
            let _span = create_span(format!("{name} {index}")).start();
        }
    }
    sgp_trace::flush_queue().unwrap();
}

fn stats(setup: &Setup, name: &str) -> sgp_trace_otel::DownstreamStats {
    setup
        .fanout
        .stats()
        .into_iter()
        .find(|stats| stats.name == name)
        .unwrap()
}

#[test]
fn sgp_failing_does_not_keep_spans_from_otlp() {
    let setup = setup(|builder| builder.max_attempts(3));
    setup.collector.faults().fail_next(1_000_000, 503, None);
    emit_trace("outage", 5);
    setup.fanout.flush(WAIT).unwrap();

    assert_eq!(setup.sink.spans().len(), 5, "OTLP got every span");
    assert!(setup.collector.spans(ACCOUNT).is_empty());
    let sgp = stats(&setup, "sgp");
    assert_eq!(sgp.delivered, 0);
    assert_eq!(sgp.failed, 5, "the batch was given up after its attempts");
    assert_eq!(sgp.retries, 2, "3 attempts: 2 retries");
    let otlp = stats(&setup, "otlp");
    assert_eq!((otlp.delivered, otlp.failed, otlp.dropped), (5, 0, 0));

    // SGP recovers: the next batches get through, nothing else changed.
    setup.collector.faults().clear();
    emit_trace("after", 2);
    setup.fanout.flush(WAIT).unwrap();
    assert_eq!(setup.collector.spans(ACCOUNT).len(), 2);
    assert_eq!(setup.sink.spans().len(), 7);
}

#[test]
fn a_stalled_otlp_backend_does_not_stall_sgp_and_its_overflow_is_counted() {
    let setup = setup(|builder| builder.queue_batches_for("otlp", 2));
    setup.sink.hold();
    // Batch 1 goes in flight and hangs; 2 and 3 wait in the OTLP queue; the rest overflow it.
    emit_trace("first", 3);
    assert_eq!(setup.sink.wait_for_arrivals(1, WAIT), 1);
    for index in 0..5 {
        emit_trace(&format!("more{index}"), 2);
    }
    // SGP received everything while OTLP still holds its first request.
    let stored = setup.collector.wait_for_spans(ACCOUNT, 13, WAIT);
    assert_eq!(stored.len(), 13);
    let busy = setup.fanout.flush(Duration::from_millis(100)).unwrap_err();
    assert_eq!(busy.pending, ["otlp"]);
    let otlp = stats(&setup, "otlp");
    assert_eq!(otlp.delivered, 0);
    assert_eq!(otlp.queued_batches, 2);
    assert_eq!(otlp.dropped, 6, "three 2-span batches overflowed the queue");
    let sgp = stats(&setup, "sgp");
    assert_eq!((sgp.delivered, sgp.dropped, sgp.failed), (13, 0, 0));

    setup.sink.release();
    setup.fanout.flush(WAIT).unwrap();
    assert_eq!(
        setup.sink.spans().len(),
        7,
        "the held and the queued batches"
    );
}

#[test]
fn refused_spans_are_isolated_by_splitting_and_transient_answers_retried() {
    let setup = setup(|builder| builder);
    setup.sink.refuse_span("bad 2", 400);
    setup.sink.script([Answer {
        status: 503,
        retry_after: None,
    }]);
    emit_trace("bad", 4);
    setup.fanout.flush(WAIT).unwrap();
    let mut names: Vec<String> = setup.sink.spans().into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, ["bad 1", "bad 3", "bad root"]);
    let otlp = stats(&setup, "otlp");
    assert_eq!((otlp.delivered, otlp.failed), (3, 1));
    assert_eq!(setup.collector.spans(ACCOUNT).len(), 4);
}

#[test]
fn shutdown_after_the_guard_delivers_what_the_queues_hold() {
    let mut setup = setup(|builder| builder);
    {
        let _trace = create_trace("last words").start();
        let _span = create_span("last child").start();
    }
    drop(setup.guard.take());
    setup.fanout.shutdown(WAIT).unwrap();
    assert_eq!(setup.collector.spans(ACCOUNT).len(), 2);
    assert_eq!(setup.sink.spans().len(), 2);
    // After shutdown a batch is dropped and counted, never sent.
    let item = sgp_trace::SpanItem {
        name: "too late".into(),
        trace_id: sgp_trace::Id::random(),
        id: sgp_trace::Id::random(),
        parent_id: None,
        group_id: None,
        start_timestamp: sgp_trace::Timestamp::from_nanos(1),
        end_timestamp: Some(sgp_trace::Timestamp::from_nanos(2)),
        status: Some(sgp_trace::SpanStatus::Success),
        span_type: sgp_trace::SpanType::Custom,
        input: None,
        output: None,
        metadata: None,
        observability: None,
    };
    let items = [item];
    let batch = sgp_trace::Batch::new(&items, b"");
    assert_eq!(sgp_trace::Exporter::export(&setup.fanout, &batch), Ok(()));
    assert_eq!(stats(&setup, "otlp").dropped, 1);
    assert_eq!(stats(&setup, "sgp").dropped, 1);
    assert_eq!(setup.sink.spans().len(), 2);
}
