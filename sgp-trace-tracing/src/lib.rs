//! # sgp-trace-tracing
//!
//! A [`tracing_subscriber::Layer`] that records the spans of programs instrumented with
//! [`tracing`](https://docs.rs/tracing) (`#[instrument]`, `info_span!`,
//! `.instrument(span)`) as SGP spans, through the `sgp-trace` runtime:
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let _guard = sgp_trace::init(sgp_trace::Config::from_env().expect("valid SGP_* variables"));
//! tracing_subscriber::registry().with(sgp_trace_tracing::layer()).init();
//! ```
//!
//! # What a `tracing` span becomes
//!
//! | `tracing` | SGP |
//! |---|---|
//! | the span's name | its name |
//! | fields given when the span is created | `input` (an object of the fields) |
//! | fields recorded later (`Span::record`) | `metadata`, one key per field |
//! | target, level, module, file, line | metadata `tracing.target`, `tracing.level`, `tracing.module_path`, `tracing.file`, `tracing.line` (unless [`SgpLayer::source_metadata`] is off) |
//! | `#[instrument(ret)]`'s event | `output` (`{"value": ...}` of the returned value's text) |
//! | `#[instrument(err)]`'s event | status `ERROR`, `error_type: "Err"`, `error_message` the error's text |
//! | other events inside the span | metadata `events`: the first [`DEFAULT_MAX_EVENTS`] as `{"level", "message", "fields"}`; `events_left_out` counts the rest |
//! | a field `sgp.type` (given at creation) | the span type, e.g. `sgp.type = "KB_RETRIEVAL"`; an unknown one is explained in metadata `sgp.field_error` |
//! | `gen_ai.*` fields | a `COMPLETION` span in the SDK's LLM shape (see below) |
//! | a panic unwinding through the entered span | status `ERROR`, `error_type: "panic"` |
//!
//! Nesting goes both ways with the runtime: while a `tracing` span is entered, it is the
//! runtime's current span, so `#[traced]` functions and `create_span` called inside it are
//! its children; a `tracing` span created inside a `#[traced]` span or a span guard is that
//! span's child. `.instrument(span)` futures enter their span wherever they are polled, so
//! they keep their parent across tasks and threads. A `tracing` span with no SGP span above
//! it starts a trace, unless [`SgpLayer::start_traces`] says otherwise.
//!
//! Field values keep their JSON type when `tracing` gives one (numbers, booleans, strings);
//! `?value` and `%value` fields arrive as their `Debug` or `Display` text.
//!
//! # LLM calls
//!
//! A span whose callsite declares `gen_ai.*` fields (the OpenTelemetry GenAI conventions)
//! is an LLM call, written as `sgp-trace-otel`'s LLM helpers write one:
#![doc = include_str!("gen_ai_table.md")]
#![warn(missing_docs)]

mod callsite;
mod entered;
mod events;
mod fields;
mod gen_ai;
mod layer;

pub use layer::{layer, SgpLayer, DEFAULT_MAX_EVENTS, FIELD_ERROR_KEY};
