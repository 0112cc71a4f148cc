//! The export thread against a real server: triggers, batch limits, retries, refusals.

use std::time::Duration;

use sgp_trace::{create_span, create_trace, SpanContext};
use sgp_trace_collector::CollectorConfig;
use sgp_trace_tests::{Harness, ACCOUNT};

/// Makes a trace of `spans` spans in all (the root and its children), each ended at once.
fn emit_trace(name: &str, spans: usize) {
    let _trace = create_trace(format!("{name} root")).start();
    for index in 1..spans {
        let _span = create_span(format!("{name} {index}")).start();
    }
}

fn item_counts(harness: &Harness) -> Vec<usize> {
    harness
        .collector
        .requests()
        .iter()
        .filter_map(|request| request.item_count)
        .collect()
}

#[test]
fn reaching_flush_at_sends_batches_of_at_most_max_items() {
    let harness = Harness::start(|config| config.flush_at(20).max_batch_items(10));
    emit_trace("burst", 20);
    let spans = harness
        .collector
        .wait_for_spans(ACCOUNT, 20, Duration::from_secs(10));
    assert_eq!(spans.len(), 20, "the size trigger sent without a flush");
    // The root's end may come after the trigger took the queue, in a batch of its own.
    let counts = item_counts(&harness);
    assert!(counts.len() >= 2, "{counts:?}");
    assert!(counts.iter().all(|&count| count <= 10), "{counts:?}");
    assert!(counts.iter().sum::<usize>() >= 20, "{counts:?}");
}

#[test]
fn a_flush_sends_a_queue_many_times_the_export_buffer() {
    // 50-span batches give an export buffer of 400 events: behind a slow server, 3,000
    // spans wait in the queue, and the flush takes them in parts.
    let harness = Harness::start(|config| config.max_batch_items(50).flush_at(50));
    harness.collector.faults().delay(Duration::from_millis(20));
    emit_trace("backlog", 3_000);
    sgp_trace::flush_queue_within(Duration::from_secs(60)).unwrap();
    assert_eq!(harness.collector.spans(ACCOUNT).len(), 3_000);
    let stats = sgp_trace::stats();
    assert_eq!((stats.lost(), stats.waiting()), (0, 0), "{stats:?}");
    assert!(item_counts(&harness).iter().all(|&count| count <= 50));
}

#[test]
fn the_interval_sends_what_waits() {
    let harness = Harness::start(|config| config.flush_interval(Duration::from_millis(200)));
    emit_trace("trickle", 3);
    let spans = harness
        .collector
        .wait_for_spans(ACCOUNT, 3, Duration::from_secs(10));
    assert_eq!(spans.len(), 3, "the time trigger sent without a flush");
}

