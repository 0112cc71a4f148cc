//! Fault drills: what the runtime promises under faults, measured end to end against the
//! collector. Each drill prints one row `DRILL | fault | sent | received | lost` (run with
//! `--no-capture` to see them) and asserts the promise.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use sgp_trace::{create_span, create_trace, Config, SpanContext};
use sgp_trace_collector::{Collector, CollectorConfig};
use sgp_trace_tests::{Harness, ACCOUNT, API_KEY};

/// A queue that holds a whole drill's burst, for the drills whose fault is not a full queue:
/// the slow-collector drill shows what the default queue does.
const WHOLE_BURST: usize = 250_000;

fn report(fault: &str, sent: u64, received: usize, lost: u64) {
    println!("DRILL | {fault} | {sent} | {received} | {lost}");
}

/// `count` spans, one trace of ten spans at a time, paced so a healthy collector keeps up.
fn emit_paced(count: usize, per_pause: usize, pause: Duration) {
    for start in (0..count).step_by(10) {
        let _trace = create_trace(format!("t{start}")).start();
        for index in start + 1..(start + 10).min(count) {
            let _span = create_span(format!("s{index}")).start();
        }
        if (start + 10) % per_pause == 0 {
            std::thread::sleep(pause);
        }
    }
}

#[test]
fn graceful_shutdown_after_100k_spans_loses_nothing() {
    let mut harness = Harness::start(|config| {
        config
            .queue_capacity(WHOLE_BURST)
            .shutdown_timeout(Duration::from_secs(60))
    });
    emit_paced(100_000, 1_000, Duration::from_millis(10));
    harness.guard.take().unwrap().shutdown().unwrap();
    let received = harness.collector.spans(ACCOUNT).len();
    let stats = sgp_trace::stats();
    report(
        "graceful shutdown after 100k spans",
        100_000,
        received,
        stats.lost(),
    );
    assert_eq!((received, stats.lost()), (100_000, 0), "{stats:?}");
}

#[test]
fn a_10_second_outage_with_retry_after_loses_nothing() {
    let harness = Harness::start(|config| config.flush_interval(Duration::from_millis(200)));
    // Ten answers of 503 with Retry-After: 1 s, one a second: about ten seconds down.
    harness
        .collector
        .faults()
        .fail_next(10, 503, Some(Duration::from_secs(1)));
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(10) {
        emit_paced(200, 200, Duration::ZERO);
        sent += 200;
        std::thread::sleep(Duration::from_millis(500));
    }
    sgp_trace::flush_queue_within(Duration::from_secs(60)).unwrap();
    let received = harness.collector.spans(ACCOUNT).len();
    let stats = sgp_trace::stats();
    report(
        "503 + Retry-After for 10 s, then healthy",
        sent,
        received,
        stats.lost(),
    );
    assert!(
        harness
            .collector
            .requests()
            .iter()
            .filter(|request| request.status == 503)
            .count()
            == 10
    );
    assert_eq!((received as u64, stats.lost()), (sent, 0), "{stats:?}");
}

