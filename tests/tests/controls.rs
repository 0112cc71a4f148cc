//! Production controls end to end: payload limits, credential redaction, the masking hook,
//! and sampling, as the server stores the result.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};
use sgp_trace::{create_span, create_trace, Field, REDACTED};
use sgp_trace_tests::{Harness, ACCOUNT};

fn traces(spans: &[Value]) -> BTreeMap<String, Vec<&Value>> {
    let mut traces: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for span in spans {
        traces
            .entry(span["trace_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(span);
    }
    traces
}

#[test]
fn oversized_payloads_are_truncated_visibly_never_dropped() {
    let harness = Harness::start(|config| config.max_field_bytes(10_000));
    {
        let _trace = create_trace("big")
            .input(&json!({"document": "d".repeat(10_000_000), "page": 3}))
            .start();
        let mut many = create_span("many values").start();
        many.set_output(&(0..50_000).collect::<Vec<u32>>());
        many.set_metadata("notes", &"n".repeat(50_000));
        let _small = create_span("small").input(&"fine").start();
    }
    let spans = harness.flushed_spans();
    assert_eq!(spans.len(), 3, "no span lost");
    let big = &spans["big"];
    assert_eq!(big["input"]["page"], 3, "the shape is kept");
    let document = big["input"]["document"].as_str().unwrap();
    assert!(
        document.ends_with("[truncated from 10000000 bytes]"),
        "{}",
        &document[document.len() - 60..]
    );
    assert_eq!(
        big["metadata"]["truncated_fields"]["input"].as_u64(),
        Some(10_000_024)
    );
    let many = &spans["many values"];
    assert_eq!(many["output"]["truncated"], true);
    assert!(many["output"]["original_bytes"].as_u64().unwrap() > 200_000);
    assert!(many["metadata"]["notes"]
        .as_str()
        .unwrap()
        .contains("[truncated from 50000 bytes]"));
    assert_eq!(spans["small"]["input"], json!({"value": "fine"}));
    for request in harness.collector.requests() {
        assert!(
            request.body_bytes <= 512 * 1024,
            "a {} byte request",
            request.body_bytes
        );
    }
    let stats = sgp_trace::stats();
    assert_eq!((stats.truncated_fields, stats.lost()), (3, 0), "{stats:?}");
}

#[test]
fn credentials_are_redacted_by_default() {
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("login")
            .input(&json!({"user": "ada", "password": "hunter2", "headers": {"Authorization": "Bearer abc"}}))
            .metadata("max_tokens", &256)
            .metadata("api_key", &"sk-live-123")
            .start();
    }
    let spans = harness.flushed_spans();
    let login = &spans["login"];
    assert_eq!(
        login["input"],
        json!({"user": "ada", "password": REDACTED, "headers": {"Authorization": REDACTED}})
    );
    assert_eq!(
        login["metadata"],
        json!({"max_tokens": 256, "api_key": REDACTED})
    );
    assert_eq!(sgp_trace::stats().redacted_values, 3);
}

#[test]
fn redaction_can_be_switched_off() {
    let harness = Harness::start(|config| config.redact_credentials(false));
    {
        let _trace = create_trace("debug login")
            .input(&json!({"password": "test-only"}))
            .start();
    }
    let spans = harness.flushed_spans();
    assert_eq!(
        spans["debug login"]["input"],
        json!({"password": "test-only"})
    );
}

#[test]
fn the_masking_hook_rewrites_payloads_and_a_failing_hook_drops_only_the_field() {
    let harness = Harness::start(|config| {
        config.mask(|field: Field, value: &mut Value| {
            if let Some(email) = value.get_mut("email") {
                *email = json!("<email>");
            }
            if field == Field::Output && value.get("explode").is_some() {
                panic!("a bug in the hook");
            }
            if value.get("refuse").is_some() {
                return Err("cannot mask this".into());
            }
            Ok(())
        })
    });
    {
        let mut trace = create_trace("masked")
            .input(&json!({"email": "ada@example.com", "q": 1}))
            .start();
        trace.set_output(&json!({"explode": true}));
        let _refused = create_span("refused").input(&json!({"refuse": 1})).start();
    }
    sgp_trace::flush_queue().unwrap();
    {
        let _later = create_trace("later")
            .input(&json!({"email": "bob@example.com"}))
            .start();
    }
    let spans = harness.flushed_spans();
    assert_eq!(
        spans["masked"]["input"],
        json!({"email": "<email>", "q": 1})
    );
    assert_eq!(
        spans["masked"]["output"],
        json!({"masking_error": "the masking hook panicked"})
    );
    assert_eq!(
        spans["refused"]["input"],
        json!({"masking_error": "cannot mask this"})
    );
    assert_eq!(
        spans["later"]["input"],
        json!({"email": "<email>"}),
        "the export thread survived"
    );
    assert_eq!(sgp_trace::stats().mask_failures, 2);
}

#[test]
fn sampling_keeps_or_drops_whole_traces() {
    let harness = Harness::start(|config| config.sample_rate(0.5));
    let mut kept_by_span = 0;
    for index in 0..200 {
        let trace = create_trace(format!("trace {index}")).start();
        let child = create_span(format!("child {index}")).start();
        let grandchild = create_span(format!("grandchild {index}")).start();
        assert_eq!(trace.is_recording(), child.is_recording());
        assert_eq!(trace.is_recording(), grandchild.is_recording());
        // Work handed to another thread follows the trace's decision too.
        let on_thread =
            sgp_trace::propagate::spawn(|| create_span("on thread").start().is_recording());
        assert_eq!(on_thread.join().unwrap(), trace.is_recording());
        kept_by_span += usize::from(trace.is_recording());
    }
    sgp_trace::flush_queue().unwrap();
    let spans = harness.collector.spans(ACCOUNT);
    let traces = traces(&spans);
    assert_eq!(traces.len(), kept_by_span);
    assert!(
        (60..=140).contains(&traces.len()),
        "{} of 200 traces kept at rate 0.5",
        traces.len()
    );
    for spans in traces.values() {
        assert_eq!(spans.len(), 4, "a kept trace is whole");
    }
}

#[test]
fn a_rate_of_zero_records_nothing_and_serializes_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Counted<'a>(&'a AtomicUsize);
    impl serde::Serialize for Counted<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            serializer.serialize_unit()
        }
    }
    let harness = Harness::start(|config| config.sample_rate(0.0));
    let serialized = AtomicUsize::new(0);
    {
        let _trace = create_trace("unsampled").start();
        let mut child = create_span("child").input(&Counted(&serialized)).start();
        child.set_output(&Counted(&serialized));
        assert!(
            sgp_trace::current_span().is_some(),
            "the dropped trace still has a context"
        );
    }
    sgp_trace::flush_queue().unwrap();
    assert!(harness.collector.requests().is_empty());
    assert_eq!(
        serialized.load(Ordering::SeqCst),
        0,
        "children of a dropped trace serialize nothing"
    );
}

