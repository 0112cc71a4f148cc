//! # sgp-trace-otel
//!
//! OpenTelemetry interop for [`sgp_trace`], in its own crate so the core stays lean (no
//! protobuf, no OpenTelemetry in programs that only talk to SGP):
//!
//! - [`OtlpExporter`]: an [`Exporter`](sgp_trace::Exporter) that sends SGP spans as OTLP
//!   over HTTP/protobuf to an OpenTelemetry Collector or any OTLP backend, configured by
//!   the builder or the standard `OTEL_EXPORTER_OTLP_*` variables;
//! - [`FanOutExporter`]: the same batches to SGP and OTLP (or any exporters) at once, each
//!   with its own queue, thread and retry state;
//! - `install_correlation` (feature `opentelemetry`): SGP spans record the OpenTelemetry
//!   span they start in as `obs_trace_id` / `obs_span_id`;
//! - [`LlmSpanExt`]: prompt, response, model, token usage, user, session and error on a
//!   span, in one shape ([`llm`]) that the OTLP mapping also writes as the guide's
//!   `chat.*` / `x-*` attributes and the `gen_ai.*` conventions.
//!
//! ```no_run
//! use sgp_trace::{create_span, create_trace, Config, SpanType};
//! use sgp_trace_otel::{LlmSpanExt, OtlpExporter, TokenUsage};
//!
//! let exporter = OtlpExporter::from_env().expect("valid OTEL_EXPORTER_OTLP_* variables");
//! let guard = sgp_trace::init(Config::builder().exporter(exporter).build().unwrap());
//! {
//!     let _trace = create_trace("answer question").start();
//!     let mut chat = create_span("chat").span_type(SpanType::Completion).start();
//!     chat.set_llm_model("gpt-4o");
//!     chat.set_llm_prompt("What is SGP?");
//!     chat.set_llm_response("Scale's GenAI platform.");
//!     chat.set_llm_usage(TokenUsage::new(12, 7));
//! }
//! drop(guard);
//! ```
//!
//! # The mapping
//!
//! | SGP span | OTLP span |
//! |---|---|
//! | `name` | `name` |
//! | `trace_id`, a UUID | `trace_id`: the UUID's 16 bytes (`4bf92f35-77b3-…` → `4bf92f3577b3…`) |
//! | `trace_id`, any other text | `trace_id`: the first 16 bytes of SHA-256 of the id's UTF-8 text |
//! | `id` | `span_id`: the first 8 bytes of SHA-256 of the id's text (a UUID in its canonical lowercase hyphenated form) |
//! | `parent_id` | `parent_span_id`, derived as `span_id`, so parent links survive; empty on a root |
//! | `start_timestamp`, `end_timestamp` | `start_time_unix_nano`, `end_time_unix_nano` |
//! | status `SUCCESS` | status `OK` |
//! | status `ERROR` | status `ERROR` with `metadata.error_message` as message; attributes `error` = `true`, `error.type` (= `metadata.error_type`); an `exception` event |
//! | status `CANCELED` | status `UNSET` (attribute `sgp.status` says `CANCELED`) |
//! | `type` | attribute `sgp.span_type` |
//! | `input`, `output` | attributes `sgp.input`, `sgp.output` (JSON text) |
//! | `metadata` | one attribute `sgp.metadata.<key>` per entry: strings, booleans and numbers typed, other values as JSON text |
//! | `group_id` | attribute `sgp.group_id` |
//! | `trace_id`, `id`, `parent_id` as given | attributes `sgp.trace_id`, `sgp.span_id`, `sgp.parent_id`, to find the SGP span from the OTLP one |
//! | `obs_trace_id`, `obs_span_id` | attributes `sgp.obs_trace_id`, `sgp.obs_span_id`, and a link to that OpenTelemetry span |
//! | LLM metadata ([`llm`]) | `chat.*`, `x-username`, `x-session-id`, `gen_ai.*`; span kind `CLIENT` (else `INTERNAL`) |
//! | the exporter's settings | resource `service.name`, `service.version`, `OTEL_RESOURCE_ATTRIBUTES`, `telemetry.sdk.*`; scope `sgp-trace` |
//!
//! All spans of a batch go in one `ExportTraceServiceRequest`, flags `SAMPLED`. A span is
//! sent when it ends; the start event the runtime also sends for SGP's live views is left
//! out (OTLP spans are immutable, a second copy would be a duplicate). The same SGP span id
//! in two traces maps to the same span id, which OTLP allows (ids are scoped by trace).
//!
//! # Not included
//!
//! OTLP over gRPC would need an HTTP/2 client and an async runtime on the export thread;
//! OpenTelemetry Collectors take OTLP/HTTP on port 4318 by default, so it is left out
//! (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc` is refused with a clear error rather than sending
//! HTTP to a gRPC port). Neither is request compression.

#![warn(missing_docs)]

mod attributes;
#[cfg(feature = "opentelemetry")]
mod correlation;
mod fanout;
mod ids;
pub mod llm;
mod mapping;
mod otlp;

#[cfg(feature = "opentelemetry")]
pub use correlation::{current_otel_ids, install_correlation};
pub use fanout::{
    DownstreamStats, FanOutBuilder, FanOutExporter, FanOutTimeout, DEFAULT_QUEUE_BATCHES,
};
pub use ids::{otlp_span_id, otlp_trace_id};
pub use llm::{LlmSpanExt, TokenUsage};
pub use mapping::map_span;
/// The OTLP protobuf types [`map_span`] returns, at the version this crate uses.
pub use opentelemetry_proto;
pub use otlp::{
    OtlpConfigError, OtlpExporter, OtlpExporterBuilder, DEFAULT_ENDPOINT, DEFAULT_TIMEOUT,
    TRACES_PATH,
};
