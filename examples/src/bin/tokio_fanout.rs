//! Async fan-out: tokio tasks and `join_all`, all in one trace. `cargo run --bin tokio_fanout`
use std::time::Duration;

use futures::future::join_all;
use sgp_trace::propagate::Propagate;
use sgp_trace::traced;
use sgp_trace_examples::{current_trace_id, Backend};

#[traced(type = "EXTERNAL_ENDPOINT")]
async fn call_tool(tool: &'static str) -> String {
    tokio::time::sleep(Duration::from_millis(10)).await;
    format!("{tool}: ok")
}

#[traced(type = "COMPLETION")]
async fn summarize(results: Vec<String>) -> String {
    tokio::task::yield_now().await;
    results.join("; ")
}

#[traced(root, name = "agent turn", type = "AGENT_WORKFLOW")]
async fn agent_turn() -> String {
    // Spawned tasks run on any worker thread; `.propagate()` keeps them in this span.
    let spawned: Vec<_> = ["search", "calculator"]
        .into_iter()
        .map(|tool| tokio::spawn(call_tool(tool).propagate()))
        .collect();
    let mut results: Vec<String> = join_all(spawned)
        .await
        .into_iter()
        .map(|joined| joined.expect("a tool task"))
        .collect();
    // Futures joined in place are children without any help.
    results.extend(join_all([call_tool("calendar"), call_tool("weather")]).await);
    summarize(results).await;
    current_trace_id()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (config, backend) = Backend::start("tokio_fanout");
    let guard = sgp_trace::init(config);
    let trace_id = agent_turn().await;
    drop(guard);
    backend.report(&[trace_id]);
}
