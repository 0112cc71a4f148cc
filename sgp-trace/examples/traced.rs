//! `#[traced]` on an agent-like workflow, sent to an in-process local collector.
//!
//! Run with `cargo run -p sgp-trace --example traced`; it prints the stored spans.

use std::time::Duration;

use sgp_trace::{traced, CategorizeError, Config, ErrorCategory};
use sgp_trace_collector::{Collector, CollectorConfig};

#[derive(Debug)]
enum ToolError {
    Unavailable(&'static str),
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolError::Unavailable(tool) => write!(f, "{tool} is unavailable"),
        }
    }
}

impl std::error::Error for ToolError {}

impl CategorizeError for ToolError {
    fn error_category(&self) -> ErrorCategory {
        ErrorCategory::Platform
    }
}

struct Agent {
    model: String,
}

impl Agent {
    #[traced(type = "KB_RETRIEVAL", metadata(index = "docs-v2"))]
    async fn retrieve(&self, question: &str) -> Vec<String> {
        tokio::task::yield_now().await;
        vec![format!("a document about {question}")]
    }

    #[traced(type = "COMPLETION", skip(documents), metadata(temperature = 0.2))]
    async fn complete(&self, question: &str, documents: &[String]) -> String {
        format!(
            "{} answers {question:?} from {} document(s)",
            self.model,
            documents.len()
        )
    }

    #[traced(type = "CODE_EXECUTION")]
    fn run_tool(&self, tool: &'static str) -> Result<u32, ToolError> {
        Err(ToolError::Unavailable(tool))
    }

    #[traced(name = "answer", root(group_id = "session-1"), type = "AGENT_WORKFLOW")]
    async fn answer(&self, question: String) -> Result<String, ToolError> {
        let documents = self.retrieve(&question).await;
        let draft = self.complete(&question, &documents).await;
        if self.run_tool("calculator").is_err() {
            return Ok(draft);
        }
        Ok(String::new())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let collector = Collector::start(CollectorConfig::default())?;
    let guard = sgp_trace::init(
        Config::builder()
            .base_url(collector.base_url())
            .credentials("key", "account")
            .build()?,
    );
    let agent = Agent {
        model: "gpt-x".into(),
    };
    let answer = agent.answer("what is SGP?".into()).await?;
    println!("{answer}\n");
    sgp_trace::flush_queue_within(Duration::from_secs(10))?;
    for span in collector.spans("account") {
        println!(
            "{:<40} {:<16} {:<8} input={} output={}",
            span["name"].as_str().unwrap_or_default(),
            span["type"].as_str().unwrap_or_default(),
            span["status"].as_str().unwrap_or_default(),
            span["input"],
            span["output"],
        );
    }
    drop(guard);
    Ok(())
}
