//! Whole-process figures of sgp-trace: export throughput, loss in a tight loop, memory and
//! hot-path latency while the backend is down or slow. Results are in `benches/README.md`.
//!
//! ```text
//! CARGO_TARGET_DIR=target-bench cargo run --release -p sgp-trace-benches --bin export_bench
//! CARGO_TARGET_DIR=target-bench cargo run --release -p sgp-trace-benches --bin export_bench -- --reps 7
//! ```
//!
//! The runtime is process-wide (its queue capacity is fixed by the first `init`), so each
//! scenario runs in a child process of this binary (`export_bench --run <args>`), which
//! prints one JSON line. Scenarios are run round-robin, `--reps` times, and each figure is
//! reported as the median over the repetitions with its range, and as a ratio to a
//! baseline measured in the same round: the machine is shared and noisy, ratios are what
//! carry over.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sgp_trace::Config;
use sgp_trace_collector::{Collector, CollectorConfig};

const SMALL: &str = "what is sgp?";
const ACCOUNT: &str = "bench-account";

// ---------------------------------------------------------------------------------------
// A discarding HTTP/1.1 sink: reads each request whole and answers 200, optionally after a
// delay; keeps connections alive; counts connections, requests and bytes.

#[derive(Default)]
struct SinkCounters {
    connections: AtomicU64,
    requests: AtomicU64,
    body_bytes: AtomicU64,
}

fn start_sink(delay: Duration) -> (SocketAddr, Arc<SinkCounters>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
    let addr = listener.local_addr().expect("sink address");
    let counters = Arc::new(SinkCounters::default());
    let shared = counters.clone();
    thread::Builder::new()
        .name("sink-accept".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let counters = shared.clone();
                thread::spawn(move || serve(stream, delay, &counters));
            }
        })
        .expect("spawn the sink");
    (addr, counters)
}

fn serve(stream: TcpStream, delay: Duration, counters: &SinkCounters) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line = String::new();
    let mut body = vec![0u8; 64 * 1024];
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
        content-length: 28\r\n\r\n{\"items\":[],\"object\":\"list\"}";
    loop {
        let mut length = 0usize;
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" && !first {
                break;
            }
            first = false;
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        counters.requests.fetch_add(1, Ordering::Relaxed);
        counters
            .body_bytes
            .fetch_add(length as u64, Ordering::Relaxed);
        while length > 0 {
            let chunk = length.min(body.len());
            if reader.read_exact(&mut body[..chunk]).is_err() {
                return;
            }
            length -= chunk;
        }
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        if writer.write_all(ANSWER).is_err() {
            return;
        }
    }
}

/// A base URL nothing listens on: connections are refused at once.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------
// One scenario, in a child process.

#[derive(Debug, Clone)]
struct RunArgs {
    /// `discard` (in-process exporter), `sink`, `collector`, `down`, `slow`.
    backend: String,
    spans: u64,
    queue: Option<usize>,
    batch: Option<usize>,
    flush_at: Option<usize>,
    batch_bytes: Option<usize>,
    /// Time every span and report percentiles.
    latency: bool,
    /// Wait for the export thread (`flush_queue`) after every this many spans, so it never
    /// falls behind: its CPU per span is then measured without the queue's pressure, which
    /// changes from run to run what it has to do (starts skipped, spans dropped).
    paced: Option<usize>,
    /// Each span's input is a chat of four messages (about 1 KB, every string nested in
    /// objects, so the export thread scans it for credentials) instead of a short string.
    chat: bool,
}

impl RunArgs {
    fn parse(args: &[String]) -> RunArgs {
        let mut run = RunArgs {
            backend: "sink".into(),
            spans: 100_000,
            queue: None,
            batch: None,
            flush_at: None,
            batch_bytes: None,
            latency: false,
            paced: None,
            chat: false,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().expect("a value after the flag").clone();
            match flag.as_str() {
                "--backend" => run.backend = value(),
                "--spans" => run.spans = value().parse().expect("--spans N"),
                "--queue" => run.queue = Some(value().parse().expect("--queue N")),
                "--batch" => run.batch = Some(value().parse().expect("--batch N")),
                "--flush-at" => run.flush_at = Some(value().parse().expect("--flush-at N")),
                "--batch-bytes" => {
                    run.batch_bytes = Some(value().parse().expect("--batch-bytes N"))
                }
                "--latency" => run.latency = true,
                "--paced" => run.paced = Some(value().parse().expect("--paced N")),
                "--chat" => run.chat = true,
                other => panic!("unknown flag {other}"),
            }
        }
        run
    }

    fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--backend".into(),
            self.backend.clone(),
            "--spans".into(),
            self.spans.to_string(),
        ];
        let mut add = |flag: &str, value: Option<usize>| {
            if let Some(value) = value {
                args.push(flag.into());
                args.push(value.to_string());
            }
        };
        add("--queue", self.queue);
        add("--batch", self.batch);
        add("--flush-at", self.flush_at);
        add("--batch-bytes", self.batch_bytes);
        add("--paced", self.paced);
        if self.latency {
            args.push("--latency".into());
        }
        if self.chat {
            args.push("--chat".into());
        }
        args
    }
}

/// Resident set size in KiB, and its high-water mark, from `/proc/self/status`.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (ns) the export thread has used so far, from the scheduler's count in
/// `/proc/self/task/*/schedstat`; 0 when it cannot be read.
fn export_thread_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            // The kernel keeps 15 bytes of a thread's name.
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| "sgp-trace-export".starts_with(name.trim()))
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Latencies at 1 ns resolution up to 100 µs, then one overflow bucket. Allocated and
/// touched before the first RSS reading, so it does not count as growth.
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max: u64,
}

const HISTOGRAM_NS: usize = 100_000;

impl Histogram {
    fn new() -> Histogram {
        let mut buckets = vec![0u64; HISTOGRAM_NS + 1];
        for bucket in buckets.iter_mut() {
            // SAFETY: a plain write through a valid, aligned `&mut u64`; volatile only so
            // that the pages are touched now and not elided as stores of zero.
            unsafe { std::ptr::write_volatile(bucket, 0) };
        }
        Histogram {
            buckets,
            count: 0,
            max: 0,
        }
    }

    fn record(&mut self, ns: u64) {
        self.buckets[(ns as usize).min(HISTOGRAM_NS)] += 1;
        self.count += 1;
        self.max = self.max.max(ns);
    }

