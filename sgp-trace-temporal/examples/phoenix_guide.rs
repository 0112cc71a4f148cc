//! The guide's Temporal + OpenTelemetry setup with sgp-trace: a workflow with a child
//! workflow, a signal, a query and an LLM activity, its spans exported over OTLP (the
//! `OTEL_EXPORTER_OTLP_*` variables, gRPC or HTTP) in the shape of Temporal's tracing
//! interceptor. Run by `tests/phoenix.sh` against a dev server and Arize Phoenix; prints the
//! workflow id as JSON for the check.
//!
//! ```text
//! temporal server start-dev --headless --ip 127.0.0.1 --port 7233
//! OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \
//!     cargo run -p sgp-trace-temporal --example phoenix_guide
//! ```

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sgp_trace::llm::{LlmSpanExt, TokenUsage};
use sgp_trace_otel::OtlpExporterBuilder;
use sgp_trace_temporal::{workflow_interceptor, ActivityTracing, ClientTracing};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, Url, WorkflowGetResultOptions,
    WorkflowQueryOptions, WorkflowSignalOptions, WorkflowStartOptions,
};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, ChildWorkflowOptions, Runtime, SyncWorkflowContext, Worker, WorkerOptions,
    WorkflowContext, WorkflowContextView, WorkflowResult,
};

const QUEUE: &str = "sgp-trace-phoenix-guide";

/// A second model call inside the activity, a span of its own: it takes the workflow id as
/// its session (`x-session-id`) without being told.
#[sgp_trace::traced(name = "moderate")]
async fn moderate(text: String) -> bool {
    sgp_trace::with_current_span(|span| {
        span.set_llm_model("omni-moderation-latest");
        span.set_llm_prompt(&text);
        span.set_llm_response("allowed");
    });
    true
}

struct GuideActivities;

#[activities]
impl GuideActivities {
    /// The guide's LLM activity: the model call recorded on the activity's own span.
    #[activity(name = "your_llm_activity")]
    async fn your_llm_activity(
        _ctx: ActivityContext,
        prompt: String,
    ) -> Result<String, ActivityError> {
        let response = format!("an answer to {prompt}");
        sgp_trace::with_current_span(|span| {
            span.set_llm_model("gpt-4o");
            span.set_llm_prompt(&prompt);
            span.set_llm_response(&response);
            span.set_llm_usage(TokenUsage::new(12, 7));
            span.set_llm_user("alice");
        });
        moderate(response.clone()).await;
        Ok(response)
    }
}

#[workflow]
#[derive(Default)]
pub struct YourSubWorkflow;

#[workflow_methods]
impl YourSubWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, topic: String) -> WorkflowResult<String> {
        Ok(format!("notes on {topic}"))
    }
}

#[workflow]
#[derive(Default)]
pub struct YourMainWorkflow {
    approved: bool,
}

#[workflow_methods]
impl YourMainWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, topic: String) -> WorkflowResult<String> {
        let child = ctx
            .start_child_workflow(
                YourSubWorkflow::run,
                topic,
                ChildWorkflowOptions::workflow_id(format!("{}-sub", ctx.workflow_id())),
            )
            .await?;
        let notes = child.result().await?;
        ctx.wait_condition(|s| s.approved).await?;
        let options = ActivityOptions::start_to_close_timeout(Duration::from_secs(30));
        let answer = ctx
            .execute_activity(GuideActivities::your_llm_activity, notes, options)
            .await?;
        Ok(answer)
    }

    #[signal]
    fn approve(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.approved = true;
    }

    #[query]
    fn status(&self, _ctx: &WorkflowContextView) -> String {
        if self.approved { "approved" } else { "waiting" }.to_owned()
    }
}

/// Connects to the server, waiting up to 30 s for it to come up.
async fn connect(url: Url) -> Result<Connection, Box<dyn std::error::Error>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match Connection::connect(ConnectionOptions::new(url.clone()).build()).await {
            Ok(connection) => return Ok(connection),
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = OtlpExporterBuilder::from_env()
        .service_name("sgp-trace-temporal-guide")
        .service_version(env!("CARGO_PKG_VERSION"))
        .build()?;
    let tracing = sgp_trace::init(sgp_trace::Config::builder().exporter(exporter).build()?);

    let address = std::env::var("TEMPORAL_ADDRESS").unwrap_or("http://127.0.0.1:7233".into());
    let connection = connect(Url::from_str(&address)?).await?;
    let client = Client::new(
        connection,
        ClientOptions::new("default")
            .client_interceptors(vec![Arc::new(ClientTracing::default()) as _])
            .build(),
    )?;
    let runtime = Runtime::from_current_tokio(Default::default())?;
    let options = WorkerOptions::new(QUEUE)
        .workflow_interceptor(workflow_interceptor())
        .activity_inbound_interceptor(ActivityTracing::default())
        .register_activities(GuideActivities)
        .register_workflow::<YourMainWorkflow>()?
        .register_workflow::<YourSubWorkflow>()?
        .build();
    let mut worker = Worker::new(&runtime, client.clone(), options)?;
    let stop = worker.shutdown_handle();

    let workflow_id = format!("guide-{}", sgp_trace::Id::random());
    let run = async {
        let handle = client
            .start_workflow(
                YourMainWorkflow::run,
                "SGP".to_string(),
                WorkflowStartOptions::new(QUEUE, &workflow_id).build(),
            )
            .await?;
        let status = handle
            .query(
                YourMainWorkflow::status,
                (),
                WorkflowQueryOptions::default(),
            )
            .await?;
        eprintln!("phoenix_guide: status before the signal: {status}");
        handle
            .signal(
                YourMainWorkflow::approve,
                (),
                WorkflowSignalOptions::default(),
            )
            .await?;
        let answer = handle
            .get_result(WorkflowGetResultOptions::default())
            .await?;
        stop();
        Ok::<_, Box<dyn std::error::Error>>(answer)
    };
    let (worked, answer) = tokio::join!(worker.run(), run);
    worked?;
    eprintln!("phoenix_guide: {}", answer?);

    tracing.shutdown()?;
    let stats = sgp_trace::stats();
    if stats.lost() > 0 {
        return Err(format!("spans lost: {stats:?}").into());
    }
    println!("{}", serde_json::json!({ "workflow_id": workflow_id }));
    Ok(())
}
