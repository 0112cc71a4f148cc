//! `#[traced]` options, errors, panics and argument recording on synchronous functions, end
//! to end through the local collector.

mod traced_common;

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde_json::{json, Value};
use sgp_trace::{create_trace, traced, CategorizeError, ErrorCategory};
use traced_common::{named, spans, start, tree};

#[traced(name = "skip", skip(secret, _unused))]
fn with_skip(query: &str, secret: &str, _unused: u8) -> usize {
    query.len() + secret.len()
}

#[traced(name = "skip_all", skip_all, no_output)]
fn with_skip_all(query: &str) -> usize {
    query.len()
}

#[traced(name = "metadata", metadata(model = "gpt-x", "max-tokens" = 256, tags = ["a", "b"]))]
fn with_metadata() {}

#[traced(name = "grouped", root(group_id = "session-7"), type = "AGENT_TRACER")]
fn grouped_root() -> &'static str {
    "done"
}

#[test]
fn skip_no_output_metadata_and_root_with_group() {
    let harness = start();
    let trace = create_trace("request").start();
    assert_eq!(with_skip("abc", "xy", 0), 5);
    assert_eq!(with_skip_all("abcd"), 4);
    with_metadata();
    // A root span starts its own trace, even inside another one.
    assert_eq!(grouped_root(), "done");
    drop(trace);
    let spans = spans(&harness);
    assert_eq!(
        tree(&spans),
        "request [SUCCESS]\n  skip [SUCCESS]\n  skip_all [SUCCESS]\n  metadata [SUCCESS]\ngrouped [SUCCESS]\n"
    );
    let skip = named(&spans, "skip");
    assert_eq!(skip["input"], json!({"query": "abc"}));
    assert_eq!(skip["output"], json!({"value": 5}));
    let skip_all = named(&spans, "skip_all");
    assert!(skip_all.get("input").is_none_or(Value::is_null));
    assert!(skip_all.get("output").is_none_or(Value::is_null));
    let metadata = named(&spans, "metadata");
    assert_eq!(metadata["metadata"]["model"], "gpt-x");
    assert_eq!(metadata["metadata"]["max-tokens"], 256);
    assert_eq!(metadata["metadata"]["tags"], json!(["a", "b"]));
    assert!(
        metadata.get("output").is_none_or(Value::is_null),
        "() records nothing"
    );
    let grouped = named(&spans, "grouped");
    assert_eq!(grouped["type"], "AGENT_TRACER");
    assert_eq!(grouped["group_id"], "session-7");
    assert_ne!(grouped["trace_id"], named(&spans, "request")["trace_id"]);
}

#[derive(Debug)]
enum LlmError {
    RateLimited,
    BadPrompt(String),
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmError::RateLimited => f.write_str("rate limited"),
            LlmError::BadPrompt(why) => write!(f, "bad prompt: {why}"),
        }
    }
}

impl CategorizeError for LlmError {
    fn error_category(&self) -> ErrorCategory {
        match self {
            LlmError::RateLimited => ErrorCategory::Platform,
            LlmError::BadPrompt(_) => ErrorCategory::Application,
        }
    }
}

#[traced(name = "complete")]
fn complete(prompt: &str) -> Result<String, LlmError> {
    if prompt.is_empty() {
        return Err(LlmError::BadPrompt("empty".into()));
    }
    if prompt == "busy" {
        Err(LlmError::RateLimited)?;
    }
    Ok(format!("echo {prompt}"))
}

