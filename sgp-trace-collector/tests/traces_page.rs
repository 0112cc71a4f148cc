//! The traces page in headless Chromium: a stored trace is loaded and its span
//! tree, running span, error and span view must be rendered. Screenshots are
//! kept under `artifacts/` at the workspace root (gitignored).
//!
//! Needs Debian's `chromium` on PATH (or `CHROMIUM=/path/to/chrome`); CI
//! installs it (`apt-get install -y chromium`). Without it the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sgp_trace_collector::{Collector, CollectorConfig};

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// Runs headless Chromium on `url` with `extra` arguments and a fresh profile.
fn run_chromium(url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let user_data = format!("--user-data-dir={}", profile.path().display());
    let mut args = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
        user_data.as_str(),
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let out = Command::new(chromium()).args(&args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{}` ({e}): install Debian's chromium (apt-get install -y chromium) or set CHROMIUM",
            chromium()
        )
    });
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn screenshot(url: &str, name: &str) -> PathBuf {
    let path = artifacts().join(name);
    let _ = std::fs::remove_file(&path);
    let arg = format!("--screenshot={}", path.display());
    run_chromium(url, &[arg.as_str(), "--window-size=1400,900"]);
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    assert!(
        bytes.len() > 10_000,
        "the screenshot is suspiciously small ({} bytes)",
        bytes.len()
    );
    path
}

/// The element whose `data-span-id` is `id`, as the opening tag's text.
fn row<'a>(dom: &'a str, id: &str) -> &'a str {
    let needle = format!("data-span-id=\"{id}\"");
    let at = dom
        .find(&needle)
        .unwrap_or_else(|| panic!("no tree row for span {id}"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

fn span(id: &str, parent: Option<&str>, name: &str, start: u32, end: Option<u32>) -> Value {
    let ts = |ms: u32| format!("2024-05-01T10:00:{:02}.{:03}Z", ms / 1000, ms % 1000);
    let mut v =
        json!({"trace_id": "trace-page-1", "id": id, "name": name, "start_timestamp": ts(start)});
    if let Some(p) = parent {
        v["parent_id"] = json!(p);
    }
    if let Some(e) = end {
        v["end_timestamp"] = json!(ts(e));
        v["status"] = json!("SUCCESS");
    }
    v
}

#[test]
fn the_traces_page_renders_a_stored_trace() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let mut retrieve = span(
        "retrieve",
        Some("root"),
        "retrieve documents",
        300,
        Some(900),
    );
    retrieve["status"] = json!("ERROR");
    retrieve["type"] = json!("KB_RETRIEVAL");
    retrieve["metadata"] = json!({"error": true, "error_type": "TimeoutError", "error_message": "the index did not answer", "error_category": "platform"});
    let mut root = span("root", None, "agent run", 0, Some(2000));
    root["input"] = json!({"question": "What is the capital of France?"});
    root["output"] = json!({"answer": "Paris"});
    let items = vec![
        root,
        span("plan", Some("root"), "plan", 50, Some(250)),
        span("tool", Some("plan"), "tool call", 100, Some(200)),
        retrieve,
        span("generate", Some("root"), "generate answer", 1000, None),
    ];
    let mut other = span("other-root", None, "second trace", 5000, Some(5100));
    other["trace_id"] = json!("trace-page-2");
    let agent = ureq::Agent::new_with_defaults();
    for batch in [items, vec![other]] {
        agent
            .put(format!("{}/v5/spans/batch", collector.base_url()))
            .header("x-api-key", "k")
            .header("x-selected-account-id", "page-account")
            .send_json(json!({ "items": batch }))
            .unwrap();
    }

    // The trace view: the tree with its nesting, the running span and the span view.
    let url = format!(
        "{}/?account=page-account#/trace/trace-page-1",
        collector.base_url()
    );
    let dom = run_chromium(&url, &["--dump-dom"]);
    assert!(
        dom.contains("data-loaded=\"trace\""),
        "the trace view did not finish loading:\n{dom}"
    );
    assert!(row(&dom, "root").contains("data-depth=\"0\""));
    assert!(row(&dom, "plan").contains("data-depth=\"1\""));
    assert!(row(&dom, "tool").contains("data-depth=\"2\""));
    assert!(row(&dom, "retrieve").contains("data-depth=\"1\""));
    assert!(row(&dom, "generate").contains("data-running=\"true\""));
    assert!(row(&dom, "root").contains("data-running=\"false\""));
    let order: Vec<usize> = ["root", "plan", "tool", "retrieve", "generate"]
        .iter()
        .map(|id| dom.find(&format!("data-span-id=\"{id}\"")).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "rows are in tree order"
    );
    assert!(
        dom.contains(">running<"),
        "the running span is marked running"
    );
    assert!(dom.contains("agent run (5 spans)"));
    assert!(
        dom.contains("What is the capital of France?"),
        "the root's input is shown"
    );
    let shot = screenshot(&url, "traces-page-trace.png");
    println!("screenshot: {}", shot.display());

    // A collapsed span (kept in the URL) hides its subtree, and only that.
    let url = format!(
        "{}/?account=page-account#/trace/trace-page-1?collapsed=plan",
        collector.base_url()
    );
    let dom = run_chromium(&url, &["--dump-dom"]);
    assert!(
        dom.contains("data-loaded=\"trace\""),
        "the collapsed trace did not load:\n{dom}"
    );
    assert!(row(&dom, "plan").contains("aria-expanded=\"false\""));
    assert!(
        row(&dom, "tool").contains("hidden"),
        "the collapsed span's child is hidden"
    );
    assert!(!row(&dom, "retrieve").contains("hidden"));
    assert!(row(&dom, "root").contains("aria-expanded=\"true\""));

    // The span view of the failed span shows its error.
    let url = format!(
        "{}/?account=page-account#/trace/trace-page-1/retrieve",
        collector.base_url()
    );
    let dom = run_chromium(&url, &["--dump-dom"]);
    assert!(
        dom.contains("TimeoutError: the index did not answer"),
        "the error is shown:\n{dom}"
    );
    assert!(row(&dom, "retrieve").contains("selected"));
    screenshot(&url, "traces-page-span.png");

    // The traces list: both traces, newest first, the running one not marked failed.
    let url = format!("{}/?account=page-account#/", collector.base_url());
    let dom = run_chromium(&url, &["--dump-dom"]);
    assert!(
        dom.contains("data-loaded=\"list\""),
        "the list did not finish loading:\n{dom}"
    );
    let first = dom
        .find("data-trace-id=\"trace-page-2\"")
        .expect("second trace listed");
    let second = dom
        .find("data-trace-id=\"trace-page-1\"")
        .expect("first trace listed");
    assert!(first < second, "newest trace first");
    assert!(dom.contains("5 (1 running)"));
    screenshot(&url, "traces-page-list.png");
}