    fn percentile(&self, p: f64) -> u64 {
        let rank = ((self.count as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (ns, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank.max(1) {
                return ns as u64;
            }
        }
        self.max
    }
}

fn make_span() {
    let span = sgp_trace::create_span("child").input(SMALL).start();
    black_box(&span);
}

fn make_chat_span() {
    let span = sgp_trace::create_span("child")
        .input(sgp_trace_benches::chat())
        .start();
    black_box(&span);
}

/// Makes the scenario's spans, timing each one when there is a histogram. Generic, so that
/// `make_span` is called as directly as it was before there were two kinds of span.
fn spans_loop(args: &RunArgs, histogram: &mut Option<Histogram>, make_span: impl Fn()) {
    match histogram {
        Some(histogram) => {
            for _ in 0..args.spans {
                let before = Instant::now();
                make_span();
                histogram.record(before.elapsed().as_nanos() as u64);
            }
        }
        None => match args.paced {
            Some(round) => {
                for span in 1..=args.spans {
                    make_span();
                    if span % round as u64 == 0 {
                        sgp_trace::flush_queue().expect("flush");
                    }
                }
            }
            None => {
                for _ in 0..args.spans {
                    make_span();
                }
            }
        },
    }
}

fn run_scenario(args: RunArgs) -> Value {
    let mut histogram = args.latency.then(Histogram::new);
    let mut sink_counters = None;
    let mut collector = None;
    let mut builder = match args.backend.as_str() {
        "discard" => sgp_trace_benches::discarding(),
        "sink" | "slow" => {
            let delay = if args.backend == "slow" {
                Duration::from_secs(1)
            } else {
                Duration::ZERO
            };
            let (addr, counters) = start_sink(delay);
            sink_counters = Some(counters);
            Config::builder().base_url(format!("http://{addr}"))
        }
        "collector" => {
            let started = Collector::start(CollectorConfig::default()).expect("collector");
            let url = started.base_url();
            collector = Some(started);
            Config::builder().base_url(url)
        }
        "down" => Config::builder().base_url(closed_port_url()),
        other => panic!("unknown backend {other}"),
    };
    builder = builder.credentials("bench-key", ACCOUNT);
    if let Some(queue) = args.queue {
        builder = builder.queue_capacity(queue);
    }
    if let Some(batch) = args.batch {
        builder = builder.max_batch_items(batch);
    }
    if let Some(flush_at) = args.flush_at {
        builder = builder.flush_at(flush_at);
    }
    if let Some(bytes) = args.batch_bytes {
        builder = builder.max_batch_bytes(bytes);
    }
    let config = builder
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .expect("valid config");
    let guard = sgp_trace::init(config);
    let trace = sgp_trace::create_trace("export bench").start();
    // Let the export thread start, and the first request open its connection.
    sgp_trace::flush_queue().expect("first flush");
    let (rss_start, _) = rss_kib();
    let stats_start = sgp_trace::stats();
    let export_cpu_start = export_thread_cpu_ns();

    let start = Instant::now();
    if args.chat {
        spans_loop(&args, &mut histogram, make_chat_span);
    } else {
        spans_loop(&args, &mut histogram, make_span);
    }
    let loop_s = start.elapsed().as_secs_f64();
    let (rss_end, rss_peak) = rss_kib();
    let waiting_after_loop = sgp_trace::stats().waiting();

    // Outages are not flushed (that would wait for retries); the others are delivered.
    let flushed = matches!(args.backend.as_str(), "discard" | "sink" | "collector");
    if flushed {
        sgp_trace::flush_queue().expect("flush");
    }
    let total_s = start.elapsed().as_secs_f64();
    // The high-water mark by now, the flush included: the queue, and what the export thread
    // made of it while taking it.
    let (_, rss_peak_end) = rss_kib();
    let export_cpu_ns = export_thread_cpu_ns().saturating_sub(export_cpu_start);
    let stats = sgp_trace::stats();
    let events = |now: u64, then: u64| now - then;
    let enqueued = events(stats.enqueued, stats_start.enqueued);
    let exported = events(stats.exported, stats_start.exported);
    let coalesced = events(stats.coalesced, stats_start.coalesced);
    let dropped = events(stats.dropped_queue_full, stats_start.dropped_queue_full);
    let skipped = events(stats.starts_skipped, stats_start.starts_skipped);
    let mut result = json!({
        "spans": args.spans,
        "loop_s": loop_s,
        "total_s": total_s,
        "hot_path_ns_per_span": loop_s * 1e9 / args.spans as f64,
        "enqueued": enqueued,
        "exported": exported,
        "coalesced": coalesced,
        "starts_skipped": skipped,
        "dropped_queue_full": dropped,
        "dropped_other": stats.lost() - stats.dropped_queue_full,
        "waiting_after_loop": waiting_after_loop,
        "lost_events_pct": 100.0 * dropped as f64 / (2 * args.spans) as f64,
        "rss_start_mib": rss_start as f64 / 1024.0,
        "rss_end_mib": rss_end as f64 / 1024.0,
        "rss_peak_mib": rss_peak as f64 / 1024.0,
        "rss_peak_end_mib": rss_peak_end as f64 / 1024.0,
        "rss_growth_mib": (rss_end as f64 - rss_start as f64) / 1024.0,
        "span_item_bytes": std::mem::size_of::<sgp_trace::SpanItem>(),
    });
    if flushed {
        // Every span's start was sent, coalesced into its end or skipped under pressure, so
        // the exported events past the sent starts are the spans' ends: the spans delivered
        // (a dropped end is a span lost).
        let sent_starts = args.spans.saturating_sub(coalesced + skipped);
        let delivered_spans = exported.saturating_sub(sent_starts) as f64;
        result["delivered_spans_per_s"] = json!(delivered_spans / total_s);
        // What tracing costs the program beyond its own threads: the export thread's CPU
        // time for each span it delivered (encoding, and for HTTP backends, sending).
        result["export_cpu_ns_per_span"] = json!(export_cpu_ns as f64 / delivered_spans);
    }
    if let Some(histogram) = &histogram {
        result["p50_ns"] = json!(histogram.percentile(0.50));
        result["p99_ns"] = json!(histogram.percentile(0.99));
        result["p999_ns"] = json!(histogram.percentile(0.999));
        result["max_ns"] = json!(histogram.max);
    }
    if let Some(counters) = &sink_counters {
        result["sink_connections"] = json!(counters.connections.load(Ordering::Relaxed));
        result["sink_requests"] = json!(counters.requests.load(Ordering::Relaxed));
        result["sink_body_mib"] =
            json!(counters.body_bytes.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0));
    }
    drop(trace);
    if flushed {
        drop(guard);
    } else {
        // A shutdown against a dead backend waits out its timeout; the process just exits.
        std::mem::forget(guard);
    }
    if let Some(collector) = &collector {
        // The root span counts too.
        result["collector_stored_spans"] = json!(collector.spans(ACCOUNT).len() as u64 - 1);
    }
    result
}

// ---------------------------------------------------------------------------------------
// The orchestrator.

struct Scenario {
    name: &'static str,
    /// The scenario whose figures of the same round this one is divided by.
    baseline: Option<&'static str>,
    /// The figures reported.
    metrics: &'static [&'static str],
    args: RunArgs,
}

