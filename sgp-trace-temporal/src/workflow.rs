//! The workflow side: a deterministic span for each workflow run, sent only outside replay,
//! and the span context carried into activities, child workflows, signals and
//! continue-as-new.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use serde_json::{Map, Value};
use sgp_trace::{Id, SpanContext, SpanItem, SpanStatus, SpanType, Timestamp};
use temporalio_workflow::workflow_interceptors::{
    CancellableWorkflowOutboundFuture, ContinueAsNewInput, ContinueAsNewResult,
    ExecuteWorkflowInput, ExecuteWorkflowResult, ScheduleActivityInput, ScheduleActivityResult,
    ScheduleLocalActivityInput, SignalWorkflowInput, SignalWorkflowResult, StartChildWorkflowInput,
    StartChildWorkflowResult, SyncWorkflowInterceptorContext, WorkflowInterceptor,
    WorkflowInterceptorConstructor, WorkflowInterceptorContext, WorkflowInterceptorFuture,
    WorkflowNext,
};
use temporalio_workflow::{WorkflowContextKey, WorkflowRandomStream, WorkflowTermination};

use crate::header;

/// The name of the workflow random stream the span ids come from. A named stream of its own
/// keeps the workflow's own `random()` and `uuid4()` sequences untouched.
const RANDOM_STREAM: &str = "sgp-trace-temporal";

/// The workflow context key under which the workflow run's span context is kept, for workflow
/// code to read with `ctx.context_value::<WorkflowSpan>()` (see
/// [`workflow_span_context`](crate::workflow_span_context)).
pub struct WorkflowSpan;

impl WorkflowContextKey for WorkflowSpan {
    type Value = SpanContext;
}

/// The workflow context key that overrides, for the calls made inside its scope, the span
/// that activities, child workflows and signals are parented to. Set it with
/// `ctx.with_context_value::<CurrentSpan, _>(context, future)` (or
/// [`SpanBuffer::scope`](crate::SpanBuffer::scope)).
pub struct CurrentSpan;

impl WorkflowContextKey for CurrentSpan {
    type Value = SpanContext;
}

/// The workflow interceptor to register on workers:
/// `WorkerOptions::new(queue).workflow_interceptor(sgp_trace_temporal::workflow_interceptor())`.
///
/// For each workflow run it makes one span, named after the workflow type, whose parent is
/// the span context in the start headers (the client's span through [`ClientTracing`], or the
/// parent workflow's span for a child workflow), or which starts a trace when there is none.
/// The span's id, and the trace id of a new trace, come from a workflow random stream, and
/// its start and end times from `workflow_time()`, so they are the same on every replay and
/// on every worker. Its start is sent when the run begins and its end when the run
/// completes, fails, is canceled or continues as new; nothing is sent while history is being
/// replayed, so a replay (a worker restart, an evicted workflow, a disabled workflow cache)
/// sends no span twice.
///
/// The span context goes into the headers of every activity, local activity, child workflow,
/// signal and continue-as-new that the workflow issues. While workflow code runs outside
/// replay, the workflow span is also the current sgp-trace span, so `#[traced]` helpers there
/// become its children; during replay there is no current span and they record nothing.
///
/// [`ClientTracing`]: crate::ClientTracing
pub fn workflow_interceptor() -> WorkflowInterceptorConstructor {
    WorkflowInterceptorConstructor::new(|_view| WorkflowTracing::default())
}

#[derive(Default)]
struct WorkflowTracing {
    workflow_span: Rc2<Option<SpanContext>>,
    run_parent: Rc2<Option<SpanContext>>,
}

type Rc2<T> = std::rc::Rc<RefCell<T>>;

/// A deterministic UUID (version 4 layout) from the workflow's random stream.
fn deterministic_id(random: &WorkflowRandomStream) -> Id {
    let bits: u128 = random.random();
    let uuid = uuid::Builder::from_random_bytes(bits.to_le_bytes()).into_uuid();
    Id::new(uuid.to_string()).expect("a UUID is a valid id")
}

