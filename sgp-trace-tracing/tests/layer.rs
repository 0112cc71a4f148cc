//! `tracing` spans as they arrive on the collector: fields, return values and errors,
//! events, span types, nesting with the runtime on one thread, and panics.
//!
//! One process per test (cargo-nextest): the subscriber and the runtime are process-wide.

use serde_json::json;
use sgp_trace::{create_span, create_trace, traced};
use sgp_trace_tests::{tree, Harness};
use sgp_trace_tracing::layer;
use tracing::{info, info_span, instrument, warn};
use tracing_subscriber::prelude::*;

fn install(layer: sgp_trace_tracing::SgpLayer) {
    tracing_subscriber::registry().with(layer).init();
}

#[test]
fn creation_fields_are_the_input_and_recorded_fields_the_metadata() {
    let harness = Harness::start(|config| config);
    install(layer());
    let cause = std::io::Error::other("disk full");
    let span = info_span!(
        target: "shop::orders",
        "look up order",
        order = "o-42",
        quantity = 3u64,
        delta = -2i64,
        express = true,
        weight = 1.5,
        items = ?vec!["pen", "ink"],
        shown = %"display text",
        ratio = f64::NAN,
        cause = &cause as &(dyn std::error::Error + 'static),
        status = tracing::field::Empty,
    );
    let line = line!() - 14;
    span.record("status", "shipped");
    drop(span);
    info_span!("only recorded later", late = tracing::field::Empty).record("late", 1);
    let spans = harness.flushed_spans();

    let later = &spans["only recorded later"];
    assert!(
        later.get("input").is_none_or(|input| input.is_null()),
        "{later}"
    );
    assert_eq!(later["metadata"]["late"], 1);

    let order = &spans["look up order"];
    assert_eq!(order["type"], "TRACER");
    assert_eq!(order["status"], "SUCCESS");
    assert_eq!(
        order["input"],
        json!({"order": "o-42", "quantity": 3, "delta": -2, "express": true, "weight": 1.5,
               "items": "[\"pen\", \"ink\"]", "shown": "display text", "ratio": "NaN",
               "cause": "disk full"})
    );
    let metadata = &order["metadata"];
    assert_eq!(metadata["status"], "shipped");
    assert_eq!(metadata["tracing.target"], "shop::orders");
    assert_eq!(metadata["tracing.level"], "INFO");
    assert_eq!(metadata["tracing.module_path"], "layer");
    assert!(metadata["tracing.file"]
        .as_str()
        .unwrap()
        .ends_with("layer.rs"));
    assert_eq!(metadata["tracing.line"], line);
}

#[instrument(ret)]
fn add(left: u32, right: u32) -> u32 {
    left + right
}

#[instrument(err)]
fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
    text.parse()
}

#[test]
fn instrument_ret_is_the_output_and_err_the_error() {
    let harness = Harness::start(|config| config);
    install(layer());
    add(2, 3);
    let _ = parse("x1");
    let spans = harness.flushed_spans();

    assert_eq!(spans["add"]["input"], json!({"left": 2, "right": 3}));
    assert_eq!(spans["add"]["output"], json!({"value": "5"}));
    assert_eq!(spans["add"]["status"], "SUCCESS");
    let failed = &spans["parse"];
    assert_eq!(failed["status"], "ERROR");
    assert_eq!(failed["metadata"]["error"], true);
    assert_eq!(failed["metadata"]["error_type"], "Err");
    assert_eq!(
        failed["metadata"]["error_message"],
        "invalid digit found in string"
    );
    assert_eq!(failed["metadata"]["error_category"], "application");
    assert!(failed["metadata"].get("events").is_none());
}

#[test]
fn events_are_a_bounded_list_with_a_count_of_those_left_out() {
    let harness = Harness::start(|config| config);
    install(layer().max_events_per_span(2));
    info!("outside any span, so nowhere");
    info_span!("chatty").in_scope(|| {
        info!(attempt = 1, "first try");
        warn!(code = "E7", retry = true, "second try");
        info!("third, left out");
        info!("fourth, left out");
    });
    let spans = harness.flushed_spans();

    assert_eq!(spans.len(), 1);
    let metadata = &spans["chatty"]["metadata"];
    assert_eq!(
        metadata["events"],
        json!([
            {"level": "INFO", "message": "first try", "fields": {"attempt": 1}},
            {"level": "WARN", "message": "second try", "fields": {"code": "E7", "retry": true}},
        ])
    );
    assert_eq!(metadata["events_left_out"], 2);
}

#[test]
fn the_sgp_type_field_sets_the_span_type_and_a_bad_one_is_explained() {
    let harness = Harness::start(|config| config);
    install(layer());
    info_span!("search", sgp.type = "KB_RETRIEVAL", query = "q").in_scope(|| {
        info_span!("typo", sgp.type = "KB_RETRIVAL").in_scope(|| {});
    });
    let spans = harness.flushed_spans();

    assert_eq!(spans["search"]["type"], "KB_RETRIEVAL");
    assert_eq!(spans["search"]["input"], json!({"query": "q"}));
    assert_eq!(spans["typo"]["type"], "STANDALONE");
    assert!(spans["typo"]["metadata"]["sgp.field_error"]
        .as_str()
        .unwrap()
        .contains("KB_RETRIVAL"));
}

