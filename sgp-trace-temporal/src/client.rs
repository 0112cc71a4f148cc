//! The client side: the current span goes into the headers of the workflows it starts,
//! signals, queries and updates.

use futures::future::BoxFuture;
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

use crate::header;

/// A client interceptor that puts [`sgp_trace::current_span`] into the Temporal headers of
/// workflow starts, signals, queries and updates, so the workflow (and through the worker
/// interceptors, its activities) continue the caller's trace.
///
/// It creates no span of its own: the caller's span is the parent of the workflow's span.
/// With no current span, nothing is added and the workflow starts its own trace.
///
/// ```no_run
/// # fn f(connection: temporalio_client::Connection) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use temporalio_client::{Client, ClientOptions};
/// let options = ClientOptions::new("default")
///     .client_interceptors(vec![Arc::new(sgp_trace_temporal::ClientTracing) as _])
///     .build();
/// let client = Client::new(connection, options)?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientTracing;

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
        inject_current(&mut input.options.header);
        next.run(input)
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
        inject_current(&mut input.options.header);
        next.run(input)
    }

    fn signal_workflow<'a>(
        &'a self,
        mut input: SignalWorkflowInput,
        next: Next<'a, SignalWorkflowInput, Fut<'a, (), WorkflowInteractionError>>,
    ) -> Fut<'a, (), WorkflowInteractionError> {
        inject_current(&mut input.options.header);
        next.run(input)
    }

    fn query_workflow<'a>(
        &'a self,
        mut input: QueryWorkflowInput,
        next: Next<'a, QueryWorkflowInput, Fut<'a, QueryWorkflowOutput, WorkflowQueryError>>,
    ) -> Fut<'a, QueryWorkflowOutput, WorkflowQueryError> {
        inject_current(&mut input.options.header);
        next.run(input)
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
        inject_current(&mut input.options.header);
        next.run(input)
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
        inject_current(&mut input.options.start_header);
        inject_current(&mut input.options.update_header);
        next.run(input)
    }
}
