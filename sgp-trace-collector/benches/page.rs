//! The traces page at scale, in headless Chromium (driven as the page test
//! drives it, `tests/browser`): opening a trace of 10 000 spans, and paging a
//! list of 100 000 traces, each against a small baseline measured in the same
//! run.
//!
//! Run: `cargo bench -p sgp-trace-collector --bench page` (needs Debian's
//! `chromium`, or `CHROMIUM=...`). `SGP_BENCH_RUNS` sets the runs per figure
//! (default 5; the median is printed).
//!
//! "open" is the wall time from the navigation to the page marking itself
//! loaded (`body[data-loaded]`): fetching the spans, building the tree,
//! rendering every row and placing every duration label. The list figures
//! time one `/ui/api/traces` answer over HTTP (200 rows with their span,
//! running and error counts), and opening the list page on it.
//!
//! The figures of the last run are in the crate README.

#[path = "../tests/browser/mod.rs"]
mod browser;

use std::time::{Duration, Instant};

use browser::Browser;
use serde_json::{json, Value};
use sgp_trace_collector::{Collector, CollectorConfig};

fn timestamp(us: u64) -> String {
    let secs = us / 1_000_000;
    format!(
        "2024-05-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        1 + secs / 86_400,
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        us % 1_000_000
    )
}

fn put(collector: &Collector, account: &str, items: &[Value]) {
    for batch in items.chunks(1000) {
        ureq::put(format!("{}/v5/spans/batch", collector.base_url()))
            .header("x-api-key", "k")
            .header("x-selected-account-id", account)
            .send_json(json!({ "items": batch }))
            .unwrap();
    }
}

/// A trace of `n` spans: a root, 100 agents under it, the rest spread
/// under the agents, each 1 ms after the one before.
fn trace(id: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let parent = match i {
                0 => None,
                1..=100 => Some("s0".to_owned()),
                _ => Some(format!("s{}", 1 + i % 100)),
            };
            let mut v = json!({"trace_id": id, "id": format!("s{i}"), "name": format!("step {i}"),
                "type": if i % 7 == 0 { "COMPLETION" } else { "CUSTOM" },
                "start_timestamp": timestamp(i as u64 * 1000),
                "end_timestamp": timestamp(i as u64 * 1000 + 500 + (i as u64 % 13) * 100),
                "status": "SUCCESS", "input": {"i": i}, "metadata": {"k": i % 5}});
            if let Some(p) = parent {
                v["parent_id"] = json!(p);
            }
            if i == 0 {
                v["end_timestamp"] = json!(timestamp(n as u64 * 1000 + 1000));
            }
            v
        })
        .collect()
}

/// `n` one-span traces, one a second.
fn roots(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"trace_id": format!("t{i:06}"), "id": "root", "name": "job",
                "start_timestamp": timestamp(i as u64 * 1_000_000),
                "end_timestamp": timestamp(i as u64 * 1_000_000 + (i as u64 * 7919) % 900_000),
                "status": "SUCCESS", "metadata": {"team": i % 10}})
        })
        .collect()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn runs() -> usize {
    std::env::var("SGP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// Median wall time of opening `url` until the page says `view` loaded.
fn time_open(browser: &mut Browser, url: &str, view: &str) -> Duration {
    median(
        (0..runs())
            .map(|_| {
                browser.blank();
                let t = Instant::now();
                browser.open(url, view);
                t.elapsed()
            })
            .collect(),
    )
}

/// Median wall time of one GET, and its JSON.
fn time_get(url: &str) -> (Duration, Value) {
    let mut last = Value::Null;
    let times = (0..runs())
        .map(|_| {
            let t = Instant::now();
            last = ureq::get(url)
                .call()
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap();
            t.elapsed()
        })
        .collect();
    (median(times), last)
}

fn row(what: &str, base: Duration, scaled: Duration) {
    println!(
        "{what:<32} baseline {:>8.1} ms   at scale {:>8.1} ms   ratio {:>6.2}",
        base.as_secs_f64() * 1e3,
        scaled.as_secs_f64() * 1e3,
        scaled.as_secs_f64() / base.as_secs_f64()
    );
}

fn main() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let base = collector.base_url();
    put(&collector, "big-trace", &trace("big", 10_000));
    put(&collector, "big-trace", &trace("small", 10));
    put(&collector, "many", &roots(100_000));
    put(&collector, "few", &roots(1_000));

    let mut browser = Browser::launch(1400, 900);
    let small = time_open(
        &mut browser,
        &format!("{base}/?account=big-trace#/trace/small"),
        "trace",
    );
    let big = time_open(
        &mut browser,
        &format!("{base}/?account=big-trace#/trace/big"),
        "trace",
    );
    let rows = browser.eval("document.querySelectorAll('#tree .span-row').length");
    assert_eq!(rows, 10_000, "every span has its row");
    row("open a trace (10 vs 10 000 spans)", small, big);

    let list = |account: &str, q: &str| format!("{base}/ui/api/traces?account={account}{q}");
    let (few_first, _) = time_get(&list("few", ""));
    let (many_first, first) = time_get(&list("many", ""));
    assert_eq!(first["items"].as_array().unwrap().len(), 200);
    row("list, first page by start", few_first, many_first);

    // Walk 100 pages (20 000 traces) by cursor, then time the next one.
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    for _ in 0..99 {
        let page: Value = ureq::get(list("many", &format!("&after={cursor}")))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
    }
    let (deep, page) = time_get(&list("many", &format!("&after={cursor}")));
    assert_eq!(
        page["items"][0]["root"]["trace_id"],
        format!("t{:06}", 100_000 - 20_001)
    );
    row("list, page 101 by cursor", few_first, deep);

    let (few_dur, _) = time_get(&list("few", "&sort=duration"));
    let (many_dur, _) = time_get(&list("many", "&sort=duration"));
    row("list, first page by duration", few_dur, many_dur);

    let few_page = time_open(&mut browser, &format!("{base}/?account=few#/"), "list");
    let many_page = time_open(&mut browser, &format!("{base}/?account=many#/"), "list");
    row("open the list page", few_page, many_page);
}
