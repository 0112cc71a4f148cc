//! The main demo: an agent-like workflow traced with sgp-trace.
//!
//! With `SGP_API_KEY` and `SGP_ACCOUNT_ID` set, spans go to SGP. Without them, the demo
//! starts the local collector in-process, exports to it, and prints the stored trace tree
//! and the traces page. `cargo run --bin demo -- --serve` keeps the collector serving its
//! traces page until Ctrl-C.

use std::fmt;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;
use sgp_trace::llm::{LlmSpanExt, TokenUsage};
use sgp_trace::propagate::{self, CommandExt, Propagate};
use sgp_trace::{create_trace, traced, with_current_span, Config};
use sgp_trace_examples::{current_trace_id, Backend};

#[derive(Debug, Serialize)]
struct Plan {
    sources: Vec<&'static str>,
    tools: Vec<&'static str>,
}

#[derive(Debug)]
struct PolicyViolation(&'static str);

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy violation: {}", self.0)
    }
}

impl std::error::Error for PolicyViolation {}

#[traced(type = "AGENT_WORKFLOW")]
fn plan(question: &str) -> Plan {
    let _ = question;
    Plan {
        sources: vec!["reports", "wiki", "tickets"],
        tools: vec!["calculator", "calendar"],
    }
}

#[traced(type = "KB_RETRIEVAL")]
fn search(source: &'static str, query: String) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(20));
    let _ = query;
    vec![format!("{source}-1"), format!("{source}-2")]
}

#[traced(type = "EXTERNAL_ENDPOINT")]
async fn call_tool(tool: &'static str) -> String {
    tokio::time::sleep(Duration::from_millis(15)).await;
    format!("{tool}: ok")
}

#[traced(type = "GUARDRAIL")]
fn check_policy(draft: &str) -> Result<(), PolicyViolation> {
    if draft.contains("ticket") {
        return Err(PolicyViolation(
            "the answer cites a ticket the user cannot see",
        ));
    }
    Ok(())
}

#[traced(type = "COMPLETION")]
fn generate(question: &str, hits: &[String], tool_results: &[String]) -> String {
    let words = question.len() + hits.len() + tool_results.len();
    // What the model reports about the call goes on this function's own span.
    with_current_span(|span| {
        span.set_llm_model("demo-model");
        span.set_llm_usage(TokenUsage::new(words as u64, 7));
        span.set_llm_finish_reason("stop");
    });
    "Revenue grew 12% in Q3.".to_owned()
}

/// Runs in a child process: its spans land under the parent's span.
#[traced(type = "CUSTOM")]
fn summarize(sources: usize) -> String {
    std::thread::sleep(Duration::from_millis(5));
    format!("summary of {sources} sources")
}

#[traced(root, name = "answer question", skip(child_env))]
fn answer(question: &str, child_env: &[(&'static str, String)]) -> (String, String) {
    let plan = plan(question);
    let searches: Vec<_> = plan
        .sources
        .iter()
        .map(|&source| {
            let query = question.to_owned();
            propagate::spawn(move || search(source, query))
        })
        .collect();
    let hits: Vec<String> = searches
        .into_iter()
        .flat_map(|search| search.join().expect("a search thread"))
        .collect();

    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let tasks: Vec<_> = plan
        .tools
        .iter()
        .map(|&tool| runtime.spawn(call_tool(tool).propagate()))
        .collect();
    let tool_results: Vec<String> = runtime.block_on(async {
        futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.expect("a tool task"))
            .collect()
    });

    let status = Command::new(std::env::current_exe().expect("the demo's path"))
        .arg("--summarize")
        .envs(child_env.iter().cloned())
        .propagate_context()
        .status()
        .expect("run the summarizer process");
    assert!(status.success(), "the summarizer process failed");

    if let Err(violation) = check_policy("draft citing a ticket") {
        eprintln!("demo: guardrail said {violation}; regenerating");
    }
    (generate(question, &hits, &tool_results), current_trace_id())
}

fn main() {
    if std::env::args().any(|arg| arg == "--summarize") {
        let _guard = sgp_trace::init(Config::from_env().expect("the parent's SGP_* variables"));
        let _trace = create_trace("summarizer process").start();
        summarize(3);
        return;
    }
    let serve = std::env::args().any(|arg| arg == "--serve");
    let (config, backend) = Backend::start("demo");
    let guard = sgp_trace::init(config);
    let (answer, trace_id) = answer("What changed in the Q3 report?", &backend.child_env);
    drop(guard); // sends the last spans
    println!("answer: {answer}\n");
    backend.report(&[trace_id]);
    if serve && backend.collector.is_some() {
        println!("serving the traces page until Ctrl-C");
        loop {
            std::thread::park();
        }
    }
}
