//! The client side: the current span goes into the headers of the workflows it starts,
//! signals, queries and updates.

use futures::future::BoxFuture;
use futures::FutureExt;
use sgp_trace::{create_span, create_trace, Span, SpanStatus};
use temporalio_client::errors::{
    WorkflowInteractionError, WorkflowQueryError, WorkflowStartError, WorkflowUpdateError,
    WorkflowUpdateWithStartError,
};
use temporalio_client::{
    ClientInterceptor, Next, QueryWorkflowInput, QueryWorkflowOutput, SignalWithStartWorkflowInput,
    SignalWorkflowInput, StartWorkflowInput, StartWorkflowOutput, StartWorkflowUpdateInput,
    StartWorkflowUpdateOutput, UpdateWithStartWorkflowInput, UpdateWithStartWorkflowOutput,
};
use temporalio_common::protos::temporal::api::common::v1::Header;
use temporalio_common::protos::temporal::api::update::v1::{outcome, Outcome};

use crate::header;
use crate::shape::{Kind, SpanNames, UPDATE_ID_KEY};

/// A client interceptor that puts the caller's trace into the Temporal headers of workflow
/// starts, signals, queries and updates, so the workflow (and through the worker
/// interceptors, its activities) continue it.
///
/// A workflow start is a span `StartWorkflow:<workflow type>` (`SignalWithStartWorkflow:`
/// for signal-with-start) of kind client, child of [`sgp_trace::current_span`] or the root
/// of a new trace, with metadata `temporalWorkflowID` and, once the server answered,
/// `temporalRunID`; it ends ERROR with the message when the start fails, and the workflow run
/// is its child. Signals, queries and updates sent are spans too, `SignalWorkflow:<signal>`,
/// `QueryWorkflow:<query>` and `StartWorkflowUpdate:<update>`, parents of the workflow's
/// handler spans; an update's span has its id as metadata `temporalUpdateID` and ends ERROR
/// with the message when the server answers that the update was rejected or failed (known
/// when the call waits for the update to complete, as `execute_update` does). Update-with-start
/// is one span, `StartUpdateWithStartWorkflow:<workflow type>` (the name of Temporal's Python
/// tracing interceptor), parent of the run, of the update's validator and of its handler. With
/// [`SpanNames::Plain`] no span is made: the caller's span goes into the headers as it is,
/// and with no current span nothing is added.
///
/// ```no_run
/// # fn f(connection: temporalio_client::Connection) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use temporalio_client::{Client, ClientOptions};
/// use sgp_trace_temporal::ClientTracing;
/// let options = ClientOptions::new("default")
///     .client_interceptors(vec![Arc::new(ClientTracing::default()) as _])
///     .build();
/// let client = Client::new(connection, options)?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientTracing {
    names: SpanNames,
}

impl ClientTracing {
    /// The interceptor with spans named and annotated as `names` says.
    pub fn with_names(names: SpanNames) -> ClientTracing {
        ClientTracing { names }
    }

    /// The span of a client call on a workflow, in the interceptor shape only.
    fn start_span(&self, operation: &str, subject: &str, workflow_id: &str) -> Option<Span> {
        if !self.names.caller_spans() {
            return None;
        }
        let name = self.names.name(operation, subject);
        let builder = match sgp_trace::current_span() {
            Some(parent) => create_span(name).parent(parent),
            None => create_trace(name),
        };
        let mut builder = builder.metadata(self.names.workflow_id_key(), workflow_id);
        if let Some((key, kind)) = self.names.kind(Kind::Client) {
            builder = builder.metadata(key, kind);
        }
        Some(builder.start_detached())
    }
}

/// Puts `span`'s context, or without one the current span's, into the header.
fn inject_span(span: Option<&Span>, header: &mut Option<Header>) {
    match span.and_then(Span::context) {
        Some(context) => header::inject(&context, &mut header.get_or_insert_default().fields),
        None => inject_current(header),
    }
}

/// Runs a workflow start, ending its span with the outcome.
fn finish_start<'a, E: std::fmt::Display + Send + 'a>(
    names: SpanNames,
    span: Option<Span>,
    start: Fut<'a, StartWorkflowOutput, E>,
) -> Fut<'a, StartWorkflowOutput, E> {
    finish_call(span, "WorkflowStartError", start, move |span, output| {
        span.set_metadata(names.run_id_key(), &output.run_id);
        None
    })
}

/// Runs a client call, ending its span SUCCESS, or ERROR with the message when the call
/// fails or `on_ok` (which annotates the span with the answer) returns the failure the
/// server answered with (an update its validator rejected or its handler failed).
fn finish_call<'a, T: Send + 'a, E: std::fmt::Display + Send + 'a>(
    span: Option<Span>,
    error_type: &'static str,
    call: Fut<'a, T, E>,
    on_ok: impl FnOnce(&mut Span, &T) -> Option<String> + Send + 'a,
) -> Fut<'a, T, E> {
    let Some(mut span) = span else {
        return call;
    };
    async move {
        let result = call.await;
        match &result {
            Ok(output) => match on_ok(&mut span, output) {
                None => span.set_status(SpanStatus::Success),
                Some(failure) => span.set_error("WorkflowUpdateFailed", &failure, "application"),
            },
            Err(error) => span.set_error(error_type, &error.to_string(), "unknown"),
        }
        result
    }
    .boxed()
}

