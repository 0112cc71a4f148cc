//! The hot-path table: criterion's median estimates (with their 95% confidence interval)
//! read back from `<target>/criterion`, and their ratios to the peers of the same run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The hot-path cases, in table order: (criterion group, what it measures).
pub const CASES: &[(&str, &str)] = &[
    (UNTRACED, "baseline: the same function and loop, not traced"),
    (
        "sgp_disabled_traced",
        "sgp-trace, tracing disabled, `#[traced]` 2 args",
    ),
    (
        "sgp_disabled_create_span",
        "sgp-trace, tracing disabled, `create_span` + small input",
    ),
    (
        "sgp_no_trace_traced",
        "sgp-trace, no trace in scope, `#[traced]` 2 args",
    ),
    (
        "sgp_no_trace_create_span",
        "sgp-trace, no trace in scope, `create_span` + small input",
    ),
    (
        "sgp_no_trace_with_current_span",
        "sgp-trace, no span recording, `with_current_span` setting metadata",
    ),
    (
        "sgp_create_span_bare",
        "sgp-trace, `create_span`, no payload (the span alone)",
    ),
    (
        "sgp_create_span_small",
        "sgp-trace, `create_span` + small input",
    ),
    ("sgp_traced_2args", "sgp-trace, `#[traced]` 2 args"),
    ("sgp_input_1kb", "sgp-trace, `create_span` + 1 KB string"),
    (
        "sgp_input_chat_1kb",
        "sgp-trace, `create_span` + chat of 4 messages, 1 KB of text",
    ),
    ("sgp_input_10kb", "sgp-trace, `create_span` + 10 KB string"),
    (
        "fastrace_trace_2args",
        "fastrace `#[trace]` 2 args (not recorded)",
    ),
    (
        "fastrace_trace_2args_recorded",
        "fastrace `#[trace]` 2 args recorded as properties",
    ),
    (
        "tracing_otel_instrument_2args",
        "tracing `#[instrument]` 2 args + tracing-opentelemetry",
    ),
    (
        "otel_span_2attrs",
        "opentelemetry_sdk span, 2 attributes, made current",
    ),
];

/// The case every other is compared with: what the loop and the function cost without
/// tracing, so that a case's own cost is its time minus this one's.
const UNTRACED: &str = "untraced_2args";

/// The peers the ratios are taken to.
const PEERS: &[(&str, &str)] = &[
    ("fastrace_trace_2args", "fastrace"),
    ("fastrace_trace_2args_recorded", "fastrace+args"),
    ("tracing_otel_instrument_2args", "tracing+otel"),
    ("otel_span_2attrs", "otel"),
];

/// Thread counts, as the criterion benchmark ids name them.
pub const THREADS: &[&str] = &["1_thread", "4_thread"];

/// Where criterion writes: `$CARGO_TARGET_DIR/criterion`, else the workspace's
/// `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// A median in nanoseconds with its 95% confidence interval.
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    /// The median time per span.
    pub median: f64,
    /// Lower bound of the median's confidence interval.
    pub low: f64,
    /// Upper bound of the median's confidence interval.
    pub high: f64,
}

/// The estimate of one case and thread count, when criterion has one.
pub fn estimate(dir: &Path, case: &str, threads: &str) -> Option<Estimate> {
    let path = dir.join(case).join(threads).join("new/estimates.json");
    let json: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let median = &json["median"];
    Some(Estimate {
        median: median["point_estimate"].as_f64()?,
        low: median["confidence_interval"]["lower_bound"].as_f64()?,
        high: median["confidence_interval"]["upper_bound"].as_f64()?,
    })
}

fn ns(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else if value < 1000.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// The table as Markdown: one row per case, per thread count the median with its interval,
/// what it adds to the untraced baseline, and the ratio of the case to each peer (above 1:
/// slower than the peer).
pub fn table(dir: &Path) -> String {
    let mut out = String::new();
    for &threads in THREADS {
        let _ = writeln!(out, "\n{threads}s (ns per span, start + end):\n");
        let mut header = String::from("| case | median ns [95% CI] | over baseline ns |");
        let mut rule = String::from("|---|---|---|");
        for (_, peer) in PEERS {
            let _ = write!(header, " / {peer} |");
            rule.push_str("---|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        let peers: Vec<_> = PEERS
            .iter()
            .map(|(case, _)| estimate(dir, case, threads))
            .collect();
        let baseline = estimate(dir, UNTRACED, threads);
        for (case, label) in CASES {
            let Some(this) = estimate(dir, case, threads) else {
                continue;
            };
            let _ = write!(
                out,
                "| {label} | {} [{}, {}] |",
                ns(this.median),
                ns(this.low),
                ns(this.high)
            );
            match baseline {
                Some(baseline) => {
                    let _ = write!(out, " {} |", ns(this.median - baseline.median));
                }
                None => out.push_str(" - |"),
            }
            for peer in &peers {
                match peer {
                    Some(peer) => {
                        let _ = write!(out, " {:.2} |", this.median / peer.median);
                    }
                    None => out.push_str(" - |"),
                }
            }
            out.push('\n');
        }
    }
    out
}

/// Prints [`table`] to standard output.
pub fn print(dir: &Path) {
    println!("{}", table(dir));
}
