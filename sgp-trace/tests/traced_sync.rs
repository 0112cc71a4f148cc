//! `#[traced]` on synchronous functions, end to end through the local collector.

mod traced_common;

use serde_json::json;
use sgp_trace::{create_trace, current_span, traced};
use traced_common::{named, spans, start, tree};

#[traced]
fn leaf(x: u32) -> u32 {
    x * 2
}

#[traced(name = "middle", type = "AGENT_WORKFLOW")]
fn middle(x: u32) -> u32 {
    leaf(x) + 1
}

#[traced(name = "outer", root)]
fn outer(x: u32) -> u32 {
    middle(x) + leaf(1)
}

#[test]
fn three_deep_nesting_with_names_types_input_and_output() {
    let harness = start();
    assert_eq!(outer(5), 13);
    assert_eq!(current_span(), None);
    let spans = spans(&harness);
    assert_eq!(
        tree(&spans),
        "outer [SUCCESS]\n  middle [SUCCESS]\n    traced_sync::leaf [SUCCESS]\n  traced_sync::leaf [SUCCESS]\n"
    );
    let outer = named(&spans, "outer");
    assert_eq!(outer["type"], "TRACER");
    assert_eq!(outer["input"], json!({"x": 5}));
    assert_eq!(outer["output"], json!({"value": 13}));
    let middle = named(&spans, "middle");
    assert_eq!(middle["type"], "AGENT_WORKFLOW");
    assert_eq!(middle["output"], json!({"value": 11}));
}

#[test]
fn without_a_trace_in_scope_nothing_is_recorded() {
    let harness = start();
    assert_eq!(middle(1), 3);
    let trace = create_trace("t").start();
    assert_eq!(leaf(2), 4);
    drop(trace);
    assert_eq!(
        tree(&spans(&harness)),
        "t [SUCCESS]\n  traced_sync::leaf [SUCCESS]\n"
    );
}