/// The collector binary next to this test's own executable (`cargo nextest run --workspace`
/// builds it).
fn collector_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let binary = dir.join("sgp-trace-collector");
    assert!(
        binary.exists(),
        "{} not built: run the tests with `cargo nextest run --workspace`",
        binary.display()
    );
    binary
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_collector_process(port: u16, db: &std::path::Path) -> Child {
    let child = Command::new(collector_binary())
        .args(["--port", &port.to_string(), "--db"])
        .arg(db)
        .arg("--no-admin")
        .spawn()
        .expect("start the collector");
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(address).is_err() {
        assert!(Instant::now() < deadline, "the collector did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn the_collector_killed_and_restarted_within_the_retry_window_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("sgp-drill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("spans.db");
    let port = free_port();
    let mut collector = start_collector_process(port, &db);
    let config = Config::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .credentials(API_KEY, ACCOUNT)
        .flush_interval(Duration::from_millis(100))
        .queue_capacity(WHOLE_BURST)
        .backoff(Duration::from_millis(400), Duration::from_secs(5))
        .build()
        .unwrap();
    let _guard = sgp_trace::init(config);
    let producer = std::thread::spawn(|| emit_paced(20_000, 500, Duration::from_millis(50)));
    std::thread::sleep(Duration::from_millis(700));
    collector.kill().unwrap(); // SIGKILL
    collector.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut collector = start_collector_process(port, &db);
    producer.join().unwrap();
    sgp_trace::flush_queue_within(Duration::from_secs(60)).unwrap();
    let stats = sgp_trace::stats();
    collector.kill().unwrap();
    collector.wait().unwrap();
    let store = Collector::start(CollectorConfig::default().db_path(&db)).unwrap();
    let received = store.spans(ACCOUNT).len();
    report(
        "collector SIGKILLed and restarted after 0.5 s",
        20_000,
        received,
        stats.lost(),
    );
    assert_eq!((received, stats.lost()), (20_000, 0), "{stats:?}");
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

/// The spans of the slow-collector drill.
const SLOW_BURST: usize = 200_000;

#[test]
fn a_slow_collector_drops_only_beyond_the_queue_and_counts_it() {
    let harness = Harness::start(|config| config.flush_interval(Duration::from_millis(100)));
    harness.collector.faults().delay(Duration::from_secs(1));
    let started = Instant::now();
    // More spans than the default queue holds (98304 events, a span being one or two).
    emit_paced(SLOW_BURST, SLOW_BURST, Duration::ZERO);
    let hot_path = started.elapsed();
    let before_flush = sgp_trace::stats();
    harness.collector.faults().delay(Duration::ZERO);
    sgp_trace::flush_queue_within(Duration::from_secs(60)).unwrap();
    let received = harness.collector.spans(ACCOUNT).len();
    let stats = sgp_trace::stats();
    println!("a slow collector: {SLOW_BURST} spans emitted in {hot_path:?}");
    report(
        "collector answering in 1 s",
        SLOW_BURST as u64,
        received,
        stats.lost(),
    );
    assert!(
        before_flush.dropped_queue_full > 0,
        "the queue filled: {before_flush:?}"
    );
    assert_eq!(
        stats.lost(),
        stats.dropped_queue_full,
        "only the queue dropped: {stats:?}"
    );
    // Every span is either stored or counted: a dropped start or end event loses at most
    // that span's final state, never silently.
    assert_eq!(
        stats.enqueued + stats.dropped_queue_full + stats.starts_skipped,
        2 * SLOW_BURST as u64,
        "{stats:?}"
    );
    assert!(received > 0);
}

#[test]
fn one_poison_span_among_10k_loses_exactly_one() {
    let harness = Harness::start(|config| config.max_batch_items(200).queue_capacity(WHOLE_BURST));
    let elsewhere = {
        let other = create_trace("other trace").start();
        other.context().unwrap()
    };
    sgp_trace::flush_queue().unwrap();
    harness.collector.clear_requests();
    {
        let trace = create_trace("victim").start();
        for index in 0..9_998 {
            let _span = create_span(format!("good {index}")).start();
            if index == 5_000 {
                let wrong = SpanContext {
                    trace_id: trace.context().unwrap().trace_id,
                    ..elsewhere.clone()
                };
                let _poison = create_span("poison").parent(wrong).start();
            }
        }
    }
    sgp_trace::flush_queue_within(Duration::from_secs(60)).unwrap();
    let received = harness.collector.spans(ACCOUNT).len() - 1;
    let stats = sgp_trace::stats();
    report(
        "one poison span (409) among 10k",
        10_000,
        received,
        stats.lost(),
    );
    assert_eq!(
        (received, stats.lost(), stats.rejected),
        (9_999, 1, 1),
        "{stats:?}"
    );
}

#[test]
fn hostile_values_do_not_stop_the_export_thread() {
    #[derive(Debug)]
    struct DebugOnly(#[allow(dead_code)] String);
    struct Refuses;
    impl serde::Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }
    let harness = Harness::start(|config| config);
    let mut deep = serde_json::json!("bottom");
    for _ in 0..1_000 {
        deep = serde_json::json!({ "d": deep });
    }
    let invalid_utf8 = String::from_utf8_lossy(&[0x66, 0xff, 0xfe, 0x6f, 0x00, 0x1b]).into_owned();
    {
        let _trace = create_trace("hostile").start();
        let _a = create_span("unserializable").input(&Refuses).start();
        let _b = create_span("nan").input(&[f64::NAN, f64::INFINITY]).start();
        let _c = create_span("deep").input(&deep).start();
        let _d = create_span("ten megabytes")
            .input(&"x".repeat(10 * 1024 * 1024))
            .start();
        let _e = create_span("debug text")
            .input(&format!("{:?}", DebugOnly(invalid_utf8)))
            .start();
    }
    sgp_trace::flush_queue_within(Duration::from_secs(60)).unwrap();
    {
        let _after = create_trace("after").start();
    }
    let spans = harness.flushed_spans();
    report(
        "unserializable, NaN, 1000-deep, 10 MB, invalid UTF-8 values",
        7,
        spans.len(),
        sgp_trace::stats().lost(),
    );
    assert_eq!(spans.len(), 7, "{:?}", spans.keys());
    assert_eq!(spans["deep"]["input"]["reason"], "nested too deep");
    assert_eq!(
        spans["nan"]["input"],
        serde_json::json!({"value": [null, null]})
    );
    assert!(spans["ten megabytes"]["input"]["value"]
        .as_str()
        .unwrap()
        .ends_with("bytes]"));
    assert_eq!(sgp_trace::stats().lost(), 0);
}

/// Every bucket an enqueued event can end in (see `Stats`): when it equals `enqueued`, no
/// event is unaccounted for and none is counted twice.
fn settled(stats: &sgp_trace::Stats) -> u64 {
    stats.exported
        + stats.coalesced
        + stats.dropped_after_retries
        + stats.rejected
        + stats.dropped_unauthorized
        + stats.failed
        + stats.dropped_at_shutdown
        + stats.sampled_out
}

/// A backend on 127.0.0.1 that accepts connections and never answers: a fault the collector
/// cannot produce on demand. Its sockets stay open for the life of the test process.
fn silent_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.extend(stream.ok());
        }
    });
    port
}