fn timestamp(time: Option<SystemTime>) -> Timestamp {
    Timestamp::from(time.unwrap_or(SystemTime::UNIX_EPOCH))
}

impl WorkflowTracing {
    fn outbound_context(&self, scoped: Option<std::rc::Rc<SpanContext>>) -> Option<SpanContext> {
        scoped
            .map(|context| (*context).clone())
            .or_else(|| self.workflow_span.borrow().clone())
    }
}

impl WorkflowInterceptor for WorkflowTracing {
    fn execute<'a>(
        &'a self,
        ctx: WorkflowInterceptorContext,
        input: ExecuteWorkflowInput,
        next: WorkflowNext<
            'a,
            ExecuteWorkflowInput,
            WorkflowInterceptorFuture<'a, ExecuteWorkflowResult>,
        >,
    ) -> WorkflowInterceptorFuture<'a, ExecuteWorkflowResult> {
        let parent = header::extract(input.headers());
        let random = ctx.random_stream(RANDOM_STREAM);
        let span_id = deterministic_id(&random);
        let trace_id = match &parent {
            Some(parent) => parent.trace_id.clone(),
            None => deterministic_id(&random),
        };
        let context = SpanContext {
            trace_id,
            span_id,
            group_id: parent.as_ref().and_then(|p| p.group_id.clone()),
        };
        *self.workflow_span.borrow_mut() = Some(context.clone());
        *self.run_parent.borrow_mut() = parent.clone();

        let mut metadata = Map::new();
        for (key, value) in [
            ("temporal.workflow_type", ctx.workflow_type()),
            ("temporal.workflow_id", ctx.workflow_id()),
            ("temporal.run_id", ctx.run_id()),
            ("temporal.task_queue", ctx.task_queue()),
            ("temporal.namespace", ctx.namespace()),
        ] {
            metadata.insert(key.to_owned(), Value::String(value.to_owned()));
        }
        let mut item = SpanItem {
            name: ctx.workflow_type().to_owned().into(),
            trace_id: context.trace_id.clone(),
            id: context.span_id.clone(),
            parent_id: parent.as_ref().map(|p| p.span_id.clone()),
            group_id: context.group_id.clone(),
            start_timestamp: timestamp(ctx.workflow_time()),
            end_timestamp: None,
            status: None,
            span_type: if parent.is_some() {
                SpanType::Standalone
            } else {
                SpanType::Tracer
            },
            input: None,
            output: None,
            metadata: Some(Arc::new(metadata)),
            observability: None,
        };
        if !ctx.is_replaying_history_events() {
            sgp_trace::record_item(item.clone());
        }

        let end_ctx = ctx.clone();
        let body = async move {
            let result = next.run(input).await;
            if !end_ctx.is_replaying_history_events() && finish_item(&mut item, &result) {
                item.end_timestamp =
                    Some(timestamp(end_ctx.workflow_time()).max(item.start_timestamp));
                sgp_trace::record_item(item);
            }
            result
        };
        let scoped = ctx.with_context_value::<WorkflowSpan, _>(context.clone(), body);
        WorkflowInterceptorFuture::new(LiveContext {
            ctx,
            context,
            inner: Box::pin(scoped),
        })
    }

    fn schedule_activity(
        &self,
        ctx: WorkflowInterceptorContext,
        mut input: ScheduleActivityInput,
        next: WorkflowNext<
            'static,
            ScheduleActivityInput,
            CancellableWorkflowOutboundFuture<ScheduleActivityResult>,
        >,
    ) -> CancellableWorkflowOutboundFuture<ScheduleActivityResult> {
        if let Some(context) = self.outbound_context(ctx.context_value::<CurrentSpan>()) {
            header::inject(&context, input.headers_mut());
        }
        next.run(input)
    }

    fn schedule_local_activity(
        &self,
        ctx: WorkflowInterceptorContext,
        mut input: ScheduleLocalActivityInput,
        next: WorkflowNext<
            'static,
            ScheduleLocalActivityInput,
            CancellableWorkflowOutboundFuture<ScheduleActivityResult>,
        >,
    ) -> CancellableWorkflowOutboundFuture<ScheduleActivityResult> {
        if let Some(context) = self.outbound_context(ctx.context_value::<CurrentSpan>()) {
            header::inject(&context, input.headers_mut());
        }
        next.run(input)
    }

    fn start_child_workflow(
        &self,
        ctx: WorkflowInterceptorContext,
        mut input: StartChildWorkflowInput,
        next: WorkflowNext<
            'static,
            StartChildWorkflowInput,
            CancellableWorkflowOutboundFuture<StartChildWorkflowResult>,
        >,
    ) -> CancellableWorkflowOutboundFuture<StartChildWorkflowResult> {
        if let Some(context) = self.outbound_context(ctx.context_value::<CurrentSpan>()) {
            header::inject(&context, input.headers_mut());
        }
        next.run(input)
    }

    fn signal_workflow(
        &self,
        ctx: WorkflowInterceptorContext,
        mut input: SignalWorkflowInput,
        next: WorkflowNext<
            'static,
            SignalWorkflowInput,
            CancellableWorkflowOutboundFuture<SignalWorkflowResult>,
        >,
    ) -> CancellableWorkflowOutboundFuture<SignalWorkflowResult> {
        if let Some(context) = self.outbound_context(ctx.context_value::<CurrentSpan>()) {
            header::inject(&context, input.headers_mut());
        }
        next.run(input)
    }

    fn continue_as_new(
        &self,
        ctx: SyncWorkflowInterceptorContext,
        mut input: ContinueAsNewInput,
        next: WorkflowNext<'static, ContinueAsNewInput, ContinueAsNewResult>,
    ) -> ContinueAsNewResult {
        // The next run is a sibling of this one under this run's parent; a run that started
        // the trace hands on its own span, so the chain of runs stays in one trace.
        let _ = ctx;
        let context = self
            .run_parent
            .borrow()
            .clone()
            .or_else(|| self.workflow_span.borrow().clone());
        if let Some(context) = context {
            header::inject(&context, input.headers_mut());
        }
        next.run(input)
    }
}

