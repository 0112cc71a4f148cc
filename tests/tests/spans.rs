//! Spans as they arrive on the server: the tree, the ids, the events and their payloads.

use std::time::Duration;

use serde_json::json;
use sgp_trace::{
    create_span, create_trace, current_span, current_trace, Id, SpanContext, SpanType,
};
use sgp_trace_tests::{by_name, tree, Harness, ACCOUNT};

#[test]
fn nested_spans_form_one_tree_with_the_right_ids_and_types() {
    let harness = Harness::start(|config| config);
    let trace = create_trace("request")
        .input(&json!({"question": "why?"}))
        .start();
    let trace_context = trace.context().unwrap();
    {
        let plan = create_span("plan")
            .span_type(SpanType::AgentWorkflow)
            .start();
        assert_eq!(current_span(), plan.context());
        assert_eq!(current_trace(), Some(trace_context.clone()));
        let mut llm = create_span("llm")
            .span_type(SpanType::Completion)
            .input(&"prompt")
            .start();
        llm.set_output(&json!({"text": "because"}));
    }
    let _tool = create_span("tool").start();
    drop(_tool);
    drop(trace);
    let spans = harness.flushed_spans();

    assert_eq!(
        tree(&spans),
        "request [SUCCESS]\n  plan [SUCCESS]\n    llm [SUCCESS]\n  tool [SUCCESS]\n"
    );
    let trace_id = trace_context.trace_id.to_string();
    for span in spans.values() {
        assert_eq!(span["trace_id"], trace_id.as_str());
        assert!(
            span["end_timestamp"].as_str().unwrap() >= span["start_timestamp"].as_str().unwrap()
        );
    }
    assert_eq!(
        spans["request"]["id"],
        trace_context.span_id.to_string().as_str()
    );
    assert!(spans["request"]
        .get("parent_id")
        .is_none_or(|parent| parent.is_null()));
    assert_eq!(spans["request"]["type"], "TRACER");
    assert_eq!(spans["plan"]["type"], "AGENT_WORKFLOW");
    assert_eq!(spans["tool"]["type"], "STANDALONE");
    assert_eq!(spans["request"]["input"], json!({"question": "why?"}));
    assert_eq!(spans["llm"]["input"], json!({"value": "prompt"}));
    assert_eq!(spans["llm"]["output"], json!({"text": "because"}));
    assert_eq!(current_span(), None);
}

#[test]
fn a_span_with_no_trace_in_scope_is_a_noop() {
    let harness = Harness::start(|config| config);
    let orphan = create_span("orphan").start();
    assert!(!orphan.is_recording());
    assert_eq!(orphan.context(), None);
    drop(orphan);
    assert!(harness.flushed_spans().is_empty());
    assert!(harness.collector.requests().is_empty(), "nothing was sent");
}

#[test]
fn a_builder_decides_whether_it_records_when_it_is_made() {
    let harness = Harness::start(|config| config);
    let made_before = create_span("made before the trace");
    let trace = create_trace("trace").start();
    let made_before = made_before.input(&"never serialized").start();
    assert!(!made_before.is_recording());
    drop(made_before);
    let parent = trace.context().unwrap();
    drop(trace);
    // Giving a parent decides again, with no span current.
    let adopted = create_span("adopted").parent(parent).input(&"kept").start();
    assert!(adopted.is_recording());
    drop(adopted);

    let spans = harness.flushed_spans();
    assert_eq!(tree(&spans), "trace [SUCCESS]\n  adopted [SUCCESS]\n");
    assert_eq!(
        spans["adopted"]["input"],
        serde_json::json!({"value": "kept"})
    );
}

#[test]
fn explicit_ids_parent_and_group_are_used() {
    let harness = Harness::start(|config| config);
    let trace_id = Id::new("trace-explicit").unwrap();
    let group = Id::new("group-7").unwrap();
    let root = create_trace("root")
        .trace_id(trace_id.clone())
        .span_id(Id::new("root-span").unwrap())
        .group_id(group.clone())
        .start();
    let remote_parent = root.context().unwrap();
    drop(root);
    // Continue the trace as another worker would, from the serialized context only.
    let wire = serde_json::to_string(&remote_parent).unwrap();
    let parent: SpanContext = serde_json::from_str(&wire).unwrap();
    let child = create_span("continued").parent(parent).start();
    let grandchild = create_span("inherits").start();
    drop(grandchild);
    drop(child);
    let top_level = create_span("top level").trace_id(trace_id.clone()).start();
    drop(top_level);

    let spans = harness.flushed_spans();
    assert_eq!(
        tree(&spans),
        "root [SUCCESS]\n  continued [SUCCESS]\n    inherits [SUCCESS]\ntop level [SUCCESS]\n"
    );
    assert_eq!(spans["root"]["id"], "root-span");
    for name in ["root", "continued", "inherits"] {
        assert_eq!(spans[name]["trace_id"], "trace-explicit");
        assert_eq!(spans[name]["group_id"], "group-7", "{name} is in the group");
    }
    assert_eq!(spans["top level"]["trace_id"], "trace-explicit");
}