#[test]
fn error_traces_are_kept_when_asked() {
    let harness = Harness::start(|config| config.sample_rate(0.0).keep_error_traces(true));
    {
        let _fine = create_trace("fine").start();
        let _step = create_span("fine step").start();
    }
    {
        let _failing = create_trace("failing").start();
        let _before = create_span("before the error").start();
        drop(_before);
        let mut step = create_span("failing step").start();
        step.set_error("Timeout", "the model did not answer", "platform");
    }
    let spans = harness.flushed_spans();
    assert_eq!(
        spans.keys().collect::<Vec<_>>(),
        ["before the error", "failing", "failing step"]
    );
    let stats = sgp_trace::stats();
    assert!(stats.sampled_out >= 2, "{stats:?}");
    assert_eq!(stats.waiting(), 0, "{stats:?}");
    assert_eq!(stats.lost(), 0, "{stats:?}");
}

#[test]
fn shared_metadata_is_copied_for_each_change_and_never_changed() {
    let harness = Harness::start(|config| config);
    let shared = Arc::new(
        json!({"source": "checkout.rs", "api_key": "sk-live-123"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let before = shared.as_ref().clone();
    {
        let _trace = create_trace("as given")
            .metadata_shared(Arc::clone(&shared))
            .start();
        let _added = create_span("added on the builder")
            .metadata_shared(Arc::clone(&shared))
            .metadata("attempt", &2)
            .start();
        let _merged = create_span("given after an entry")
            .metadata("source", &"overridden")
            .metadata("attempt", &1)
            .metadata_shared(Arc::clone(&shared))
            .start();
        let mut set = create_span("set on the span")
            .metadata_shared(Arc::clone(&shared))
            .start();
        set.set_metadata("source", &"set later");
        set.set_error("Timeout", "no answer", "application");
    }
    let spans = harness.flushed_spans();

    assert_eq!(
        spans["as given"]["metadata"],
        json!({"source": "checkout.rs", "api_key": REDACTED})
    );
    assert_eq!(
        spans["added on the builder"]["metadata"],
        json!({"source": "checkout.rs", "api_key": REDACTED, "attempt": 2})
    );
    assert_eq!(
        spans["given after an entry"]["metadata"],
        json!({"source": "checkout.rs", "api_key": REDACTED, "attempt": 1})
    );
    let set = &spans["set on the span"]["metadata"];
    assert_eq!(
        (&set["source"], &set["api_key"], &set["error_type"]),
        (&json!("set later"), &json!(REDACTED), &json!("Timeout"))
    );
    assert_eq!(*shared, before, "the shared map is never changed");
    assert_eq!(sgp_trace::stats().lost(), 0);
}