#[traced]
fn traced_step() {
    let _inner = info_span!("tracing inside traced").entered();
    let _leaf = create_span("guard inside tracing").start();
}

#[test]
fn spans_nest_both_ways_with_the_runtime_on_one_thread() {
    let harness = Harness::start(|config| config);
    install(layer());
    {
        let _root = info_span!("tracing root").entered();
        traced_step();
        let _guard = create_span("guard under tracing").start();
        let _nested = info_span!("tracing under guard").entered();
    }
    {
        let _trace = create_trace("sgp root").start();
        let _tracing = info_span!("tracing under sgp root").entered();
    }
    let spans = harness.flushed_spans();

    assert_eq!(
        tree(&spans),
        "sgp root [SUCCESS]\n  tracing under sgp root [SUCCESS]\n\
         tracing root [SUCCESS]\n  guard under tracing [SUCCESS]\n    tracing under guard [SUCCESS]\n  \
         layer::traced_step [SUCCESS]\n    tracing inside traced [SUCCESS]\n      guard inside tracing [SUCCESS]\n"
    );
    assert_eq!(sgp_trace::current_span(), None);
}

#[instrument]
fn explode(reason: &str) {
    let _child = info_span!("still fine").entered();
    drop(_child);
    panic!("{reason}");
}

#[test]
fn a_panic_through_an_instrumented_function_ends_its_span_error() {
    let harness = Harness::start(|config| config);
    install(layer());
    let outcome = std::panic::catch_unwind(|| explode("bad state"));
    assert!(outcome.is_err());
    info_span!("after the panic").in_scope(|| {});
    let spans = harness.flushed_spans();

    assert_eq!(
        tree(&spans),
        "after the panic [SUCCESS]\nexplode [ERROR]\n  still fine [SUCCESS]\n"
    );
    assert_eq!(spans["explode"]["metadata"]["error_type"], "panic");
    assert_eq!(spans["explode"]["input"], json!({"reason": "bad state"}));
    assert_eq!(sgp_trace::current_span(), None);
}

#[test]
fn source_metadata_can_be_turned_off() {
    let harness = Harness::start(|config| config);
    install(layer().source_metadata(false));
    info_span!("quiet", kept = 1).in_scope(|| {});
    let spans = harness.flushed_spans();

    assert_eq!(spans["quiet"]["input"], json!({"kept": 1}));
    assert!(spans["quiet"]
        .get("metadata")
        .and_then(|metadata| metadata.as_object())
        .is_none_or(|metadata| metadata.keys().all(|key| !key.starts_with("tracing."))));
}

#[instrument]
async fn explode_later(reason: String) {
    tokio::task::yield_now().await;
    panic!("{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_an_instrumented_task_ends_its_span_error() {
    let harness = Harness::start(|config| config);
    install(layer());
    let task = tokio::spawn(explode_later("async bad state".into()));
    assert!(task.await.unwrap_err().is_panic());
    let spans = tokio::task::spawn_blocking(move || harness.flushed_spans())
        .await
        .unwrap();

    assert_eq!(spans["explode_later"]["status"], "ERROR");
    assert_eq!(spans["explode_later"]["metadata"]["error_type"], "panic");
}

#[test]
fn with_current_span_inside_an_entered_tracing_span_annotates_its_sgp_span() {
    let harness = Harness::start(|config| config);
    install(layer());
    info_span!("outer").in_scope(|| {
        info_span!("chat").in_scope(|| {
            let annotated = sgp_trace::with_current_span(|span| {
                span.set_metadata("answer_quality", &"good");
            });
            assert!(annotated.is_some());
        });
    });
    assert!(sgp_trace::with_current_span(|_| ()).is_none());
    let spans = harness.flushed_spans();

    assert_eq!(spans["chat"]["metadata"]["answer_quality"], "good");
    assert!(spans["outer"]["metadata"].get("answer_quality").is_none());
}

#[instrument(fields(note = tracing::field::Empty))]
fn step(round: u32) {
    if round == 1 {
        tracing::Span::current().record("note", "second round");
    }
}

#[test]
fn spans_of_one_callsite_share_its_source_and_keep_their_own_entries() {
    let harness = Harness::start(|config| config);
    install(layer());
    let step_line = line!() - 11;
    let other_line = line!() + 4;
    for round in 0..3 {
        step(round);
        std::thread::spawn(move || step(round + 10)).join().unwrap();
        info_span!("other", round).in_scope(|| {});
    }
    let spans = harness.collector_spans();

    assert_eq!(spans.len(), 9);
    for span in &spans {
        let metadata = &span["metadata"];
        let (line, round) = match span["name"].as_str().unwrap() {
            "step" => (step_line, &span["input"]["round"]),
            _ => (other_line, &span["input"]["round"]),
        };
        assert_eq!(metadata["tracing.line"], line, "{span}");
        assert_eq!(metadata["tracing.level"], "INFO");
        assert!(metadata["tracing.file"]
            .as_str()
            .unwrap()
            .ends_with("layer.rs"));
        let note = (span["name"] == "step" && *round == 1).then_some(json!("second round"));
        assert_eq!(metadata.get("note"), note.as_ref(), "{span}");
    }
}
