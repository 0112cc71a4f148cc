//! The main demo: an agent-like workflow traced with sgp-trace.
//!
//! With `SGP_API_KEY` and `SGP_ACCOUNT_ID` set, spans go to SGP. Without them, the demo
//! starts the local collector in-process, exports to it, and prints the stored trace tree
//! and how to browse it. `cargo run --bin demo -- --serve` keeps the collector serving its
//! traces page until Ctrl-C.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use sgp_trace::{create_span, create_trace, Config, ConfigBuilder, SpanContext, SpanType};
use sgp_trace_collector::{Collector, CollectorConfig};

/// Tells the demo's own child process where its spans belong.
const PARENT_VAR: &str = "SGP_TRACE_DEMO_PARENT";
const DEMO_ACCOUNT: &str = "demo-account";

fn main() {
    if let Ok(parent) = std::env::var(PARENT_VAR) {
        return child_process(&parent);
    }
    let serve = std::env::args().any(|arg| arg == "--serve");
    let (config, collector) = backend();
    let child_env = collector
        .as_ref()
        .map(|collector| local_env(collector))
        .unwrap_or_default();
    let guard = sgp_trace::init(config);
    let trace_id = run_agent("What changed in the Q3 report?", &child_env);
    drop(guard); // sends the last spans

    match collector {
        Some(collector) => report_local(&collector, &trace_id, serve),
        None => println!("trace {trace_id} sent to SGP"),
    }
}

