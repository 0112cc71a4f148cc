//! What the examples share: where their spans go, and how they print what was stored.
//!
//! With `SGP_API_KEY` and `SGP_ACCOUNT_ID` set, spans go where the environment says (SGP, or
//! a collector the tests started). Without them, an example starts the local collector in
//! its own process and exports to it, so it runs with no account.

use std::path::PathBuf;

use serde_json::Value;
use sgp_trace::{Config, ConfigBuilder};
use sgp_trace_collector::{Collector, CollectorConfig};

/// The account of the embedded collector.
pub const LOCAL_ACCOUNT: &str = "local-account";

/// Where an example's spans go.
pub struct Backend {
    /// The embedded collector, when there were no credentials.
    pub collector: Option<Collector>,
    /// The variables that point a child process at the same backend.
    pub child_env: Vec<(&'static str, String)>,
}

impl Backend {
    /// The environment's backend when it has credentials, else a local collector storing
    /// into `db` (a file in the temporary directory named after the example).
    pub fn start(example: &str) -> (Config, Backend) {
        let from_env = Config::from_env().expect("valid SGP_* environment variables");
        if from_env.can_export() {
            return (
                from_env,
                Backend {
                    collector: None,
                    child_env: Vec::new(),
                },
            );
        }
        let db: PathBuf = std::env::temp_dir().join(format!("sgp-trace-{example}.db"));
        let collector = Collector::start(CollectorConfig::default().db_path(&db))
            .expect("start the local collector");
        let child_env = vec![
            ("SGP_API_KEY", "local-key".to_owned()),
            ("SGP_ACCOUNT_ID", LOCAL_ACCOUNT.to_owned()),
            ("SGP_CLIENT_BASE_URL", collector.base_url()),
        ];
        let config = ConfigBuilder::from_lookup(|name| {
            child_env
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        })
        .build()
        .expect("a valid local config");
        (
            config,
            Backend {
                collector: Some(collector),
                child_env,
            },
        )
    }

    /// Prints the stored spans of these traces as trees, or where they went.
    pub fn report(&self, trace_ids: &[String]) {
        let Some(collector) = &self.collector else {
            println!(
                "sent {} trace(s) to {}",
                trace_ids.len(),
                std::env::var("SGP_CLIENT_BASE_URL").unwrap_or_else(|_| "SGP".into())
            );
            return;
        };
        let spans = collector.spans(LOCAL_ACCOUNT);
        for trace_id in trace_ids {
            let trace: Vec<Value> = spans
                .iter()
                .filter(|span| span["trace_id"] == trace_id.as_str())
                .cloned()
                .collect();
            println!("trace {trace_id}: {} spans", trace.len());
            print_tree(&trace, None, 1);
        }
        for trace_id in trace_ids {
            println!(
                "trace page: {}/?account={LOCAL_ACCOUNT}#/trace/{trace_id}",
                collector.base_url()
            );
        }
        println!(
            "The collector stops with this program. Keep the page up with `cargo run --bin demo -- --serve`, \
             or browse the stored traces later with\n  cargo run -p sgp-trace-collector -- --db {}",
            collector.db_path().display()
        );
    }
}

/// Prints spans as an indented tree, children in start order.
pub fn print_tree(spans: &[Value], parent: Option<&str>, depth: usize) {
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
        println!(
            "{}{} [{}] {}",
            "  ".repeat(depth),
            span["name"].as_str().unwrap_or("?"),
            span["status"].as_str().unwrap_or("RUNNING"),
            span["type"].as_str().unwrap_or_default(),
        );
        print_tree(spans, span["id"].as_str(), depth + 1);
    }
}

/// The trace id of the span current here, as text (empty when tracing is off).
pub fn current_trace_id() -> String {
    sgp_trace::current_span()
        .map(|context| context.trace_id.to_string())
        .unwrap_or_default()
}