fn args(backend: &str, spans: u64) -> RunArgs {
    RunArgs {
        backend: backend.into(),
        spans,
        queue: None,
        batch: None,
        flush_at: None,
        batch_bytes: None,
        latency: false,
        paced: None,
        chat: false,
    }
}

/// The best settings found for throughput with no loss (see README.md): the default queue
/// (a smaller one loses more of a burst) with larger batches.
fn best(mut run: RunArgs) -> RunArgs {
    run.queue = Some(sgp_trace::DEFAULT_QUEUE_CAPACITY);
    run.batch = Some(1000);
    run.flush_at = Some(1000);
    run.batch_bytes = Some(1024 * 1024);
    run
}

/// Spans between two waits for the export thread in the paced scenario.
const PACED_ROUND: usize = 8192;

const THROUGHPUT: &[&str] = &[
    "delivered_spans_per_s",
    "export_cpu_ns_per_span",
    "hot_path_ns_per_span",
    "lost_events_pct",
    "rss_peak_end_mib",
    "total_s",
];
const LATENCY: &[&str] = &[
    "p50_ns",
    "p99_ns",
    "p999_ns",
    "hot_path_ns_per_span",
    "lost_events_pct",
    "rss_growth_mib",
    "rss_peak_mib",
];

fn scenarios(spans: u64) -> Vec<Scenario> {
    let latency = |backend: &str| RunArgs {
        latency: true,
        ..args(backend, 1_000_000)
    };
    vec![
        Scenario {
            name: "discard_default",
            baseline: None,
            metrics: THROUGHPUT,
            args: args("discard", spans),
        },
        Scenario {
            name: "sink_default",
            baseline: Some("discard_default"),
            metrics: THROUGHPUT,
            args: args("sink", spans),
        },
        // The export thread's own cost per span, steadier than under a flood: the loop waits
        // for it every `PACED_ROUND` spans, so the queue never fills and the work per span
        // does not change with how far behind the thread fell.
        Scenario {
            name: "discard_paced",
            baseline: Some("discard_default"),
            metrics: THROUGHPUT,
            args: RunArgs {
                paced: Some(PACED_ROUND),
                ..args("discard", spans)
            },
        },
        // The same for spans whose input is a chat: a payload that is not plain, so the
        // export thread scans it for credential keys.
        Scenario {
            name: "discard_paced_chat",
            baseline: Some("discard_paced"),
            metrics: THROUGHPUT,
            args: RunArgs {
                paced: Some(PACED_ROUND),
                chat: true,
                ..args("discard", spans)
            },
        },
        Scenario {
            name: "discard_best",
            baseline: Some("discard_default"),
            metrics: THROUGHPUT,
            args: best(args("discard", spans)),
        },
        Scenario {
            name: "sink_best",
            baseline: Some("discard_default"),
            metrics: THROUGHPUT,
            args: best(args("sink", spans)),
        },
        Scenario {
            name: "collector_default",
            baseline: Some("discard_default"),
            metrics: THROUGHPUT,
            args: args("collector", spans / 3),
        },
        Scenario {
            name: "collector_best",
            baseline: Some("discard_default"),
            metrics: THROUGHPUT,
            args: best(args("collector", spans / 3)),
        },
        Scenario {
            name: "zero_loss_100k_sink_default",
            baseline: None,
            metrics: &[
                "enqueued",
                "exported",
                "coalesced",
                "dropped_queue_full",
                "lost_events_pct",
            ],
            args: args("sink", 100_000),
        },
        Scenario {
            name: "latency_up_1m",
            baseline: None,
            metrics: LATENCY,
            args: latency("sink"),
        },
        Scenario {
            name: "latency_down_1m",
            baseline: Some("latency_up_1m"),
            metrics: LATENCY,
            args: latency("down"),
        },
        Scenario {
            name: "latency_slow_1m",
            baseline: Some("latency_up_1m"),
            metrics: LATENCY,
            args: latency("slow"),
        },
    ]
}

