//! What the end-to-end tests share: a collector on 127.0.0.1 with the runtime pointed at it,
//! and readers for the span trees it stored.
//!
//! Tests run under cargo-nextest, one process per test, because the tracing runtime is
//! process-wide.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sgp_trace::{ConfigBuilder, TracingGuard};
use sgp_trace_collector::{Collector, CollectorConfig};

/// The account every test writes as.
pub const ACCOUNT: &str = "test-account";

/// The API key every test sends.
pub const API_KEY: &str = "test-key";

/// A running collector and the runtime exporting to it.
pub struct Harness {
    /// The runtime's guard, dropped first so its last flush still reaches the collector;
    /// `None` once a test shut it down itself.
    pub guard: Option<TracingGuard>,
    /// The collector.
    pub collector: Collector,
}

impl Harness {
    /// Starts a collector and `init`s the runtime with `configure` applied to a config that
    /// points at it. The default flush interval is long, so only a test's own flush (or
    /// trigger) sends.
    pub fn start(configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Harness {
        Harness::with_collector(CollectorConfig::default(), configure)
    }

    /// Like [`Harness::start`] with a collector configured by the test.
    pub fn with_collector(
        collector: CollectorConfig,
        configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    ) -> Harness {
        let collector = Collector::start(collector).expect("the collector starts");
        let builder = sgp_trace::Config::builder()
            .base_url(collector.base_url())
            .credentials(API_KEY, ACCOUNT)
            .flush_interval(Duration::from_secs(60))
            .backoff(Duration::from_millis(20), Duration::from_millis(200));
        let config = configure(builder).build().expect("a valid test config");
        let guard = sgp_trace::init(config);
        Harness {
            collector,
            guard: Some(guard),
        }
    }

    /// Flushes, then returns the stored spans of the test account by name.
    pub fn flushed_spans(&self) -> BTreeMap<String, Value> {
        by_name(self.collector_spans())
    }

    /// Flushes, then returns the stored spans of the test account, names repeated or not.
    pub fn collector_spans(&self) -> Vec<Value> {
        sgp_trace::flush_queue_within(Duration::from_secs(20)).expect("flush finishes");
        self.collector.spans(ACCOUNT)
    }
}

/// Spans keyed by name; names are unique within a test.
pub fn by_name(spans: Vec<Value>) -> BTreeMap<String, Value> {
    let mut named = BTreeMap::new();
    for span in spans {
        let name = span["name"].as_str().expect("a span has a name").to_owned();
        assert!(
            named.insert(name.clone(), span).is_none(),
            "two spans named {name}"
        );
    }
    named
}

/// The tree of stored spans as indented `name [STATUS]` lines, siblings by name, checking on
/// the way that every span is in its parent's trace.
pub fn tree(spans: &BTreeMap<String, Value>) -> String {
    tree_of(spans.values())
}

/// Like [`tree`], for spans whose names repeat.
pub fn tree_of<'a>(spans: impl IntoIterator<Item = &'a Value>) -> String {
    render(spans, |span| {
        (span["name"].as_str().unwrap_or_default(), "")
    })
}

/// Like [`tree_of`], with siblings in start order (then by name), for tests that check the
/// order in which work ran.
pub fn tree_in_start_order<'a>(spans: impl IntoIterator<Item = &'a Value>) -> String {
    render(spans, |span| {
        (
            span["start_timestamp"].as_str().unwrap_or_default(),
            span["name"].as_str().unwrap_or_default(),
        )
    })
}

fn render<'a>(
    spans: impl IntoIterator<Item = &'a Value>,
    order: impl Fn(&'a Value) -> (&'a str, &'a str),
) -> String {
    let mut children: BTreeMap<Option<&str>, Vec<&Value>> = BTreeMap::new();
    for span in spans {
        children
            .entry(span["parent_id"].as_str())
            .or_default()
            .push(span);
    }
    for list in children.values_mut() {
        list.sort_by_key(|span| order(span));
    }
    let mut out = String::new();
    let roots = children.get(&None).cloned().unwrap_or_default();
    for root in roots {
        write_tree(root, &children, 0, &mut out);
    }
    out
}

fn write_tree(
    span: &Value,
    children: &BTreeMap<Option<&str>, Vec<&Value>>,
    depth: usize,
    out: &mut String,
) {
    let status = span["status"].as_str().unwrap_or("RUNNING");
    out.push_str(&format!(
        "{}{} [{status}]\n",
        "  ".repeat(depth),
        span["name"].as_str().unwrap_or("?")
    ));
    for child in children.get(&span["id"].as_str()).into_iter().flatten() {
        assert_eq!(
            child["trace_id"], span["trace_id"],
            "a child is in its parent's trace"
        );
        write_tree(child, children, depth + 1, out);
    }
}
