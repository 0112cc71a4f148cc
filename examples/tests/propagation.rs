//! The propagation examples run against a real collector, and the trees they leave are
//! exactly the expected ones: one trace id, every parent right.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::Value;
use sgp_trace_collector::{Collector, CollectorConfig};
use sgp_trace_tests::{tree_of, ACCOUNT, API_KEY};

/// Runs an example binary exporting to `collector`, with extra environment variables.
fn run(binary: &str, collector: &Collector, env: &[(&str, &str)]) -> Output {
    let output = Command::new(binary)
        .env("SGP_API_KEY", API_KEY)
        .env("SGP_ACCOUNT_ID", ACCOUNT)
        .env("SGP_CLIENT_BASE_URL", collector.base_url())
        .env_remove("SGP_TRACE_PARENT")
        .envs(env.iter().copied())
        .output()
        .expect("run the example");
    assert!(
        output.status.success(),
        "{binary} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn trace_ids(spans: &[Value]) -> BTreeSet<String> {
    spans
        .iter()
        .map(|span| span["trace_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn thread_fan_out_including_a_thread_that_outlives_its_span() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    run(env!("CARGO_BIN_EXE_thread_fanout"), &collector, &[]);
    let spans = collector.spans(ACCOUNT);
    assert_eq!(trace_ids(&spans).len(), 1);
    assert_eq!(
        tree_of(&spans),
        "fan out [SUCCESS]\n  thread_fanout::audit_log [SUCCESS]\n  thread_fanout::search [SUCCESS]\n  \
         thread_fanout::search [SUCCESS]\n  thread_fanout::search [SUCCESS]\n  thread_fanout::search [SUCCESS]\n"
    );
    let root = spans.iter().find(|span| span["name"] == "fan out").unwrap();
    let audit = spans
        .iter()
        .find(|span| span["name"] == "thread_fanout::audit_log")
        .unwrap();
    assert!(
        audit["end_timestamp"].as_str() > root["end_timestamp"].as_str(),
        "the audit thread ended after its parent span"
    );
}

#[test]
fn tokio_fan_out_with_spawned_and_joined_futures() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    run(env!("CARGO_BIN_EXE_tokio_fanout"), &collector, &[]);
    let spans = collector.spans(ACCOUNT);
    assert_eq!(trace_ids(&spans).len(), 1);
    let expected = format!(
        "agent turn [SUCCESS]\n{}  tokio_fanout::summarize [SUCCESS]\n",
        "  tokio_fanout::call_tool [SUCCESS]\n".repeat(4)
    );
    assert_eq!(tree_of(&spans), expected);
}

#[test]
fn child_processes_record_under_the_parent_span() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    run(env!("CARGO_BIN_EXE_child_processes"), &collector, &[]);
    let spans = collector.spans(ACCOUNT);
    assert_eq!(
        trace_ids(&spans).len(),
        1,
        "one trace across four processes"
    );
    let child =
        |n| format!("    child {n} [SUCCESS]\n      child_processes::process_chunk [SUCCESS]\n");
    let expected = format!(
        "map over chunks [SUCCESS]\n  spawn workers [SUCCESS]\n{}{}{}",
        child(0),
        child(1),
        child(2)
    );
    assert_eq!(tree_of(&spans), expected);
    // The parent span was on the server before any child span: no child arrived first.
    let first_child_write = collector
        .requests()
        .iter()
        .position(|request| request.item_count.is_some())
        .unwrap();
    assert_eq!(
        first_child_write, 0,
        "the parent's flush is the first write"
    );
    assert!(collector
        .requests()
        .iter()
        .all(|request| request.status == 200));
}

#[test]
fn workers_with_their_own_traces_share_a_group() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let output = run(env!("CARGO_BIN_EXE_grouped_workers"), &collector, &[]);
    let group = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("group ")
        .to_owned();
    let spans = collector.spans(ACCOUNT);
    assert_eq!(trace_ids(&spans).len(), 3, "one trace per worker");
    assert!(
        spans.iter().all(|span| span["group_id"] == group.as_str()),
        "all linked by {group}"
    );
    assert_eq!(
        tree_of(&spans),
        "worker 0 [SUCCESS]\n  handle job 0 [SUCCESS]\nworker 1 [SUCCESS]\n  handle job 1 [SUCCESS]\nworker 2 [SUCCESS]\n  handle job 2 [SUCCESS]\n"
    );
}