#[test]
fn a_span_left_running_on_an_idle_thread_is_shown_without_a_flush() {
    let harness = Harness::start(|config| config.flush_interval(Duration::from_millis(200)));
    let (started, release) = (
        std::sync::mpsc::channel::<()>(),
        std::sync::mpsc::channel::<()>(),
    );
    let (started_tx, started_rx) = started;
    let (release_tx, release_rx) = release;
    // The thread starts a span and then waits, making no more spans: its start event waits
    // in the thread's lane until the export thread comes for it.
    let worker = std::thread::spawn(move || {
        let _trace = create_trace("waiting on a model").start();
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    started_rx.recv().unwrap();
    let spans = harness
        .collector
        .wait_for_spans(ACCOUNT, 1, Duration::from_secs(10));
    assert_eq!(
        spans.len(),
        1,
        "the running span was sent while its thread waited"
    );
    assert!(spans[0]["end_timestamp"].is_null(), "{}", spans[0]);
    release_tx.send(()).unwrap();
    worker.join().unwrap();
    sgp_trace::flush_queue().unwrap();
    let spans = harness.collector.spans(ACCOUNT);
    assert!(spans[0]["end_timestamp"].is_string(), "{}", spans[0]);
}

#[test]
fn events_left_by_threads_that_ended_are_sent() {
    let harness = Harness::start(|config| config);
    let threads: Vec<_> = (0..8)
        .map(|index| std::thread::spawn(move || emit_trace(&format!("thread {index}"), 5)))
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    sgp_trace::flush_queue().unwrap();
    assert_eq!(harness.collector.spans(ACCOUNT).len(), 40);
    let stats = sgp_trace::stats();
    assert_eq!(stats.waiting(), 0, "{stats:?}");
    assert_eq!(
        stats.coalesced, 40,
        "each start was replaced by its end in its thread's lane: {stats:?}"
    );
    assert_eq!(stats.enqueued, 80, "{stats:?}");
    assert_eq!(stats.exported, 40, "{stats:?}");
}

#[test]
fn changes_made_after_a_span_was_shown_running_reach_its_end() {
    let harness = Harness::start(|config| config);
    let trace = create_trace("agent").start();
    let mut step = create_span("step").input(&"question").start_detached();
    // The flush ships both spans' start events: they show as running.
    sgp_trace::flush_queue().unwrap();
    let running = sgp_trace_tests::by_name(harness.collector.spans(ACCOUNT));
    assert!(
        running["step"]["end_timestamp"].is_null(),
        "{}",
        running["step"]
    );
    assert!(running["step"]["output"].is_null(), "{}", running["step"]);

    step.set_output(&"answer");
    step.set_metadata("model", &"small");
    step.set_error("Timeout", "the tool timed out", "application");
    // Ended on another thread than the one whose lane holds it.
    std::thread::spawn(move || drop(step)).join().unwrap();
    drop(trace);
    sgp_trace::flush_queue().unwrap();

    let spans = sgp_trace_tests::by_name(harness.collector.spans(ACCOUNT));
    let step = &spans["step"];
    assert_eq!(step["status"], "ERROR", "{step}");
    assert_eq!(step["input"]["value"], "question");
    assert_eq!(step["output"]["value"], "answer");
    assert_eq!(step["metadata"]["model"], "small");
    assert_eq!(step["metadata"]["error_message"], "the tool timed out");
    assert!(step["end_timestamp"].as_str() >= step["start_timestamp"].as_str());
    let stats = sgp_trace::stats();
    assert_eq!(
        (stats.enqueued, stats.exported, stats.coalesced),
        (4, 4, 0),
        "two starts and two ends, none replaced: {stats:?}"
    );
}

#[test]
fn a_burst_of_spans_running_at_once_on_one_thread_is_sent_whole() {
    let harness = Harness::start(|config| config);
    let trace = create_trace("fan-out").start();
    // As many tasks started on one thread at once: each waits in the thread's lane.
    let running: Vec<_> = (0..3_000)
        .map(|index| create_span(format!("task {index}")).start_detached())
        .collect();
    let (here, elsewhere): (Vec<_>, Vec<_>) = running
        .into_iter()
        .enumerate()
        .partition(|(index, _)| index % 2 == 0);
    drop(here);
    std::thread::spawn(move || drop(elsewhere)).join().unwrap();
    // The lane gave back the burst's seats when the last task ended; it still works.
    for index in 0..10 {
        let _after = create_span(format!("after {index}")).start();
    }
    drop(trace);
    sgp_trace::flush_queue().unwrap();

    let spans = sgp_trace_tests::by_name(harness.collector.spans(ACCOUNT));
    assert_eq!(spans.len(), 1 + 3_000 + 10);
    assert!(spans.values().all(|span| span["status"] == "SUCCESS"));
    assert_eq!(sgp_trace::stats().waiting(), 0, "{:?}", sgp_trace::stats());
}

#[test]
fn flush_queue_sends_everything_queued_before_it() {
    let harness = Harness::start(|config| config);
    emit_trace("flushed", 1_200);
    sgp_trace::flush_queue().unwrap();
    assert_eq!(
        harness.collector.spans(ACCOUNT).len(),
        1_200,
        "all there when flush returns"
    );
    assert!(
        item_counts(&harness).iter().all(|&count| count <= 500),
        "default batch is 500"
    );
    assert!(item_counts(&harness).len() >= 3);
    assert_eq!(sgp_trace::stats().waiting(), 0);
}

#[test]
fn batches_stay_under_the_byte_limit() {
    let harness = Harness::start(|config| config.max_batch_bytes(4_000));
    {
        let _trace = create_trace("big inputs").start();
        for index in 0..20 {
            let _span = create_span(format!("payload {index}"))
                .input(&"x".repeat(1_000))
                .start();
        }
    }
    sgp_trace::flush_queue().unwrap();
    assert_eq!(harness.collector.spans(ACCOUNT).len(), 21);
    for request in harness.collector.requests() {
        assert!(
            request.body_bytes <= 4_000,
            "a {} byte request",
            request.body_bytes
        );
    }
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let harness = Harness::start(|config| config.queue_capacity(10).flush_at(5).max_batch_items(5));
    // A slow backend: the export thread waits on each request while the program goes on.
    harness.collector.faults().delay(Duration::from_millis(300));
    emit_trace("flood", 1_000);
    let stats = sgp_trace::stats();
    assert!(stats.dropped_queue_full > 0, "{stats:?}");
    assert!(
        stats.starts_skipped > 0,
        "starts give way under pressure: {stats:?}"
    );
    assert_eq!(
        stats.enqueued + stats.dropped_queue_full + stats.starts_skipped,
        2_000,
        "every event is accounted for: {stats:?}"
    );
    harness.collector.faults().delay(Duration::ZERO);
    sgp_trace::flush_queue().unwrap();
    let stats = sgp_trace::stats();
    assert_eq!(stats.waiting(), 0, "{stats:?}");
    assert_eq!(
        stats.lost(),
        stats.dropped_queue_full,
        "only the queue dropped: {stats:?}"
    );
}

#[test]
fn a_503_with_retry_after_is_retried_and_delivered() {
    let harness = Harness::start(|config| config);
    harness
        .collector
        .faults()
        .fail_next(2, 503, Some(Duration::from_secs(1)));
    emit_trace("retried", 5);
    sgp_trace::flush_queue().unwrap();
    assert_eq!(harness.collector.spans(ACCOUNT).len(), 5);
    let requests = harness.collector.requests();
    let statuses: Vec<u16> = requests.iter().map(|request| request.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    // The server's Retry-After (1 s) replaced the 20 ms backoff.
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(
        waited >= Duration::from_millis(900),
        "retried after {waited:?}"
    );
    let stats = sgp_trace::stats();
    assert_eq!((stats.exported, stats.lost()), (5, 0), "{stats:?}");
}

#[test]
fn dropped_connections_are_retried() {
    let harness = Harness::start(|config| config);
    harness.collector.faults().close_next(2);
    emit_trace("reconnected", 4);
    sgp_trace::flush_queue().unwrap();
    assert_eq!(harness.collector.spans(ACCOUNT).len(), 4);
    assert_eq!(sgp_trace::stats().lost(), 0);
}

#[test]
fn retries_give_up_after_max_attempts_and_count_the_loss() {
    let harness = Harness::start(|config| config.max_attempts(3));
    harness.collector.faults().fail_next(3, 500, None);
    emit_trace("doomed", 4);
    sgp_trace::flush_queue().unwrap();
    assert!(harness.collector.spans(ACCOUNT).is_empty());
    let stats = sgp_trace::stats();
    assert_eq!(stats.dropped_after_retries, 4, "{stats:?}");
    assert_eq!(harness.collector.requests().len(), 3);
    // The next batch goes through.
    emit_trace("after", 2);
    sgp_trace::flush_queue().unwrap();
    assert_eq!(harness.collector.spans(ACCOUNT).len(), 2);
}

#[test]
fn one_poison_span_is_isolated_and_the_rest_delivered() {
    let harness = Harness::start(|config| config);
    let elsewhere = {
        let other = create_trace("other trace").start();
        other.context().unwrap()
    };
    sgp_trace::flush_queue().unwrap();
    {
        let trace = create_trace("victim trace").start();
        for index in 0..20 {
            let _span = create_span(format!("good {index}")).start();
        }
        // A parent id from another trace, under this trace's id: the server answers 409.
        let wrong = SpanContext {
            trace_id: trace.context().unwrap().trace_id,
            ..elsewhere
        };
        let _poison = create_span("poison").parent(wrong).start();
        for index in 20..29 {
            let _span = create_span(format!("good {index}")).start();
        }
    }
    sgp_trace::flush_queue().unwrap();
    let names: Vec<String> = harness
        .collector
        .spans(ACCOUNT)
        .iter()
        .map(|span| span["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 31, "everything but the poison: {names:?}");
    assert!(!names.contains(&"poison".to_owned()));
    let stats = sgp_trace::stats();
    assert_eq!(stats.rejected, 1, "{stats:?}");
    assert!(harness
        .collector
        .requests()
        .iter()
        .any(|request| request.status == 409));
}

#[test]
fn a_413_splits_the_batch() {
    let collector = CollectorConfig::default().max_body_bytes(6_000);
    let harness = Harness::with_collector(collector, |config| config);
    {
        let _trace = create_trace("large").start();
        for index in 0..10 {
            let _span = create_span(format!("chunk {index}"))
                .input(&"y".repeat(1_000))
                .start();
        }
    }
    sgp_trace::flush_queue().unwrap();
    assert_eq!(harness.collector.spans(ACCOUNT).len(), 11);
    assert!(harness
        .collector
        .requests()
        .iter()
        .any(|request| request.status == 413));
    assert_eq!(sgp_trace::stats().lost(), 0);
}

#[test]
fn refused_credentials_stop_export_with_the_loss_counted() {
    let collector = CollectorConfig::default().api_key("the-right-key");
    let harness = Harness::with_collector(collector, |config| config);
    emit_trace("unauthorized", 3);
    sgp_trace::flush_queue().unwrap();
    emit_trace("still unauthorized", 2);
    sgp_trace::flush_queue().unwrap();
    let requests = harness.collector.requests();
    assert_eq!(
        requests
            .iter()
            .map(|request| request.status)
            .collect::<Vec<_>>(),
        [401],
        "no retry, no more requests"
    );
    let stats = sgp_trace::stats();
    assert_eq!(stats.dropped_unauthorized, 5, "{stats:?}");
    assert_eq!(stats.waiting(), 0);
}

#[test]
fn a_panicking_exporter_does_not_stop_the_export_thread() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let delivered = Arc::new(AtomicUsize::new(0));
    let calls = AtomicUsize::new(0);
    let counter = delivered.clone();
    let exporter = move |batch: &sgp_trace::Batch<'_>| -> Result<(), sgp_trace::ExportError> {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("exporter bug");
        }
        counter.fetch_add(batch.len(), Ordering::SeqCst);
        Ok(())
    };
    let _guard = sgp_trace::init(
        sgp_trace::Config::builder()
            .exporter(exporter)
            .build()
            .unwrap(),
    );
    emit_trace("first", 2);
    sgp_trace::flush_queue().unwrap();
    emit_trace("second", 3);
    sgp_trace::flush_queue().unwrap();
    assert_eq!(delivered.load(Ordering::SeqCst), 3);
    let stats = sgp_trace::stats();
    assert_eq!((stats.failed, stats.exported), (2, 3), "{stats:?}");
}

#[test]
fn flush_and_shutdown_reach_an_exporter_with_its_own_queue() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(Default)]
    struct Buffering {
        exported: AtomicUsize,
        flushes: AtomicUsize,
        shutdowns: AtomicUsize,
    }
    struct Handle(Arc<Buffering>);
    impl sgp_trace::Exporter for Handle {
        fn export(&self, batch: &sgp_trace::Batch<'_>) -> Result<(), sgp_trace::ExportError> {
            self.0.exported.fetch_add(batch.len(), Ordering::SeqCst);
            Ok(())
        }
        fn flush(&self, timeout: Duration) -> Result<(), sgp_trace::ExportError> {
            assert!(timeout > Duration::ZERO);
            self.0.flushes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn shutdown(&self, _timeout: Duration) {
            self.0.shutdowns.fetch_add(1, Ordering::SeqCst);
        }
    }
    let state = Arc::new(Buffering::default());
    let config = sgp_trace::Config::builder()
        .exporter(Handle(state.clone()))
        .build()
        .unwrap();
    let guard = sgp_trace::init(config);
    emit_trace("hooked", 3);
    sgp_trace::flush_queue().unwrap();
    assert_eq!(
        (
            state.exported.load(Ordering::SeqCst),
            state.flushes.load(Ordering::SeqCst)
        ),
        (3, 1)
    );
    drop(guard);
    assert_eq!(state.shutdowns.load(Ordering::SeqCst), 1);
}
