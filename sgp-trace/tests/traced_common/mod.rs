//! What the `traced_*` tests share: the collector harness, and span trees that allow
//! repeated names (a traced function called twice makes two spans of one name).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
pub use sgp_trace_tests::Harness;
use sgp_trace_tests::ACCOUNT;

/// Starts a collector and points the runtime at it.
pub fn start() -> Harness {
    Harness::start(|config| config)
}

/// Flushes, then returns every stored span of the test account.
pub fn spans(harness: &Harness) -> Vec<Value> {
    sgp_trace::flush_queue_within(Duration::from_secs(20)).expect("flush finishes");
    harness.collector.spans(ACCOUNT)
}

/// The one span with this name.
pub fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    let mut found = spans.iter().filter(|span| span["name"] == name);
    let span = found
        .next()
        .unwrap_or_else(|| panic!("no span named {name} in {spans:#?}"));
    assert!(found.next().is_none(), "two spans named {name}");
    span
}

/// The tree of spans as indented `name [STATUS]` lines, children in start order (then by
/// name), checking that each child is in its parent's trace.
pub fn tree(spans: &[Value]) -> String {
    let mut children: BTreeMap<Option<&str>, Vec<&Value>> = BTreeMap::new();
    for span in spans {
        children
            .entry(span["parent_id"].as_str())
            .or_default()
            .push(span);
    }
    for list in children.values_mut() {
        list.sort_by_key(|span| {
            (
                span["start_timestamp"].as_str().unwrap_or_default(),
                span["name"].as_str(),
            )
        });
    }
    let mut out = String::new();
    for root in children.get(&None).cloned().unwrap_or_default() {
        write(root, &children, 0, &mut out);
    }
    out
}

fn write(
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
        write(child, children, depth + 1, out);
    }
}
