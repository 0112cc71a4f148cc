//! # sgp-trace
//!
//! Tracing for the [Scale GP](https://scale.com) platform: record what your AI agents and
//! services did, span by span, and see it in SGP (or in the local collector).
//!
//! Spans are made on your threads in a few hundred nanoseconds and handed to one export
//! thread through a bounded queue; that thread batches them and sends them to
//! `PUT /v5/spans/batch` with retries. Your program never blocks on the network and never
//! panics because of tracing, and every span that is lost is counted in [`stats()`].
//!
//! ```no_run
//! use sgp_trace::{create_span, create_trace, Config, SpanType};
//!
//! let _guard = sgp_trace::init(Config::from_env().expect("valid SGP_* variables"));
//! let trace = create_trace("answer question").input(&"What is SGP?").start();
//! {
//!     let mut span = create_span("retrieve").span_type(SpanType::KbRetrieval).start();
//!     span.set_output(&vec!["doc-1", "doc-2"]);
//! }
//! drop(trace);
//! // Dropping the guard sends what is left.
//! ```
//!
//! Configuration comes from the environment (`SGP_API_KEY`, `SGP_ACCOUNT_ID`,
//! `SGP_CLIENT_BASE_URL`, `SGP_CLIENT_CUSTOM_HEADERS`, `DISABLE_SCALE_TRACING`) or from
//! [`Config::builder`]. Without [`init`], the first span reads the environment; with no
//! credentials, tracing warns once and every span is a no-op.
//!
//! # How the crate is laid out
//!
//! A span goes through stages, each a module of its own, and each module uses only those
//! listed before it (a test, `tests/stage_order.rs`, holds the crate to that):
//!
//! | stage | what it does |
//! |---|---|
//! | `json` | writes payloads (inputs, outputs, metadata) as JSON once, on your thread, and proves which are plain |
//! | `model` | what a span is: [`SpanItem`], [`Timestamp`] and the clock, [`Id`]s, [`SpanType`], sampling |
//! | `stats` | the counters behind [`stats()`] |
//! | `queue` | lanes and the bounded channel from your threads to the export thread |
//! | `export` | the export thread: coalescing, batching, payload controls, retries, [`Exporter`]s |
//! | `config`, `runtime` | [`Config`], and [`init`], [`flush_queue`] and [`shutdown`] |
//! | `record` | what your threads call: span builders and handles, the current span, [`propagate`] |
//!
//! # Glossary
//!
//! - **event**: a span's start (sent so live views show it running) or its end (its
//!   final state). A span makes one or two.
//! - **lane**: a thread's own buffer of events, behind a lock only that thread normally
//!   takes. A started span's item waits in its lane; a span that ends before the lane ships
//!   ends in place.
//! - **seat**: where a lane keeps a running span's item once its start was shipped, until
//!   the span ends.
//! - **shipment**: the events a lane sends to the export thread at once, on the bounded
//!   channel, when it is full, old or looked at by the export thread.
//! - **coalesced**: a start event replaced by its span's end before it was sent (in the lane
//!   or on the export thread): not a loss, the end carries the whole span.
//! - **pending**: events on the export thread waiting to be cut into batches.
//! - **cut**: taking pending events into a batch of at most `max_batch_items` spans and
//!   `max_batch_bytes`, when `flush_at` spans wait, `flush_interval` passed, or on a flush.
//! - **held**: events of a trace the sampler dropped, kept on the export thread when
//!   `keep_error_traces` is on, until an error sends the trace or its root's end discards
//!   it (counted as `sampled_out`).
//! - **plain**: a payload its writer proved to hold only scalars under keys that name no
//!   credential; only such payloads skip the export thread's credential scan.
//! - **no-op span**: a span made while nothing is recorded (no trace in scope, tracing off,
//!   sampled out): it costs a few instructions and serializes nothing.

#![warn(missing_docs)]

// The stages, in the order their imports run: each may use those above it, never one below
// (checked by `tests/stage_order.rs`).
mod config;
mod diag;
mod export;
mod json;
mod model;
mod queue;
mod record;
mod runtime;
mod stats;

pub use record::llm;
pub use record::propagate;

#[doc(hidden)]
pub use record::macro_support;

pub use config::{
    Config, ConfigBuilder, ConfigError, API_MAX_BATCH_BYTES, API_MAX_BATCH_ITEMS, DEFAULT_BASE_URL,
    DEFAULT_QUEUE_CAPACITY,
};
pub use export::{
    Batch, ExportError, Exporter, Field, HttpExporter, Mask, DEFAULT_MAX_FIELD_BYTES, REDACTED,
};
pub use json::{JsonObject, ObjectKey, ObjectWriter};
pub use model::{
    set_observability_provider, CategorizeError, ErrorCategory, Id, InvalidId, ObservabilityIds,
    ObservabilityProvider, SpanItem, SpanStatus, SpanType, Timestamp, UnknownSpanType,
    MAX_ID_BYTES,
};
pub use record::annotate::Annotate;
pub use record::context::{
    current_span, current_trace, has_current_span, ContextGuard, InvalidSpanContext, SpanContext,
    PARENT_ENV_VAR, PARENT_SAMPLED_ENV_VAR,
};
pub use record::current::{with_current_span, CurrentSpan};
pub use record::external::record_item;
pub use record::llm::{ChatMessage, LlmSpanExt, TokenUsage};
pub use record::span::{create_span, create_trace, Span, SpanBuilder, SpanGuard};
pub use runtime::{
    flush_queue, flush_queue_within, init, shutdown, stats, FlushError, ShutdownError,
    TracingGuard, DEFAULT_FLUSH_TIMEOUT,
};
pub use sgp_trace_macros::traced;
pub use stats::Stats;