/// The shutdown bound of the shutdown drills, short to keep the suite short.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(2);

/// Drops `guard` and returns how long that took and the stats right after.
fn drop_guard_timed(guard: sgp_trace::TracingGuard) -> (Duration, sgp_trace::Stats) {
    let started = Instant::now();
    drop(guard);
    (started.elapsed(), sgp_trace::stats())
}

#[test]
fn shutdown_against_a_backend_that_never_answers_counts_every_event() {
    let port = silent_backend();
    let request_timeout = Duration::from_secs(3);
    let config = Config::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .credentials(API_KEY, ACCOUNT)
        // Nothing is cut before shutdown: its first batch is in flight at the bound, and
        // fails after it (at the request timeout), when shutdown has counted it already.
        .flush_at(10_000)
        .flush_interval(Duration::from_secs(60))
        .request_timeout(request_timeout)
        .shutdown_timeout(SHUTDOWN_BOUND)
        .build()
        .unwrap();
    let guard = sgp_trace::init(config);
    emit_paced(5_000, 5_000, Duration::ZERO);
    let (took, stats) = drop_guard_timed(guard);
    report(
        "a backend that accepts and never answers, shutdown at a 2 s bound",
        5_000,
        0,
        stats.lost(),
    );
    assert!(took < SHUTDOWN_BOUND + Duration::from_secs(1), "{took:?}");
    assert_eq!(stats.enqueued, 10_000, "{stats:?}");
    assert_eq!(
        stats.enqueued,
        settled(&stats),
        "every event in one bucket: {stats:?}"
    );
    assert_eq!(stats.exported, 0, "{stats:?}");
    assert_eq!(
        stats.dropped_at_shutdown,
        stats.enqueued - stats.coalesced,
        "{stats:?}"
    );
    // The export thread gives up on its batch after the bound; it is not counted again.
    std::thread::sleep(request_timeout + Duration::from_secs(1) - took.min(request_timeout));
    assert_eq!(sgp_trace::stats(), stats);
}

/// The spans of the refused-backend drill: more than the default queue holds, so that the
/// lanes, the channel and the export thread's buffer all hold events at shutdown.
const REFUSED_BURST: usize = 200_000;

#[test]
fn shutdown_after_a_burst_to_a_refusing_backend_counts_every_event() {
    let config = Config::builder()
        .base_url(format!("http://127.0.0.1:{}", free_port()))
        .credentials(API_KEY, ACCOUNT)
        .flush_interval(Duration::from_millis(100))
        // Four attempts 1 ms apart per batch of 50: at least 3 ms per 50 events, so the
        // export thread is still at work when the bound runs out, however fast the machine.
        .max_batch_items(50)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .shutdown_timeout(SHUTDOWN_BOUND)
        .build()
        .unwrap();
    let guard = sgp_trace::init(config);
    emit_paced(REFUSED_BURST, REFUSED_BURST, Duration::ZERO);
    let before = sgp_trace::stats();
    let (took, stats) = drop_guard_timed(guard);
    println!(
        "a refusing backend: {} events waiting at shutdown, {took:?} to shut down: {stats:?}",
        before.waiting()
    );
    report(
        "a backend refusing connections, 200k spans in a burst, shutdown at a 2 s bound",
        REFUSED_BURST as u64,
        0,
        stats.lost(),
    );
    assert!(took < SHUTDOWN_BOUND + Duration::from_secs(1), "{took:?}");
    assert!(
        before.dropped_queue_full > 0,
        "the queue filled: {before:?}"
    );
    assert_eq!(
        stats.enqueued,
        settled(&stats),
        "every event in one bucket: {stats:?}"
    );
    assert_eq!(stats.exported, 0, "{stats:?}");
    assert!(stats.dropped_at_shutdown > 0, "{stats:?}");
    assert_eq!(
        stats.enqueued + stats.dropped_queue_full + stats.starts_skipped,
        2 * REFUSED_BURST as u64,
        "{stats:?}"
    );
    // Whatever the export thread still does, it adds nothing.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sgp_trace::stats(), stats);
}
