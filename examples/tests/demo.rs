//! The main README command works with no credentials: it starts the embedded collector,
//! records the whole workflow as one trace, and prints the tree and the page link.

use std::process::Command;

#[test]
fn the_demo_runs_without_credentials_and_prints_the_trace() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env_remove("SGP_API_KEY")
        .env_remove("SGP_ACCOUNT_ID")
        .env_remove("SGP_CLIENT_BASE_URL")
        .env_remove("SGP_TRACE_PARENT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "trace ",
        ": 11 spans",
        "  answer question [SUCCESS] TRACER",
        "    demo::plan [SUCCESS] AGENT_WORKFLOW",
        "    demo::search [SUCCESS] KB_RETRIEVAL",
        "    demo::call_tool [SUCCESS] EXTERNAL_ENDPOINT",
        "    summarizer process [SUCCESS] TRACER",
        "      demo::summarize [SUCCESS] CUSTOM",
        "    demo::check_policy [ERROR] GUARDRAIL",
        "    demo::generate [SUCCESS] COMPLETION",
        "trace page: http://127.0.0.1:",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}
