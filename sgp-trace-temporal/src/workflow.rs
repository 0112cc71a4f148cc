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
    ExecuteWorkflowInput, ExecuteWorkflowResult, HandleQueryInput, HandleQueryResult,
    HandleSignalInput, HandleSignalResult, HandleUpdateInput, HandleUpdateResult,
    ScheduleActivityInput, ScheduleActivityResult, ScheduleLocalActivityInput, SignalWorkflowInput,
    SignalWorkflowResult, StartChildWorkflowInput, StartChildWorkflowResult,
    SyncWorkflowInterceptorContext, ValidateUpdateInput, ValidateUpdateResult, WorkflowInterceptor,
    WorkflowInterceptorConstructor, WorkflowInterceptorContext, WorkflowInterceptorFuture,
    WorkflowNext,
};
use temporalio_workflow::workflows::WorkflowError;
use temporalio_workflow::{WorkflowContextKey, WorkflowRandomStream, WorkflowTermination};

use crate::flush::SpanActivities;
use crate::header;
use crate::sent;
use crate::shape::{Kind, SpanNames, UPDATE_ID_KEY};

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
/// For each workflow run it makes one span, `RunWorkflow:<workflow type>` with kind server,
/// whose parent is the span context in the start headers (the client's `StartWorkflow` span
/// through [`ClientTracing`], or the parent workflow's `StartChildWorkflow` span for a child
/// workflow), or which starts a trace when there is none.
/// The span's id, and the trace id of a new trace, come from a workflow random stream, and
/// its start and end times from `workflow_time()`, so they are the same on every replay and
/// on every worker. Its start is sent when the run begins and its end when the run
/// completes, fails, is canceled or continues as new; nothing is sent while history is being
/// replayed, so a replay (a worker restart, an evicted workflow, a disabled workflow cache)
/// sends no span twice.
///
/// Where the workflow schedules an activity (or local activity) it makes a
/// `StartActivity:<activity type>` span, where it starts a child workflow a
/// `StartChildWorkflow:<workflow type>` span, and where it signals another workflow a
/// `SignalExternalWorkflow:<signal name>` span, all of kind client, ended at once as in
/// Temporal's tracing interceptor; each is the parent of the callee's span. Their ids and
/// times are deterministic too and they are recorded outside replay only. The workflow ids
/// are metadata `temporalWorkflowID` and `temporalRunID`. [`workflow_interceptor_with`] with
/// [`SpanNames::Plain`] names the run span after the workflow type alone and makes no
/// calling-side spans.
///
/// Signal and update handlers run in `HandleSignal:<name>` and `HandleUpdate:<name>` spans
/// (kind server, children of the sender's `SignalWorkflow` / `StartWorkflowUpdate` span from
/// the message headers, else of the run), deterministic and recorded once when the handler
/// ends outside replay. A query runs in a `HandleQuery:<name>` span whose ids and times come
/// from sgp-trace, not from the workflow: a query is read-only and not in history, so its
/// span draws nothing from the workflow's random streams. So does an update's validator, in
/// a `ValidateUpdate:<name>` span beside the `HandleUpdate:<name>` one (recorded outside
/// replay, ERROR with the validator's message when it rejects the update, and with the
/// update's id as metadata `temporalUpdateID`).
///
/// On a worker without a workflow cache the SDK runs a workflow's first activation again,
/// not marked as replay, when a later update comes in (the signal of a signal-with-start is
/// handled again, the run's start recorded again). The interceptor remembers the events it
/// recorded in this process by span id and sends each once; see
/// [`repeated_events_skipped`](crate::repeated_events_skipped).
///
/// The span context goes into the headers of every activity, local activity, child workflow,
/// signal and continue-as-new that the workflow issues. While workflow code runs outside
/// replay, the workflow span is also the current sgp-trace span, so `#[traced]` helpers there
/// become its children; during replay there is no current span and they record nothing.
///
/// [`ClientTracing`]: crate::ClientTracing
pub fn workflow_interceptor() -> WorkflowInterceptorConstructor {
    workflow_interceptor_with(SpanNames::default())
}

