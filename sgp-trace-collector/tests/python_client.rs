//! Compatibility with the official Python client `scale-gp-beta`: every method
//! of its `spans` resource (`create`, `batch`, `upsert_batch`, `retrieve`,
//! `update`, `search` with each of its filters) and its tracing SDK against a
//! collector, checked field by field against the client's own models
//! (`Span`, `SpanCreateParam`, `SpanUpdateParams`, `SpanSearchParams`).
//!
//! Needs `python3` with `venv` and `pip`, and PyPI reachable on the first run:
//! `tests/python/run_compat.sh` makes a venv under the target directory
//! (`CARGO_TARGET_TMPDIR/sgp-compat-venv`) and installs `scale-gp-beta` there.
//! The test fails, with the script's output, when any of that is missing.

use std::process::Command;

use sgp_trace_collector::{Collector, CollectorConfig};

#[test]
fn the_official_python_client_reads_and_writes_through_the_collector() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/run_compat.sh");
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sgp-compat-venv");
    let out = Command::new("bash")
        .arg(script)
        .arg(&venv)
        .env("SGP_CLIENT_BASE_URL", collector.base_url())
        .env("SGP_API_KEY", "compat-key")
        .env("SGP_ACCOUNT_ID", "compat-account")
        .env_remove("DISABLE_SCALE_TRACING")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python compatibility script failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    println!("{stdout}");
    assert!(stdout.contains("compat: all checks passed"), "{stdout}");
    // The client's requests carried its credentials into the account; the one
    // update sent from another account was refused and stored nothing.
    let spans = collector.spans("compat-account");
    assert!(spans.len() >= 24, "{} spans stored", spans.len());
    let foreign: Vec<_> = collector
        .requests()
        .into_iter()
        .filter(|r| r.account_id.as_deref() != Some("compat-account"))
        .map(|r| (r.account_id, r.method, r.status))
        .collect();
    assert_eq!(
        foreign,
        [(Some("another-account".to_owned()), "PATCH".to_owned(), 404)]
    );
    assert!(collector.spans("another-account").is_empty());
}