/// Sets the final status of the workflow span; `false` when no end must be sent (the run
/// was evicted from the cache and will be resumed elsewhere).
fn finish_item(item: &mut SpanItem, result: &ExecuteWorkflowResult) -> bool {
    let metadata = Arc::make_mut(item.metadata.get_or_insert_with(Default::default));
    item.status = Some(match result {
        Ok(_) => SpanStatus::Success,
        Err(WorkflowTermination::Evicted) => return false,
        Err(WorkflowTermination::ContinueAsNew(_)) => {
            metadata.insert("temporal.continued_as_new".into(), Value::Bool(true));
            SpanStatus::Success
        }
        Err(WorkflowTermination::Cancelled { .. }) => SpanStatus::Canceled,
        Err(WorkflowTermination::Failed(error)) => {
            metadata.insert("error".into(), Value::Bool(true));
            metadata.insert("error_type".into(), Value::String("WorkflowFailure".into()));
            metadata.insert("error_message".into(), Value::String(error.to_string()));
            metadata.insert("error_category".into(), Value::String("application".into()));
            SpanStatus::Error
        }
    });
    true
}

/// Polls the workflow with its span current in sgp-trace, outside replay only.
struct LiveContext<F> {
    ctx: WorkflowInterceptorContext,
    context: SpanContext,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for LiveContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _attached =
            (!this.ctx.is_replaying_history_events()).then(|| this.context.clone().attach());
        this.inner.as_mut().poll(cx)
    }
}
