//! The guide's pattern 1 as users write it, against a real Temporal dev server and the local
//! SGP collector: no interceptor anywhere; the client puts its trace id and span id in the
//! workflow's input, the workflow hands them to its activities in theirs, and each activity
//! continues the trace with `create_span(..).parent(..)`.

mod support;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sgp_trace::{create_span, create_trace, Id, SpanContext};
use sgp_trace_collector::{Collector, CollectorConfig};
use support::DevServer;
use temporalio_client::{Client, ClientOptions, WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::RetryPolicy;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext, WorkflowResult,
};

const ACCOUNT: &str = "input-context-account";
const QUEUE: &str = "input-context";

/// Where the caller's trace is, as plain strings in the input (what the guide passes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceRef {
    pub trace_id: String,
    pub parent_span_id: String,
}

impl TraceRef {
    fn context(&self) -> Result<SpanContext, ActivityError> {
        let id = |text: &str| {
            Id::new(text).map_err(|error| std::io::Error::other(format!("bad id: {error}")))
        };
        Ok(SpanContext {
            trace_id: id(&self.trace_id)?,
            span_id: id(&self.parent_span_id)?,
            group_id: None,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderInput {
    pub order: String,
    pub trace: TraceRef,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepInput {
    pub item: String,
    pub trace: TraceRef,
}

#[sgp_trace::traced(name = "normalize")]
fn normalize(item: &str) -> String {
    item.trim().to_lowercase()
}

struct OrderActivities;

#[activities]
impl OrderActivities {
    /// Continues the caller's trace; `#[traced]` work inside is its child.
    #[activity]
    async fn lookup(_ctx: ActivityContext, input: StepInput) -> Result<String, ActivityError> {
        let _span = create_span("lookup")
            .parent(input.trace.context()?)
            .input(&input.item)
            .start();
        Ok(normalize(&input.item))
    }

    #[activity]
    async fn reserve(_ctx: ActivityContext, input: StepInput) -> Result<String, ActivityError> {
        let mut span = create_span("reserve")
            .parent(input.trace.context()?)
            .start();
        let reserved = format!("reserved {}", input.item);
        span.set_output(&reserved);
        Ok(reserved)
    }
}

#[workflow]
#[derive(Default)]
pub struct OrderWorkflow;

#[workflow_methods]
impl OrderWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: OrderInput) -> WorkflowResult<String> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(20))
            .retry_policy(RetryPolicy::builder().maximum_attempts(1).build())
            .build();
        let found = ctx
            .execute_activity(
                OrderActivities::lookup,
                StepInput {
                    item: input.order,
                    trace: input.trace.clone(),
                },
                options.clone(),
            )
            .await?;
        let reserved = ctx
            .execute_activity(
                OrderActivities::reserve,
                StepInput {
                    item: found,
                    trace: input.trace,
                },
                options,
            )
            .await?;
        Ok(reserved)
    }
}

#[test]
fn activities_continue_the_trace_passed_in_the_workflow_input() {
    let collector = Collector::start(CollectorConfig::default()).expect("the collector starts");
    let _tracing = sgp_trace::init(
        sgp_trace::Config::builder()
            .base_url(collector.base_url())
            .credentials("key", ACCOUNT)
            .flush_interval(Duration::from_millis(100))
            .build()
            .unwrap(),
    );
    let server = DevServer::start();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (trace_id, client_span_id) = tokio.block_on(async {
        let runtime = Runtime::from_current_tokio(Default::default()).expect("an SDK runtime");
        let connection = support::connection(server.port).await;
        let client = Client::new(connection, ClientOptions::new("default").build()).unwrap();
        let options = WorkerOptions::new(QUEUE)
            .register_activities(OrderActivities)
            .register_workflow::<OrderWorkflow>()
            .unwrap()
            .build();
        let mut worker = Worker::new(&runtime, client.clone(), options).expect("a worker");
        let stop = worker.shutdown_handle();
        let scenario = async {
            let trace = create_trace("place order").start_detached();
            let context = trace.context().expect("tracing records");
            let input = OrderInput {
                order: " Widget ".into(),
                trace: TraceRef {
                    trace_id: context.trace_id.to_string(),
                    parent_span_id: context.span_id.to_string(),
                },
            };
            let handle = client
                .start_workflow(
                    OrderWorkflow::run,
                    input,
                    WorkflowStartOptions::new(QUEUE, "order-1").build(),
                )
                .await
                .expect("the workflow starts");
            let result = handle
                .get_result(WorkflowGetResultOptions::default())
                .await
                .expect("the workflow completes");
            assert_eq!(result, "reserved widget");
            drop(trace);
            stop();
            (context.trace_id.to_string(), context.span_id.to_string())
        };
        let (ran, ids) = tokio::join!(worker.run(), scenario);
        ran.expect("the worker ran");
        ids
    });
    sgp_trace::flush_queue_within(Duration::from_secs(20)).expect("the queue flushes");
    drop(server);

    let spans = collector.spans(ACCOUNT);
    let find = |name: &str| {
        spans
            .iter()
            .find(|span| span["name"] == name)
            .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
    };
    assert_eq!(spans.len(), 4, "client, two activities, one traced call");
    for span in &spans {
        assert_eq!(span["trace_id"], trace_id.as_str(), "one trace: {span}");
    }
    let root = find("place order");
    assert_eq!(root["id"], client_span_id.as_str());
    assert!(root["parent_id"].is_null());
    for activity in ["lookup", "reserve"] {
        assert_eq!(
            find(activity)["parent_id"],
            client_span_id.as_str(),
            "{activity} continues the client's span"
        );
        assert_eq!(find(activity)["status"], "SUCCESS");
    }
    assert_eq!(find("normalize")["parent_id"], find("lookup")["id"]);
    assert_eq!(find("reserve")["output"]["value"], "reserved widget");
}