#[test]
fn a_running_span_is_sent_at_start_and_completed_at_end() {
    let harness = Harness::start(|config| config);
    let trace = create_trace("long job").input(&"v1").start();
    let spans = harness.flushed_spans();
    let running = &spans["long job"];
    assert!(
        running.get("end_timestamp").is_none_or(|end| end.is_null()),
        "{running}"
    );
    assert!(
        running.get("status").is_none_or(|status| status.is_null()),
        "{running}"
    );

    drop(trace);
    let spans = harness.flushed_spans();
    assert_eq!(spans["long job"]["status"], "SUCCESS");
    assert!(spans["long job"]["end_timestamp"].is_string());
    let items: Vec<_> = harness
        .collector
        .requests()
        .iter()
        .filter_map(|r| r.item_count)
        .collect();
    assert_eq!(items, [1, 1], "one start event, then one end event");
}

#[test]
fn start_and_end_waiting_together_are_sent_once() {
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("quick").start();
        for index in 0..9 {
            let _span = create_span(format!("step {index}")).start();
        }
    }
    let spans = harness.flushed_spans();
    assert_eq!(spans.len(), 10);
    let sent: usize = harness
        .collector
        .requests()
        .iter()
        .filter_map(|r| r.item_count)
        .sum();
    assert_eq!(sent, 10, "only the final state of each span is sent");
    let stats = sgp_trace::stats();
    assert_eq!(stats.enqueued, 20);
    assert_eq!(stats.coalesced, 10);
    assert_eq!(stats.exported, 10);
    assert_eq!(stats.waiting(), 0);
    assert_eq!(stats.lost(), 0);
}

#[test]
fn input_changed_after_start_reaches_the_server() {
    let harness = Harness::start(|config| config);
    let mut trace = create_trace("edited").input(&"first draft").start();
    // The start event with the first input leaves before the change.
    sgp_trace::flush_queue().unwrap();
    trace.set_input(&json!({"prompt": "final"}));
    trace.set_metadata("model", &"m-1");
    drop(trace);
    let spans = harness.flushed_spans();
    assert_eq!(spans["edited"]["input"], json!({"prompt": "final"}));
    assert_eq!(spans["edited"]["metadata"]["model"], "m-1");
}

#[test]
fn errors_are_recorded_with_the_python_sdk_fields() {
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("job").start();
        let mut step = create_span("failing step").start();
        step.set_error("std::io::Error", "disk full", "platform");
    }
    let spans = harness.flushed_spans();
    let step = &spans["failing step"];
    assert_eq!(step["status"], "ERROR");
    assert_eq!(
        step["metadata"],
        json!({"error": true, "error_type": "std::io::Error", "error_message": "disk full", "error_category": "platform"})
    );
}

#[test]
fn values_that_cannot_become_json_do_not_stop_later_spans() {
    struct Refuses;
    impl serde::Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("this value refuses"))
        }
    }
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("job").input(&Refuses).start();
        let mut tuple_keys = std::collections::HashMap::new();
        tuple_keys.insert((1, 2), "x");
        let _bad = create_span("tuple keys")
            .input(&tuple_keys)
            .output(&f64::NAN)
            .start();
    }
    sgp_trace::flush_queue().unwrap();
    {
        let _later = create_trace("later").input(&"fine").start();
    }
    let spans = harness.flushed_spans();
    assert_eq!(
        spans["job"]["input"],
        json!({"serialization_error": "this value refuses"})
    );
    assert!(spans["tuple keys"]["input"]["serialization_error"].is_string());
    assert_eq!(spans["tuple keys"]["output"], json!({"value": null}));
    assert_eq!(spans["later"]["input"], json!({"value": "fine"}));
    let _ = ACCOUNT;
}

#[test]
fn spans_ended_on_other_threads_keep_their_place() {
    let harness = Harness::start(|config| config);
    let trace = create_trace("fan out").start();
    let handles: Vec<_> = (0..4)
        .map(|index| {
            let span = create_span(format!("worker {index}")).start_detached();
            std::thread::spawn(move || {
                let _entered = span.enter();
                let _inner = create_span(format!("inner {index}")).start();
                std::thread::sleep(Duration::from_millis(5));
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    drop(trace);
    let spans = harness.flushed_spans();
    let tree = tree(&spans);
    assert!(tree.starts_with("fan out [SUCCESS]\n"), "{tree}");
    for index in 0..4 {
        assert!(
            tree.contains(&format!(
                "  worker {index} [SUCCESS]\n    inner {index} [SUCCESS]\n"
            )),
            "{tree}"
        );
    }
    assert_eq!(by_name(harness.collector.spans(ACCOUNT)).len(), 9);
}

#[test]
fn spans_carry_the_ids_of_the_opentelemetry_span_they_ran_in() {
    fn ids() -> Option<sgp_trace::ObservabilityIds> {
        Some(sgp_trace::ObservabilityIds {
            trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
            span_id: 0x00f067aa0ba902b7,
        })
    }
    let harness = Harness::start(|config| config);
    assert!(sgp_trace::set_observability_provider(ids));
    {
        let _trace = create_trace("correlated").start();
    }
    let spans = harness.flushed_spans();
    assert_eq!(
        spans["correlated"]["obs_trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(spans["correlated"]["obs_span_id"], "00f067aa0ba902b7");
}
