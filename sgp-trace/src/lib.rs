//! # sgp-trace
//!
//! Tracing for the [Scale GP](https://scale.com) platform: record what your AI agents and
//! services did, span by span, and see it in SGP (or in the local collector).
//!
//! Spans are made on your threads in a few hundred nanoseconds and handed to one export
//! thread through a bounded queue; that thread batches them and sends them to
//! `PUT /v5/spans/batch` with retries. Your program never blocks on the network and never
//! panics because of tracing, and every span that is lost is counted in [`stats`].
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
pub use json::JsonObject;
pub use model::{
    set_observability_provider, CategorizeError, ErrorCategory, Id, InvalidId, ObservabilityIds,
    ObservabilityProvider, SpanItem, SpanStatus, SpanType, Timestamp, UnknownSpanType,
    MAX_ID_BYTES,
};
pub use record::context::{
    current_span, current_trace, ContextGuard, InvalidSpanContext, SpanContext, PARENT_ENV_VAR,
    PARENT_SAMPLED_ENV_VAR,
};
pub use record::external::record_item;
pub use record::span::{create_span, create_trace, Span, SpanBuilder, SpanGuard};
pub use runtime::{
    flush_queue, flush_queue_within, init, shutdown, stats, FlushError, ShutdownError,
    TracingGuard, DEFAULT_FLUSH_TIMEOUT,
};
pub use sgp_trace_macros::traced;
pub use stats::Stats;