#[test]
fn a_malformed_parent_context_warns_once_and_starts_a_fresh_trace() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let output = run(
        env!("CARGO_BIN_EXE_grouped_workers"),
        &collector,
        &[("SGP_TRACE_PARENT", "sgp1;only-a-trace")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr
            .matches("SGP_TRACE_PARENT is set but unusable")
            .count(),
        1,
        "{stderr}"
    );
    let spans = collector.spans(ACCOUNT);
    assert_eq!(spans.len(), 6);
    assert!(spans
        .iter()
        .filter(|span| span["name"].as_str().unwrap().starts_with("worker"))
        .all(|span| span["parent_id"].is_null()));
}

#[test]
fn a_child_without_credentials_still_runs() {
    let binary = env!("CARGO_BIN_EXE_child_processes");
    let output = Command::new(binary)
        .args(["--child", "1"])
        .env_remove("SGP_API_KEY")
        .env_remove("SGP_ACCOUNT_ID")
        .env("SGP_TRACE_PARENT", "sgp1;parent-trace;parent-span")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("no credentials"));
}

#[test]
fn spans_under_an_inherited_context_keep_its_trace_id_so_no_409_is_possible() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    // The parent's context as the child receives it: its trace id travels with its span id.
    run(env!("CARGO_BIN_EXE_child_processes"), &collector, &[]);
    let spans = collector.spans(ACCOUNT);
    let parent = spans
        .iter()
        .find(|span| span["name"] == "spawn workers")
        .unwrap();
    let context = format!(
        "sgp1;{};{}",
        parent["trace_id"].as_str().unwrap(),
        parent["id"].as_str().unwrap()
    );
    // A child that asks for a brand-new trace still lands in the parent's trace.
    run(
        env!("CARGO_BIN_EXE_child_processes"),
        &collector,
        &[("SGP_TRACE_PARENT", &context)],
    );
    run(
        env!("CARGO_BIN_EXE_grouped_workers"),
        &collector,
        &[("SGP_TRACE_PARENT", &context)],
    );
    assert!(
        collector
            .requests()
            .iter()
            .all(|request| request.status != 409),
        "no batch was refused"
    );
    let spans = collector.spans(ACCOUNT);
    for span in &spans {
        if span["parent_id"] == parent["id"] {
            assert_eq!(span["trace_id"], parent["trace_id"], "{span}");
        }
    }
}

#[test]
fn a_tokio_child_process_records_under_the_parent_span() {
    use sgp_trace::propagate::CommandExt;
    let harness = sgp_trace_tests::Harness::start(|config| config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let parent = sgp_trace::create_trace("async parent").start();
    let status = runtime.block_on(async {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_child_processes"))
            .args(["--child", "7"])
            .env("SGP_API_KEY", API_KEY)
            .env("SGP_ACCOUNT_ID", ACCOUNT)
            .env("SGP_CLIENT_BASE_URL", harness.collector.base_url())
            .propagate_context()
            .status()
            .await
            .unwrap()
    });
    assert!(status.success());
    drop(parent);
    sgp_trace::flush_queue().unwrap();
    let spans = harness.collector.spans(ACCOUNT);
    assert_eq!(trace_ids(&spans).len(), 1);
    assert_eq!(
        tree_of(&spans),
        "async parent [SUCCESS]\n  child 7 [SUCCESS]\n    child_processes::process_chunk [SUCCESS]\n"
    );
}
