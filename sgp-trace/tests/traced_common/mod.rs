//! What the `traced_*` tests share: the collector harness, and span trees that allow
//! repeated names (a traced function called twice makes two spans of one name).

#![allow(dead_code)]

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
    sgp_trace_tests::tree_in_start_order(spans)
}