/// An error with neither `Display` nor `CategorizeError`: recorded through `Debug`.
#[derive(Debug)]
struct Opaque(#[allow(dead_code)] u8);

#[traced(name = "opaque")]
fn opaque() -> Result<(), Opaque> {
    Err(Opaque(7))
}

#[traced(name = "parse")]
fn parse(text: &str) -> Result<(), std::num::ParseIntError> {
    let _: u8 = text.parse()?;
    Ok(())
}

#[test]
fn results_ok_err_early_return_and_the_category_override() {
    let harness = start();
    let trace = create_trace("request").start();
    assert_eq!(complete("hi").unwrap(), "echo hi");
    assert!(complete("").is_err());
    assert!(complete("busy").is_err());
    assert!(opaque().is_err());
    assert!(parse("1").is_ok());
    assert!(parse("x").is_err());
    drop(trace);
    let spans = spans(&harness);
    let completes: Vec<&Value> = spans.iter().filter(|s| s["name"] == "complete").collect();
    let by_input = |prompt: &str| {
        *completes
            .iter()
            .find(|span| span["input"]["prompt"] == prompt)
            .unwrap()
    };
    let ok = by_input("hi");
    assert_eq!(ok["status"], "SUCCESS");
    assert_eq!(ok["output"], json!({"value": "echo hi"}));
    assert!(ok.get("metadata").is_none_or(|m| m.get("error").is_none()));
    let bad = by_input("");
    assert_eq!(bad["status"], "ERROR");
    assert!(bad.get("output").is_none_or(Value::is_null));
    assert_eq!(
        bad["metadata"],
        json!({
            "error": true,
            "error_type": "traced_options::LlmError",
            "error_message": "bad prompt: empty",
            "error_category": "application",
        })
    );
    let busy = by_input("busy");
    assert_eq!(busy["metadata"]["error_category"], "platform");
    assert_eq!(busy["metadata"]["error_message"], "rate limited");
    let opaque = named(&spans, "opaque");
    assert_eq!(opaque["status"], "ERROR");
    assert_eq!(opaque["metadata"]["error_message"], "Opaque(7)");
    assert_eq!(opaque["metadata"]["error_type"], "traced_options::Opaque");
    let parses: Vec<&Value> = spans.iter().filter(|s| s["name"] == "parse").collect();
    assert_eq!(parses.len(), 2);
    let ok = parses.iter().find(|s| s["input"]["text"] == "1").unwrap();
    assert_eq!(ok["status"], "SUCCESS");
    assert!(
        ok.get("output").is_none_or(Value::is_null),
        "Ok(()) records nothing"
    );
    let err = parses.iter().find(|s| s["input"]["text"] == "x").unwrap();
    assert_eq!(
        err["metadata"]["error_type"],
        "core::num::error::ParseIntError"
    );
    assert_eq!(
        err["metadata"]["error_message"],
        "invalid digit found in string"
    );
}

#[traced(name = "explodes")]
fn explodes(depth: u32) -> u32 {
    if depth == 0 {
        panic!("exploded at the bottom");
    }
    explodes(depth - 1) + 1
}

#[test]
fn a_panic_fails_every_span_it_crosses_and_propagates_unchanged() {
    let harness = start();
    let trace = create_trace("request").start();
    let payload = panic::catch_unwind(AssertUnwindSafe(|| explodes(1))).unwrap_err();
    assert_eq!(
        *payload.downcast_ref::<&str>().unwrap(),
        "exploded at the bottom"
    );
    assert_eq!(
        sgp_trace::current_span(),
        trace.context(),
        "the context is restored"
    );
    drop(trace);
    let spans = spans(&harness);
    assert_eq!(
        tree(&spans),
        "request [SUCCESS]\n  explodes [ERROR]\n    explodes [ERROR]\n"
    );
    for span in spans.iter().filter(|span| span["name"] == "explodes") {
        assert_eq!(span["metadata"]["error_type"], "panic");
        assert_eq!(span["metadata"]["error_message"], "exploded at the bottom");
        assert_eq!(span["metadata"]["error"], true);
    }
}

/// Counts how often it is serialized.
struct Counted(&'static AtomicUsize);

impl Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_str("counted")
    }
}

static SERIALIZED: AtomicUsize = AtomicUsize::new(0);

#[traced(name = "counted")]
fn takes_counted(value: Counted) -> Counted {
    value
}

#[test]
fn arguments_and_output_are_serialized_only_when_the_span_is_recorded() {
    let harness = start();
    let _ = takes_counted(Counted(&SERIALIZED));
    assert_eq!(SERIALIZED.load(Ordering::SeqCst), 0, "no trace in scope");
    let trace = create_trace("request").start();
    let _ = takes_counted(Counted(&SERIALIZED));
    drop(trace);
    assert_eq!(
        SERIALIZED.load(Ordering::SeqCst),
        2,
        "input and output, once each"
    );
    let spans = spans(&harness);
    assert_eq!(tree(&spans), "request [SUCCESS]\n  counted [SUCCESS]\n");
    assert_eq!(
        named(&spans, "counted")["input"],
        json!({"value": "counted"})
    );
}

#[derive(Debug)]
#[allow(dead_code)]
struct DebugOnly {
    id: u32,
}

struct Neither;

#[traced(name = "fallbacks")]
fn fallbacks(debug: DebugOnly, neither: Neither, plain: Vec<u8>) -> DebugOnly {
    let _ = (neither, plain);
    debug
}

#[test]
fn arguments_without_serialize_fall_back_to_debug_then_to_the_type_name() {
    let harness = start();
    let trace = create_trace("request").start();
    fallbacks(DebugOnly { id: 3 }, Neither, vec![1, 2]);
    drop(trace);
    let spans = spans(&harness);
    let span = named(&spans, "fallbacks");
    assert_eq!(
        span["input"],
        json!({
            "debug": "DebugOnly { id: 3 }",
            "neither": "<traced_options::Neither>",
            "plain": [1, 2],
        })
    );
    assert_eq!(span["output"], json!({"value": "DebugOnly { id: 3 }"}));
}