/// [`workflow_interceptor`] with spans named and annotated as `names` says.
pub fn workflow_interceptor_with(names: SpanNames) -> WorkflowInterceptorConstructor {
    WorkflowInterceptorConstructor::new(move |_view| WorkflowTracing {
        names,
        workflow_span: Rc2::default(),
        run_parent: Rc2::default(),
    })
}

struct WorkflowTracing {
    names: SpanNames,
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

    /// The context the callee of an outbound call continues: a calling-side span
    /// `<operation>:<subject>` under the current one in the interceptor shape, else the
    /// current one.
    fn caller_context(
        &self,
        ctx: &WorkflowInterceptorContext,
        operation: &str,
        subject: &str,
    ) -> Option<SpanContext> {
        let parent = self.outbound_context(ctx.context_value::<CurrentSpan>());
        if !self.names.caller_spans() {
            return parent;
        }
        Some(caller_span(
            ctx,
            self.names,
            self.names.name(operation, subject),
            parent,
        ))
    }

    /// The context an activity continues: its `StartActivity` span, except for the
    /// span-flushing activity, the tracing's own plumbing, which is not traced.
    fn activity_context(
        &self,
        ctx: &WorkflowInterceptorContext,
        activity_type: &str,
    ) -> Option<SpanContext> {
        if activity_type == SpanActivities::upsert_spans.name() {
            return self.outbound_context(ctx.context_value::<CurrentSpan>());
        }
        self.caller_context(ctx, "StartActivity", activity_type)
    }
}

/// Records a calling-side span that ends where it starts (as the tracing interceptor's
/// `Start*` spans do) and returns its context. The ids are drawn on replay too, so the
/// stream stays in step; the span is recorded outside replay only.
fn caller_span(
    ctx: &WorkflowInterceptorContext,
    names: SpanNames,
    name: String,
    parent: Option<SpanContext>,
) -> SpanContext {
    let (context, item) = deterministic_span(ctx, names, name, parent, Kind::Client);
    if !ctx.is_replaying_history_events() {
        sent::record_once(item);
    }
    context
}

/// A workflow-side span with ids from the workflow's random stream and times from
/// `workflow_time()`, ended SUCCESS where it starts; the caller records it.
fn deterministic_span(
    ctx: &WorkflowInterceptorContext,
    names: SpanNames,
    name: String,
    parent: Option<SpanContext>,
    kind: Kind,
) -> (SpanContext, SpanItem) {
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
    let mut metadata = Map::new();
    for (key, value) in [
        (names.workflow_id_key(), ctx.workflow_id()),
        (names.run_id_key(), ctx.run_id()),
    ]
    .into_iter()
    .chain(names.kind(kind))
    {
        metadata.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    let now = timestamp(ctx.workflow_time());
    let item = SpanItem {
        name: name.into(),
        trace_id: context.trace_id.clone(),
        id: context.span_id.clone(),
        parent_id: parent.as_ref().map(|p| p.span_id.clone()),
        group_id: context.group_id.clone(),
        start_timestamp: now,
        end_timestamp: Some(now),
        status: Some(SpanStatus::Success),
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
    (context, item)
}

/// Runs a signal or update handler in a `Handle*` span of kind server: child of the
/// sender's span from the message's headers (else of the workflow run), with deterministic
/// ids and times, recorded once when the handler ends outside replay.
fn handler_span<'a, T: 'a, E: std::fmt::Display + 'a>(
    ctx: WorkflowInterceptorContext,
    names: SpanNames,
    name: String,
    parent: Option<SpanContext>,
    handler: WorkflowInterceptorFuture<'a, Result<T, E>>,
) -> WorkflowInterceptorFuture<'a, Result<T, E>> {
    let (context, mut item) = deterministic_span(&ctx, names, name, parent, Kind::Server);
    let end_ctx = ctx.clone();
    let body = async move {
        let result = handler.await;
        if !end_ctx.is_replaying_history_events() {
            if let Err(error) = &result {
                item.status = Some(SpanStatus::Error);
                let metadata = item.metadata_mut();
                insert_error(metadata, "WorkflowError", &error.to_string());
            }
            item.end_timestamp = Some(timestamp(end_ctx.workflow_time()).max(item.start_timestamp));
            sent::record_once(item);
        }
        result
    };
    WorkflowInterceptorFuture::new(LiveContext {
        ctx,
        context,
        inner: Box::pin(body),
    })
}

