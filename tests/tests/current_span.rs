//! Annotating the span you are in (`with_current_span`), whoever made it, and spans that
//! record how their work ended (`in_scope`, `instrument`, panics through guards), as they
//! arrive on the server.

use std::time::Duration;

use serde_json::json;
use sgp_trace::llm::{ChatMessage, LlmSpanExt, TokenUsage};
use sgp_trace::propagate::Propagate;
use sgp_trace::{create_span, create_trace, traced, with_current_span, SpanType};
use sgp_trace_tests::Harness;

#[traced(name = "complete", type = "COMPLETION")]
fn complete(prompt: &str) -> String {
    let answer = format!("echo: {prompt}");
    with_current_span(|span| {
        span.set_llm_model("echo-1");
        span.set_llm_usage(TokenUsage::new(3, 4));
        span.set_llm_finish_reason("stop");
    })
    .expect("a #[traced] span is current");
    answer
}

#[traced(name = "fetch")]
async fn fetch(id: u32) -> u32 {
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        tokio::task::yield_now().await;
    }
    with_current_span(|span| span.set_metadata("fetched", &id)).expect("inside the async fn");
    id * 2
}

/// A multi-thread runtime, so that tasks move between workers across awaits.
fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_traced_function_annotates_its_own_span() {
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("chat").start();
        assert_eq!(complete("hi"), "echo: hi");
    }
    let spans = harness.flushed_spans();
    let span = &spans["complete"];
    assert_eq!(span["type"], "COMPLETION");
    assert_eq!(span["input"], json!({"prompt": "hi"}));
    assert_eq!(span["output"], json!({"value": "echo: hi"}));
    let metadata = &span["metadata"];
    assert_eq!(metadata["llm.model"], "echo-1");
    assert_eq!(metadata["llm.usage.prompt"], 3);
    assert_eq!(metadata["llm.usage.completion"], 4);
    assert_eq!(metadata["llm.usage.total"], 7);
    assert_eq!(metadata["llm.finish_reason"], "stop");
    assert_eq!(metadata["llm.operation"], "chat");
    assert!(spans["chat"]["metadata"].get("llm.model").is_none());
}

#[test]
fn an_async_traced_function_annotates_its_span_after_awaits_on_any_worker() {
    let harness = Harness::start(|config| config);
    let runtime = two_workers();
    runtime.block_on(async {
        let trace = create_trace("jobs").start_detached();
        let _entered = trace.enter();
        let tasks: Vec<_> = (0..4)
            .map(|id| tokio::spawn(fetch(id).propagate()))
            .collect();
        for (id, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), id as u32 * 2);
        }
    });
    let spans = harness.collector_spans();
    let fetched: Vec<_> = spans
        .iter()
        .filter(|span| span["name"] == "fetch")
        .map(|span| {
            (
                span["input"]["id"].clone(),
                span["metadata"]["fetched"].clone(),
            )
        })
        .collect();
    assert_eq!(fetched.len(), 4);
    assert!(fetched.iter().all(|(input, fetched)| input == fetched));
}

#[test]
fn guards_and_entered_spans_are_annotated_innermost_first() {
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("outer").start();
        with_current_span(|span| span.set_metadata("level", &"outer")).unwrap();
        {
            let _inner = create_span("inner").start();
            with_current_span(|span| span.set_metadata("level", &"inner")).unwrap();
        }
        let detached = create_span("detached").start_detached();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _entered = detached.enter();
                with_current_span(|span| {
                    span.set_output(&"from another thread");
                    span.set_status(sgp_trace::SpanStatus::Canceled);
                })
                .unwrap();
            });
        });
        drop(detached);
    }
    let spans = harness.flushed_spans();
    assert_eq!(spans["outer"]["metadata"]["level"], "outer");
    assert_eq!(spans["inner"]["metadata"]["level"], "inner");
    assert_eq!(
        spans["detached"]["output"],
        json!({"value": "from another thread"})
    );
    assert_eq!(spans["detached"]["status"], "CANCELED");
}