fn run_child(run: &RunArgs) -> Value {
    let exe = std::env::current_exe().expect("own path");
    let output = Command::new(exe)
        .arg("--run")
        .args(run.to_args())
        .output()
        .expect("run a scenario");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "scenario {:?} failed: {}\n{}",
            run,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn median_and_range(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

fn fmt(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100_000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--run") {
        let result = run_scenario(RunArgs::parse(&argv[1..]));
        println!("{result}");
        return;
    }
    let mut reps = 5;
    let mut spans = 300_000;
    let mut only: Option<String> = None;
    let mut flags = argv.iter();
    while let Some(flag) = flags.next() {
        match flag.as_str() {
            "--reps" => reps = flags.next().and_then(|v| v.parse().ok()).expect("--reps N"),
            "--spans" => {
                spans = flags
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--spans N")
            }
            "--only" => only = flags.next().cloned(),
            other => panic!("unknown flag {other} (--reps N, --spans N, --only NAME-PART)"),
        }
    }
    let scenarios: Vec<Scenario> = scenarios(spans)
        .into_iter()
        .filter(|s| only.as_deref().is_none_or(|part| s.name.contains(part)))
        .collect();
    let mut results: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for rep in 0..reps {
        for scenario in &scenarios {
            let result = run_child(&scenario.args);
            eprintln!("round {} {}: {}", rep + 1, scenario.name, result);
            results.entry(scenario.name).or_default().push(result);
        }
    }
    println!(
        "\n{reps} rounds; median [min, max]; ratio = median over rounds of (scenario / baseline of the same round)\n"
    );
    println!("| scenario | metric | median [min, max] | ratio to baseline |");
    println!("|---|---|---|---|");
    for scenario in &scenarios {
        let runs = &results[scenario.name];
        for &metric in scenario.metrics {
            let mut values: Vec<f64> = runs.iter().filter_map(|r| r[metric].as_f64()).collect();
            if values.is_empty() {
                continue;
            }
            let (median, low, high) = median_and_range(&mut values);
            let ratio = scenario
                .baseline
                .and_then(|base| results.get(base))
                .map(|base_runs| {
                    let mut ratios: Vec<f64> = runs
                        .iter()
                        .zip(base_runs)
                        .filter_map(|(r, b)| Some(r[metric].as_f64()? / b[metric].as_f64()?))
                        .filter(|ratio| ratio.is_finite())
                        .collect();
                    if ratios.is_empty() {
                        return "-".to_owned();
                    }
                    let (median, low, high) = median_and_range(&mut ratios);
                    format!(
                        "{median:.2} [{low:.2}, {high:.2}] × {}",
                        scenario.baseline.unwrap()
                    )
                })
                .unwrap_or_else(|| "-".into());
            println!(
                "| {} | {metric} | {} [{}, {}] | {ratio} |",
                scenario.name,
                fmt(median),
                fmt(low),
                fmt(high)
            );
        }
    }
    if let Some(runs) = results.get("sink_default") {
        let r = &runs[0];
        println!(
            "\nsink_default round 1: {} connections for {} requests ({} MiB of bodies)",
            r["sink_connections"], r["sink_requests"], r["sink_body_mib"]
        );
    }
}