/// SGP when credentials are set, else a local collector in this process.
fn backend() -> (Config, Option<Collector>) {
    let from_env = Config::from_env().expect("valid SGP_* environment variables");
    if from_env.can_export() {
        return (from_env, None);
    }
    let db = std::env::temp_dir().join("sgp-trace-demo.db");
    let collector = Collector::start(CollectorConfig::default().db_path(&db))
        .expect("start the local collector");
    let lookup = local_env(&collector);
    let config = ConfigBuilder::from_lookup(|name| {
        lookup
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .build()
    .expect("a valid demo config");
    (config, Some(collector))
}

/// The SGP_* variables that point a process at the local collector.
fn local_env(collector: &Collector) -> Vec<(&'static str, String)> {
    vec![
        ("SGP_API_KEY", "demo-key".to_owned()),
        ("SGP_ACCOUNT_ID", DEMO_ACCOUNT.to_owned()),
        ("SGP_CLIENT_BASE_URL", collector.base_url()),
    ]
}

/// One question answered by a planner, parallel searches on threads, tool calls in async
/// tasks, a summarizer in a child process, a failing guardrail, and a final completion.
fn run_agent(question: &str, child_env: &[(&str, String)]) -> String {
    let mut trace = create_trace("answer question")
        .input(&json!({ "question": question }))
        .start();
    let trace_id = trace
        .context()
        .map(|context| context.trace_id.to_string())
        .unwrap_or_default();

    let sources = {
        let mut plan = create_span("plan")
            .span_type(SpanType::AgentWorkflow)
            .input(&question)
            .start();
        let sources = vec!["reports", "wiki", "tickets"];
        plan.set_output(&json!({ "search": sources }));
        sources
    };

    let searches: Vec<_> = sources
        .iter()
        .map(|source| {
            let span = create_span(format!("search {source}"))
                .span_type(SpanType::KbRetrieval)
                .input(&json!({ "source": source, "query": question }))
                .start_detached();
            let source = source.to_string();
            std::thread::spawn(move || {
                let mut span = span;
                std::thread::sleep(Duration::from_millis(20));
                span.set_output(&json!({ "hits": [format!("{source}-1"), format!("{source}-2")] }));
            })
        })
        .collect();
    for search in searches {
        search.join().expect("a search thread");
    }

    call_tools();
    summarize_in_child_process(child_env);

    {
        let mut guardrail = create_span("guardrail")
            .span_type(SpanType::Guardrail)
            .input(&"draft answer")
            .start();
        let verdict: Result<(), String> = Err("answer cites a ticket the user cannot see".into());
        if let Err(reason) = verdict {
            guardrail.set_error("PolicyViolation", &reason, "application");
        }
    }
    let mut generate = create_span("generate")
        .span_type(SpanType::Completion)
        .input(&"prompt with hits")
        .start();
    generate.set_output(&json!({ "answer": "Revenue grew 12%; two tickets are still open." }));
    drop(generate);
    trace.set_output(&"Revenue grew 12%; two tickets are still open.");
    trace_id
}

/// Two tool calls as tokio tasks, each span entered around its own synchronous steps.
fn call_tools() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let tools = ["calculator", "calendar"].map(|tool| {
        let span = create_span(format!("call {tool}"))
            .span_type(SpanType::ExternalEndpoint)
            .start_detached();
        runtime.spawn(async move {
            let mut span = span;
            tokio::time::sleep(Duration::from_millis(15)).await;
            span.set_output(&json!({ "tool": tool, "ok": true }));
        })
    });
    runtime.block_on(async {
        for task in tools {
            task.await.expect("a tool task");
        }
    });
}

/// Runs this program again as a child that records spans under the current span. The parent
/// span's start is flushed first, so the child's spans never reach the server before it.
fn summarize_in_child_process(child_env: &[(&str, String)]) {
    let span = create_span("summarize (child process)")
        .span_type(SpanType::Custom)
        .start();
    let Some(context) = span.context() else {
        return;
    };
    if let Err(error) = sgp_trace::flush_queue() {
        eprintln!("demo: {error}");
    }
    // The child exports where this process does: SGP through the inherited variables, or
    // the local collector through `child_env`.
    let status = Command::new(std::env::current_exe().expect("the demo's path"))
        .env(
            PARENT_VAR,
            serde_json::to_string(&context).expect("a context serializes"),
        )
        .envs(child_env.iter().map(|(key, value)| (key, value)))
        .status()
        .expect("run the child process");
    assert!(status.success(), "the child process failed");
}

fn child_process(parent: &str) {
    let _guard = sgp_trace::init(Config::from_env().expect("the parent's environment"));
    let parent: SpanContext = serde_json::from_str(parent).expect("the parent's context");
    let mut summary = create_span("summarize in child")
        .parent(parent)
        .input(&"three sources")
        .start();
    for step in ["extract", "condense"] {
        let _step = create_span(format!("{step} (pid {})", std::process::id())).start();
        std::thread::sleep(Duration::from_millis(5));
    }
    summary.set_output(&"revenue up, two tickets open");
}

fn report_local(collector: &Collector, trace_id: &str, serve: bool) {
    let spans: Vec<Value> = collector
        .spans(DEMO_ACCOUNT)
        .into_iter()
        .filter(|span| span["trace_id"] == trace_id)
        .collect();
    println!("trace {trace_id}: {} spans\n", spans.len());
    print_tree(&spans, None, 0);
    println!("\ntraces page: {}/", collector.base_url());
    if serve {
        println!("serving until Ctrl-C");
        loop {
            std::thread::park();
        }
    }
    println!(
        "(the collector stops with the demo; to browse the stored traces run\n  cargo run -p sgp-trace-collector -- --db {}\nor run the demo with `-- --serve`)",
        collector.db_path().display()
    );
}

fn print_tree(spans: &[Value], parent: Option<&str>, depth: usize) {
    let mut children: Vec<&Value> = spans
        .iter()
        .filter(|span| span["parent_id"].as_str() == parent)
        .collect();
    children.sort_by_key(|span| {
        span["start_timestamp"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });
    for span in children {
        let start = span["start_timestamp"].as_str().unwrap_or_default();
        let end = span["end_timestamp"].as_str().unwrap_or_default();
        println!(
            "{}{} [{}] {} {}",
            "  ".repeat(depth),
            span["name"].as_str().unwrap_or("?"),
            span["status"].as_str().unwrap_or("RUNNING"),
            span["type"].as_str().unwrap_or_default(),
            duration_label(start, end),
        );
        print_tree(spans, span["id"].as_str(), depth + 1);
    }
}

/// The span's duration from its RFC 3339 timestamps, read as seconds within the day.
fn duration_label(start: &str, end: &str) -> String {
    fn seconds_of_day(timestamp: &str) -> Option<f64> {
        let time = timestamp.split('T').nth(1)?.trim_end_matches('Z');
        let mut parts = time.split(':');
        let hours: f64 = parts.next()?.parse().ok()?;
        let minutes: f64 = parts.next()?.parse().ok()?;
        let seconds: f64 = parts.next()?.parse().ok()?;
        Some(hours * 3600.0 + minutes * 60.0 + seconds)
    }
    match (seconds_of_day(start), seconds_of_day(end)) {
        (Some(start), Some(end)) if end - start >= 0.001 => {
            format!("{:.1} ms", (end - start) * 1e3)
        }
        (Some(start), Some(end)) if end >= start => format!("{:.0} µs", (end - start) * 1e6),
        _ => String::new(),
    }
}