fn insert_error(metadata: &mut Map<String, Value>, error_type: &str, message: &str) {
    metadata.insert("error".into(), Value::Bool(true));
    metadata.insert("error_type".into(), Value::String(error_type.into()));
    metadata.insert("error_message".into(), Value::String(message.into()));
    metadata.insert("error_category".into(), Value::String("application".into()));
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
            (self.names.workflow_id_key(), ctx.workflow_id()),
            (self.names.run_id_key(), ctx.run_id()),
            ("temporal.task_queue", ctx.task_queue()),
            ("temporal.namespace", ctx.namespace()),
        ]
        .into_iter()
        .chain(self.names.kind(Kind::Server))
        {
            metadata.insert(key.to_owned(), Value::String(value.to_owned()));
        }
        let mut item = SpanItem {
            name: self.names.name("RunWorkflow", ctx.workflow_type()).into(),
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
            sent::record_once(item.clone());
        }

        let end_ctx = ctx.clone();
        let body = async move {
            let result = next.run(input).await;
            if !end_ctx.is_replaying_history_events() && finish_item(&mut item, &result) {
                item.end_timestamp =
                    Some(timestamp(end_ctx.workflow_time()).max(item.start_timestamp));
                sent::record_once(item);
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

    fn handle_signal<'a>(
        &'a self,
        ctx: WorkflowInterceptorContext,
        input: HandleSignalInput,
        next: WorkflowNext<
            'a,
            HandleSignalInput,
            WorkflowInterceptorFuture<'a, HandleSignalResult>,
        >,
    ) -> WorkflowInterceptorFuture<'a, HandleSignalResult> {
        if !self.names.caller_spans() {
            return next.run(input);
        }
        let name = self.names.name("HandleSignal", input.name());
        let parent =
            header::extract(input.headers()).or_else(|| self.workflow_span.borrow().clone());
        handler_span(ctx, self.names, name, parent, next.run(input))
    }

    fn handle_update<'a>(
        &'a self,
        ctx: WorkflowInterceptorContext,
        input: HandleUpdateInput,
        next: WorkflowNext<
            'a,
            HandleUpdateInput,
            WorkflowInterceptorFuture<'a, HandleUpdateResult>,
        >,
    ) -> WorkflowInterceptorFuture<'a, HandleUpdateResult> {
        if !self.names.caller_spans() {
            return next.run(input);
        }
        let name = self.names.name("HandleUpdate", input.name());
        let parent =
            header::extract(input.headers()).or_else(|| self.workflow_span.borrow().clone());
        handler_span(ctx, self.names, name, parent, next.run(input))
    }

    /// A query is read-only and not in history: its span takes its ids and times from
    /// sgp-trace, not from the workflow, so recording it draws nothing from the workflow's
    /// random streams and changes nothing a replay sees.
    fn handle_query(
        &self,
        ctx: SyncWorkflowInterceptorContext,
        input: HandleQueryInput,
        next: WorkflowNext<'_, HandleQueryInput, HandleQueryResult>,
    ) -> HandleQueryResult {
        if !self.names.caller_spans() {
            return next.run(input);
        }
        let name = self.names.name("HandleQuery", input.name());
        let parent =
            header::extract(input.headers()).or_else(|| self.workflow_span.borrow().clone());
        let mut span = read_only_span(&ctx, self.names, name, parent).start_detached();
        let result = next.run(input);
        end_read_only(&mut span, "WorkflowError", &result);
        result
    }

    /// An update's validator runs in a `ValidateUpdate:<name>` span, child of the sender's
    /// `StartWorkflowUpdate` span from the update's headers (else of the run), ERROR with the
    /// message when it rejects the update. A validator may not touch workflow state, so,
    /// like a query's, its span takes its ids and times from sgp-trace; it is recorded
    /// outside replay only.
    fn validate_update(
        &self,
        ctx: SyncWorkflowInterceptorContext,
        input: ValidateUpdateInput,
        next: WorkflowNext<'_, ValidateUpdateInput, ValidateUpdateResult>,
    ) -> ValidateUpdateResult {
        if !self.names.caller_spans() || ctx.is_replaying_history_events() {
            return next.run(input);
        }
        let name = self.names.name("ValidateUpdate", input.name());
        let parent =
            header::extract(input.headers()).or_else(|| self.workflow_span.borrow().clone());
        let mut span = read_only_span(&ctx, self.names, name, parent)
            .metadata(UPDATE_ID_KEY, input.id())
            .start_detached();
        let result = next.run(input);
        end_read_only(&mut span, "UpdateRejected", &result);
        result
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
        if let Some(context) = self.activity_context(&ctx, input.activity_type()) {
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
        if let Some(context) = self.activity_context(&ctx, input.activity_type()) {
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
        let context = self.caller_context(&ctx, "StartChildWorkflow", input.workflow_type());
        if let Some(context) = context {
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
        let context = self.caller_context(&ctx, "SignalExternalWorkflow", input.signal_name());
        if let Some(context) = context {
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

/// The span of a read-only handler (a query, an update's validator), which may draw nothing
/// from the workflow: ids and times from sgp-trace, under `parent` or in a trace of its own.
fn read_only_span(
    ctx: &SyncWorkflowInterceptorContext,
    names: SpanNames,
    name: String,
    parent: Option<SpanContext>,
) -> sgp_trace::SpanBuilder {
    let builder = match parent {
        Some(parent) => sgp_trace::create_span(name).parent(parent),
        None => sgp_trace::create_trace(name),
    };
    let mut builder = builder
        .metadata(names.workflow_id_key(), ctx.workflow_id())
        .metadata(names.run_id_key(), ctx.run_id());
    if let Some((key, kind)) = names.kind(Kind::Server) {
        builder = builder.metadata(key, kind);
    }
    builder
}

/// Ends a read-only handler's span SUCCESS, or ERROR with the message the caller gets.
fn end_read_only<T>(
    span: &mut sgp_trace::Span,
    error_type: &str,
    result: &Result<T, WorkflowError>,
) {
    match result {
        Ok(_) => span.set_status(SpanStatus::Success),
        Err(error) => span.set_error(error_type, &failure_message(error), "application"),
    }
}

/// The message of the failure the SDK sends for `error`: a handler's own error as it is,
/// without the `Display` prefix of its wrapper.
fn failure_message(error: &WorkflowError) -> String {
    match error {
        WorkflowError::Execution(source) => source.to_string(),
        other => other.to_string(),
    }
}

/// Sets the final status of the workflow span; `false` when no end must be sent (the run
/// was evicted from the cache and will be resumed elsewhere).
fn finish_item(item: &mut SpanItem, result: &ExecuteWorkflowResult) -> bool {
    let metadata = item.metadata_mut();
    item.status = Some(match result {
        Ok(_) => SpanStatus::Success,
        Err(WorkflowTermination::Evicted) => return false,
        Err(WorkflowTermination::ContinueAsNew(_)) => {
            metadata.insert("temporal.continued_as_new".into(), Value::Bool(true));
            SpanStatus::Success
        }
        Err(WorkflowTermination::Cancelled { .. }) => SpanStatus::Canceled,
        Err(WorkflowTermination::Failed(error)) => {
            insert_error(metadata, "WorkflowFailure", &error.to_string());
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
