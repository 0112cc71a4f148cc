//! # sgp-trace-temporal
//!
//! [Temporal](https://temporal.io) workflows and activities traced with
//! [`sgp_trace`], in one trace from the client's span down to each activity attempt.
//!
//! **Pattern 1, the activity boundary, automatic.** Three interceptors carry the current
//! [`SpanContext`] through Temporal headers (key [`HEADER_KEY`]): [`ClientTracing`] from the
//! client call into the workflow, [`workflow_interceptor`] from the workflow into its
//! activities, child workflows, signals and continue-as-new, and [`ActivityTracing`] into each
//! activity execution, which becomes a span (attempt, workflow, run and activity ids in
//! metadata; ERROR on failure). `#[traced]` functions in an activity are children of that
//! span with no ids passed by hand, and [`sgp_trace::with_current_span`] reaches it. The
//! workflow run itself is a span with deterministic id and times, sent only outside replay.
//! The spans are shaped as by Temporal's OpenTelemetry tracing interceptor (see
//! [`SpanNames`]): `StartWorkflow:<Type>` → `RunWorkflow:<Type>` → `StartActivity:<type>` →
//! `RunActivity:<type>`, with kinds and the `temporalWorkflowID`, `temporalRunID` and
//! `temporalActivityID` metadata.
//!
//! **Pattern 2, a buffer in the workflow, flushed by an activity.** [`SpanBuffer`] records
//! spans from workflow code with ids from `uuid4()` and times from `workflow_time()`, does no
//! I/O, and is sent by [`SpanActivities::upsert_spans`], the idempotent SGP upsert, with
//! Temporal's retries for transient failures only.
//!
//! Both patterns take the trace id from the parent they continue, so a child can never land
//! in another trace than its parent.
//!
//! ```no_run
//! # async fn f(client: temporalio_client::Client, runtime: temporalio_sdk::Runtime)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use sgp_trace_temporal::{workflow_interceptor, ActivityTracing, SpanActivities};
//! use temporalio_sdk::{Worker, WorkerOptions};
//!
//! let config = sgp_trace::Config::from_env()?;
//! let _tracing = sgp_trace::init(config.clone());
//! let options = WorkerOptions::new("my-queue")
//!     .workflow_interceptor(workflow_interceptor())
//!     .activity_inbound_interceptor(ActivityTracing::default())
//!     .register_activities(SpanActivities::from_config(&config))
//!     // .register_workflow::<MyWorkflow>()? .register_activities(MyActivities)
//!     .build();
//! Worker::new(&runtime, client, options)?.run().await?;
//! # Ok(()) }
//! ```
//!
//! Clients add [`ClientTracing`] to `ClientOptions::client_interceptors`. Passing a span
//! context by hand in workflow or activity input (`create_span(..).parent(ctx)`) keeps
//! working alongside: an explicit parent wins over the current span.

#![warn(missing_docs)]

mod activity;
mod buffer;
mod client;
mod flush;
mod header;
mod sent;
mod shape;
mod workflow;

pub use activity::ActivityTracing;
pub use buffer::{BufferedSpanId, FlushError, FlushPolicy, SpanBuffer, WorkflowClock};
pub use client::ClientTracing;
pub use flush::{failure, BufferedSpan, SpanActivities, UpsertSpans, MAX_SPANS_PER_REQUEST};
pub use header::{extract, inject, HEADER_KEY};
pub use sent::repeated_events_skipped;
pub use shape::{SpanNames, SPAN_KIND_KEY};
pub use workflow::{workflow_interceptor, workflow_interceptor_with, CurrentSpan, WorkflowSpan};

use sgp_trace::SpanContext;
use temporalio_sdk::WorkflowContext;

/// The span that workflow code should parent its spans to: the workflow run's span when
/// [`workflow_interceptor`] is installed, else the caller's span from the workflow's start
/// headers, else `None` (a new trace).
pub fn workflow_span_context<W>(ctx: &WorkflowContext<W>) -> Option<SpanContext> {
    ctx.context_value::<WorkflowSpan>()
        .map(|context| (*context).clone())
        .or_else(|| header::extract(ctx.headers()))
}