/// The message of an update's outcome when the update failed (or its validator rejected it).
fn update_failure(outcome: Option<&Outcome>) -> Option<String> {
    match outcome?.value.as_ref()? {
        outcome::Value::Failure(failure) => Some(failure.message.clone()),
        outcome::Value::Success(_) => None,
    }
}

fn inject_current(header: &mut Option<Header>) {
    if let Some(context) = sgp_trace::current_span() {
        header::inject(&context, &mut header.get_or_insert_default().fields);
    }
}

type Fut<'a, T, E> = BoxFuture<'a, Result<T, E>>;

impl ClientInterceptor for ClientTracing {
    fn start_workflow<'a>(
        &'a self,
        mut input: StartWorkflowInput,
        next: Next<'a, StartWorkflowInput, Fut<'a, StartWorkflowOutput, WorkflowStartError>>,
    ) -> Fut<'a, StartWorkflowOutput, WorkflowStartError> {
        let span = self.start_span(
            "StartWorkflow",
            &input.workflow_type,
            &input.options.workflow_id,
        );
        inject_span(span.as_ref(), &mut input.options.header);
        finish_start(self.names, span, next.run(input))
    }

    fn signal_with_start_workflow<'a>(
        &'a self,
        mut input: SignalWithStartWorkflowInput,
        next: Next<
            'a,
            SignalWithStartWorkflowInput,
            Fut<'a, StartWorkflowOutput, WorkflowStartError>,
        >,
    ) -> Fut<'a, StartWorkflowOutput, WorkflowStartError> {
        let span = self.start_span(
            "SignalWithStartWorkflow",
            &input.workflow_type,
            &input.options.workflow_id,
        );
        inject_span(span.as_ref(), &mut input.options.header);
        finish_start(self.names, span, next.run(input))
    }

    fn signal_workflow<'a>(
        &'a self,
        mut input: SignalWorkflowInput,
        next: Next<'a, SignalWorkflowInput, Fut<'a, (), WorkflowInteractionError>>,
    ) -> Fut<'a, (), WorkflowInteractionError> {
        let span = self.start_span("SignalWorkflow", &input.signal_name, &input.workflow_id);
        inject_span(span.as_ref(), &mut input.options.header);
        finish_call(span, "WorkflowInteractionError", next.run(input), |_, _| {
            None
        })
    }

    fn query_workflow<'a>(
        &'a self,
        mut input: QueryWorkflowInput,
        next: Next<'a, QueryWorkflowInput, Fut<'a, QueryWorkflowOutput, WorkflowQueryError>>,
    ) -> Fut<'a, QueryWorkflowOutput, WorkflowQueryError> {
        let span = self.start_span("QueryWorkflow", &input.query_name, &input.workflow_id);
        inject_span(span.as_ref(), &mut input.options.header);
        finish_call(span, "WorkflowQueryError", next.run(input), |_, _| None)
    }

    fn start_workflow_update<'a>(
        &'a self,
        mut input: StartWorkflowUpdateInput,
        next: Next<
            'a,
            StartWorkflowUpdateInput,
            Fut<'a, StartWorkflowUpdateOutput, WorkflowUpdateError>,
        >,
    ) -> Fut<'a, StartWorkflowUpdateOutput, WorkflowUpdateError> {
        let span = self.start_span(
            "StartWorkflowUpdate",
            &input.update_name,
            &input.workflow_id,
        );
        inject_span(span.as_ref(), &mut input.options.header);
        finish_call(
            span,
            "WorkflowUpdateError",
            next.run(input),
            |span, output| {
                span.set_metadata(UPDATE_ID_KEY, &output.update_id);
                update_failure(output.known_outcome.as_ref())
            },
        )
    }

    fn update_with_start_workflow<'a>(
        &'a self,
        mut input: UpdateWithStartWorkflowInput,
        next: Next<
            'a,
            UpdateWithStartWorkflowInput,
            Fut<'a, UpdateWithStartWorkflowOutput, WorkflowUpdateWithStartError>,
        >,
    ) -> Fut<'a, UpdateWithStartWorkflowOutput, WorkflowUpdateWithStartError> {
        let mut span = self.start_span(
            "StartUpdateWithStartWorkflow",
            &input.workflow_type,
            &input.options.workflow_id,
        );
        if let (Some(span), Some(update_id)) = (&mut span, &input.options.update_id) {
            span.set_metadata(UPDATE_ID_KEY, update_id);
        }
        inject_span(span.as_ref(), &mut input.options.start_header);
        inject_span(span.as_ref(), &mut input.options.update_header);
        let run_id_key = self.names.run_id_key();
        let call = next.run(input);
        finish_call(
            span,
            "WorkflowUpdateWithStartError",
            call,
            move |span, output| {
                span.set_metadata(UPDATE_ID_KEY, &output.update_id);
                if let Some(run_id) = &output.run_id {
                    span.set_metadata(run_id_key, run_id);
                }
                update_failure(output.known_outcome.as_ref())
            },
        )
    }
}
