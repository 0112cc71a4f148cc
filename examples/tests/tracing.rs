//! The `tracing` examples run against a real collector, and their trees are exactly the
//! expected ones: spans made by `tracing` and by `#[traced]` in one tree.

use std::process::Command;

use sgp_trace_collector::{Collector, CollectorConfig};
use sgp_trace_tests::{by_name, tree_of, ACCOUNT, API_KEY};

fn run(binary: &str, collector: &Collector) {
    let output = Command::new(binary)
        .env("SGP_API_KEY", API_KEY)
        .env("SGP_ACCOUNT_ID", ACCOUNT)
        .env("SGP_CLIENT_BASE_URL", collector.base_url())
        .env_remove("SGP_TRACE_PARENT")
        .output()
        .expect("run the example");
    assert!(
        output.status.success(),
        "{binary} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_program_that_uses_tracing_only() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    run(env!("CARGO_BIN_EXE_tracing_only"), &collector);
    let spans = collector.spans(ACCOUNT);
    assert_eq!(
        tree_of(&spans),
        "handle request [SUCCESS]\n  answer [SUCCESS]\n    chat small-model [SUCCESS]\n    \
         check_policy [ERROR]\n    search [SUCCESS]\n    search [SUCCESS]\n    search [SUCCESS]\n"
    );
    let searches = spans.iter().filter(|span| span["name"] == "search");
    for search in searches {
        assert_eq!(search["type"], "KB_RETRIEVAL");
        assert!(search["output"]["value"].as_str().unwrap().contains("doc"));
    }
    let named = by_name(
        spans
            .into_iter()
            .filter(|span| span["name"] != "search")
            .collect(),
    );
    assert_eq!(named["chat small-model"]["type"], "COMPLETION");
    assert_eq!(named["chat small-model"]["metadata"]["llm.usage.total"], 16);
    assert_eq!(named["answer"]["metadata"]["answer_chars"], 30);
    assert_eq!(
        named["answer"]["metadata"]["events"][0]["message"],
        "retrieved"
    );
}

#[test]
fn a_program_that_mixes_traced_and_tracing() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    run(env!("CARGO_BIN_EXE_tracing_mixed"), &collector);
    let spans = collector.spans(ACCOUNT);
    assert_eq!(
        tree_of(&spans),
        "nightly report [SUCCESS]\n  query [SUCCESS]\n    tracing_mixed::enrich [SUCCESS]\n    \
         tracing_mixed::enrich [SUCCESS]\n"
    );
    let query = spans.iter().find(|span| span["name"] == "query").unwrap();
    assert_eq!(query["input"], serde_json::json!({"table": "orders"}));
    assert_eq!(query["metadata"]["events"].as_array().unwrap().len(), 2);
}