#[test]
fn annotations_reach_a_span_whose_start_was_already_sent() {
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("long").start();
        // The start goes out while the span runs; what is set afterwards arrives with its end.
        sgp_trace::flush_queue().unwrap();
        let running = harness.collector_spans();
        assert_eq!(running.len(), 1, "{running:?}");
        assert!(running[0]["end_timestamp"].is_null());
        with_current_span(|span| {
            span.set_llm_messages(&[
                ChatMessage::new("system", "Be brief."),
                ChatMessage::new("user", "What is SGP?"),
            ]);
            span.set_llm_response("A platform.");
            span.set_error("Timeout", "the model took too long", "infrastructure");
        })
        .unwrap();
    }
    let spans = harness.flushed_spans();
    let span = &spans["long"];
    assert_eq!(
        span["input"],
        json!({"messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is SGP?"}
        ]})
    );
    assert_eq!(span["output"], json!({"response": "A platform."}));
    assert_eq!(span["status"], "ERROR");
    assert_eq!(span["metadata"]["error_type"], "Timeout");
    assert_eq!(span["metadata"]["error_category"], "infrastructure");
}

#[test]
fn a_future_moved_to_another_task_with_propagate_annotates_the_span_it_left() {
    let harness = Harness::start(|config| config);
    let runtime = two_workers();
    {
        let _trace = create_trace("request").start();
        let _guard = create_span("plan").start();
        let moved = async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            with_current_span(|span| {
                span.set_metadata("step", &"planned on another task");
                span.set_llm_model("planner-1");
            })
        }
        .propagate();
        let annotated = runtime.block_on(async { tokio::spawn(moved).await.unwrap() });
        assert_eq!(annotated, Some(()), "the span is still running");
    }
    let spans = harness.flushed_spans();
    let metadata = &spans["plan"]["metadata"];
    assert_eq!(metadata["step"], "planned on another task");
    assert_eq!(metadata["llm.model"], "planner-1");
    assert!(
        spans["request"]["metadata"].get("step").is_none(),
        "the innermost only"
    );
}

#[test]
fn no_recording_span_gives_none_and_calls_nothing() {
    let harness = Harness::start(|config| config);
    let mut called = false;
    assert_eq!(with_current_span(|_| called = true), None);
    // A context from elsewhere is continued, not recorded here.
    let remote = sgp_trace::SpanContext {
        trace_id: sgp_trace::Id::random(),
        span_id: sgp_trace::Id::random(),
        group_id: None,
    };
    {
        let _attached = remote.attach();
        assert_eq!(with_current_span(|_| called = true), None);
    }
    // A span that ended is not reached through a context carried past it.
    let carried = {
        let _trace = create_trace("ended").start();
        async { with_current_span(|_| ()) }.propagate()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(carried), None);
    assert!(!called);
    assert_eq!(harness.flushed_spans().len(), 1);
}

#[test]
fn a_closure_that_panics_leaves_the_span_to_end_once() {
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("survives").start();
        let panicked = std::panic::catch_unwind(|| {
            with_current_span(|span| {
                span.set_metadata("before", &1);
                panic!("inside the closure");
            })
        });
        assert!(panicked.is_err());
        with_current_span(|span| span.set_metadata("after", &2)).unwrap();
    }
    let spans = harness.flushed_spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans["survives"]["metadata"]["before"], 1);
    assert_eq!(spans["survives"]["metadata"]["after"], 2);
    assert_eq!(spans["survives"]["status"], "SUCCESS");
}

