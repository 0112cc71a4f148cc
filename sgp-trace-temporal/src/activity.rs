//! The activity side: each activity execution is a span, child of the span that scheduled it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use sgp_trace::{create_span, create_trace, llm, Span, SpanStatus};
use temporalio_sdk::activities::{ActivityError, ActivityInfo};
use temporalio_sdk::interceptors::{
    ActivityInboundInterceptor, ExecuteActivityInput, ExecuteActivityOutput, ExecuteActivityResult,
    Next,
};

use crate::flush::SpanActivities;
use crate::header;
use crate::shape::{Kind, SpanNames};

/// An activity interceptor that makes each activity execution a span.
///
/// The span's parent is the span context in the activity's Temporal headers (put there by
/// [`workflow_interceptor`](crate::workflow_interceptor): the `StartActivity:<type>` span);
/// without one the activity starts its own trace. The span is `RunActivity:<activity type>`
/// with kind server (or the activity type alone with [`SpanNames::Plain`]), carries the
/// attempt number and the workflow, run and activity ids in its metadata, ends with status
/// ERROR (and the error fields) when the attempt fails, and is current while the activity
/// runs, so `#[traced]` functions and `create_span` calls inside the activity become its
/// children, and [`sgp_trace::with_current_span`] reaches it. Each retry is a span of its own.
///
/// The LLM session (metadata [`llm::keys::SESSION_ID`], which `sgp-trace-otel` sends as
/// `x-session-id` on LLM spans) defaults to the workflow id, as in the guide: on the
/// activity's own span and, through [`llm::default_session`] entered while the activity is
/// polled, on every LLM call recorded in the activity's task at any depth (a span an LLM
/// helper is called on, `#[traced]` or `create_span`). A span given its own session, before
/// or after, keeps that one. Calls recorded on threads or tasks the activity spawns do not
/// take the default.
///
/// The span-flushing activity of [`SpanActivities`] is not traced.
///
/// ```
/// use sgp_trace_temporal::{ActivityTracing, SpanNames};
/// let interceptor_shape = ActivityTracing::default();
/// let plain_names = ActivityTracing::with_names(SpanNames::Plain);
/// # let _ = (interceptor_shape, plain_names);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ActivityTracing {
    names: SpanNames,
}

impl ActivityTracing {
    /// The interceptor with spans named and annotated as `names` says.
    pub fn with_names(names: SpanNames) -> ActivityTracing {
        ActivityTracing { names }
    }
}

impl ActivityInboundInterceptor for ActivityTracing {
    fn execute_activity<'a>(
        &'a self,
        input: ExecuteActivityInput,
        next: Next<'a, ExecuteActivityInput, ExecuteActivityOutput<'a>>,
    ) -> ExecuteActivityOutput<'a> {
        let info = input.activity_info();
        if info.activity_type == SpanActivities::upsert_spans.name() {
            return next.run(input);
        }
        let span = activity_span(self.names, info, header::extract(input.headers()));
        InSpan {
            span: Some(span),
            session: info.workflow_id.as_deref().map(Arc::from),
            inner: next.run(input),
        }
        .boxed()
    }
}

fn activity_span(
    names: SpanNames,
    info: &ActivityInfo,
    parent: Option<sgp_trace::SpanContext>,
) -> Span {
    let name = names.name("RunActivity", &info.activity_type);
    let builder = match parent {
        Some(parent) => create_span(name).parent(parent),
        None => create_trace(name),
    };
    let mut builder = builder
        .metadata("temporal.activity_type", &info.activity_type)
        .metadata(names.activity_id_key(), &info.activity_id)
        .metadata("temporal.attempt", &info.attempt)
        .metadata("temporal.task_queue", &info.task_queue);
    if let Some((key, kind)) = names.kind(Kind::Server) {
        builder = builder.metadata(key, kind);
    }
    if let Some(workflow_id) = &info.workflow_id {
        builder = builder
            .metadata(names.workflow_id_key(), workflow_id)
            .metadata(llm::keys::SESSION_ID, workflow_id);
    }
    if let Some(run_id) = &info.workflow_run_id {
        builder = builder.metadata(names.run_id_key(), run_id);
    }
    if let Some(workflow_type) = &info.workflow_type {
        builder = builder.metadata("temporal.workflow_type", workflow_type);
    }
    if info.is_local {
        builder = builder.metadata("temporal.local_activity", &true);
    }
    builder.start_detached()
}

/// Polls the activity with its span current and its workflow's id the default session, and
/// ends the span with the outcome.
struct InSpan<F> {
    span: Option<Span>,
    session: Option<Arc<str>>,
    inner: F,
}

impl<F: Future<Output = ExecuteActivityResult> + Unpin> Future for InSpan<F> {
    type Output = ExecuteActivityResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let poll = {
            let _entered = this.span.as_ref().map(Span::enter);
            let _session = this.session.clone().map(llm::default_session);
            Pin::new(&mut this.inner).poll(cx)
        };
        if let Poll::Ready(result) = &poll {
            if let Some(mut span) = this.span.take() {
                record_outcome(&mut span, result);
            }
        }
        poll
    }
}

fn record_outcome(span: &mut Span, result: &ExecuteActivityResult) {
    match result {
        Ok(_) => span.set_status(SpanStatus::Success),
        Err(ActivityError::Application(failure)) => {
            let error_type = failure.type_name().unwrap_or("ApplicationFailure");
            span.set_error(
                error_type,
                &failure.source_error().to_string(),
                "application",
            );
            span.set_metadata("temporal.non_retryable", &failure.is_non_retryable());
        }
        Err(ActivityError::Cancelled { .. }) => span.set_status(SpanStatus::Canceled),
        Err(ActivityError::WillCompleteAsync) => {
            span.set_metadata("temporal.will_complete_async", &true);
        }
        Err(other) => span.set_error("ActivityError", &format!("{other:?}"), "unknown"),
    }
}