#[test]
fn a_panic_through_a_guard_or_an_entered_span_ends_it_failed() {
    let harness = Harness::start(|config| config);
    let _trace = create_trace("panics").start_detached();
    let _entered = _trace.enter();
    let through_guard = std::panic::catch_unwind(|| {
        let _guard = create_span("guarded").start();
        panic!("boom");
    });
    assert!(through_guard.is_err());
    let through_entered = std::panic::catch_unwind(|| {
        let span = create_span("entered").start_detached();
        let _entered = span.enter();
        panic!("bang");
    });
    assert!(through_entered.is_err());
    let with_status = std::panic::catch_unwind(|| {
        let mut guard = create_span("status set").start();
        guard.set_status(sgp_trace::SpanStatus::Canceled);
        panic!("after the status");
    });
    assert!(with_status.is_err());
    drop(_entered);
    drop(_trace);
    let spans = harness.flushed_spans();
    for name in ["guarded", "entered"] {
        assert_eq!(spans[name]["status"], "ERROR", "{name}");
        assert_eq!(spans[name]["metadata"]["error_type"], "panic", "{name}");
        assert_eq!(spans[name]["metadata"]["error_category"], "application");
    }
    assert_eq!(spans["status set"]["status"], "CANCELED");
    assert_eq!(spans["panics"]["status"], "SUCCESS");
}

#[derive(Debug)]
struct NotSerialize;

impl std::fmt::Display for NotSerialize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the store is gone")
    }
}

#[test]
fn in_scope_records_returns_errors_and_panics() {
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("scopes").start();
        let docs = create_span("ok")
            .span_type(SpanType::KbRetrieval)
            .in_scope(|| {
                with_current_span(|span| span.set_metadata("inside", &true)).unwrap();
                vec!["doc-1", "doc-2"]
            });
        assert_eq!(docs.len(), 2);
        let parsed = create_span("parse ok").try_in_scope(|| "42".parse::<u32>());
        assert_eq!(parsed, Ok(42));
        let failed: Result<u32, NotSerialize> =
            create_span("store").try_in_scope(|| Err(NotSerialize));
        assert!(failed.is_err());
        let panicked = std::panic::catch_unwind(|| {
            create_span("panics").in_scope(|| -> u32 { panic!("no luck") })
        });
        assert!(panicked.is_err());
    }
    let spans = harness.flushed_spans();
    assert_eq!(spans["ok"]["output"], json!({"value": ["doc-1", "doc-2"]}));
    assert_eq!(spans["ok"]["metadata"]["inside"], true);
    assert_eq!(spans["ok"]["type"], "KB_RETRIEVAL");
    assert_eq!(spans["ok"]["parent_id"], spans["scopes"]["id"]);
    assert_eq!(spans["parse ok"]["output"], json!({"value": 42}));
    assert_eq!(spans["store"]["status"], "ERROR");
    assert_eq!(
        spans["store"]["metadata"]["error_message"],
        "the store is gone"
    );
    assert!(spans["store"]["metadata"]["error_type"]
        .as_str()
        .unwrap()
        .ends_with("NotSerialize"));
    assert_eq!(spans["panics"]["status"], "ERROR");
    assert_eq!(spans["panics"]["metadata"]["error_message"], "no luck");
}

#[test]
fn instrument_records_outputs_errors_and_cancellation() {
    let harness = Harness::start(|config| config);
    let runtime = two_workers();
    runtime.block_on(async {
        let trace = create_trace("futures").start_detached();
        let _entered = trace.enter();
        let answer = create_span("answer")
            .instrument(async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                with_current_span(|span| span.set_metadata("awaited", &true)).unwrap();
                41 + 1
            })
            .await;
        assert_eq!(answer, 42);
        let failed: Result<u32, NotSerialize> = create_span("fails")
            .try_instrument(async { Err(NotSerialize) })
            .await;
        assert!(failed.is_err());
        let slow = create_span("dropped").instrument(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            1
        });
        assert!(tokio::time::timeout(Duration::from_millis(10), slow)
            .await
            .is_err());
    });
    let spans = harness.flushed_spans();
    assert_eq!(spans["answer"]["output"], json!({"value": 42}));
    assert_eq!(spans["answer"]["metadata"]["awaited"], true);
    assert_eq!(spans["answer"]["parent_id"], spans["futures"]["id"]);
    assert_eq!(spans["fails"]["status"], "ERROR");
    assert_eq!(
        spans["fails"]["metadata"]["error_message"],
        "the store is gone"
    );
    assert_eq!(spans["dropped"]["status"], "CANCELED");
}
