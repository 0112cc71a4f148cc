//! A program instrumented with `tracing` only, recorded in SGP by `sgp-trace-tracing`: no
//! `#[traced]`, no SGP calls but `init`. `cargo run --bin tracing_only`
use std::time::Duration;

use sgp_trace_examples::{current_trace_id, Backend};
use tracing::field::Empty;
use tracing::{info, info_span, instrument, Instrument};
use tracing_subscriber::prelude::*;

#[instrument(ret, fields(sgp.type = "KB_RETRIEVAL"))]
async fn search(query: String, shard: u32) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    vec![format!("{query} doc {shard}")]
}

#[instrument(err)]
fn check_policy(text: &str) -> Result<(), String> {
    if text.contains("doc 1") {
        return Err("policy: shard 1 documents need review".into());
    }
    Ok(())
}

/// An LLM call described with the OpenTelemetry GenAI fields.
async fn complete(prompt: &str) -> String {
    let span = info_span!(
        "chat small-model",
        gen_ai.operation.name = "chat",
        gen_ai.system = "local",
        gen_ai.request.model = "small-model",
        gen_ai.prompt = prompt,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.completion = Empty,
    );
    let answer = "SGP is Scale's GenAI platform.".to_owned();
    span.record("gen_ai.usage.input_tokens", 9);
    span.record("gen_ai.usage.output_tokens", 7);
    span.record("gen_ai.completion", answer.as_str());
    answer
}

#[instrument(fields(answer_chars = Empty))]
async fn answer(question: String) -> String {
    let searches: Vec<_> = (0..3)
        .map(|shard| tokio::spawn(search(question.clone(), shard).in_current_span()))
        .collect();
    let mut docs = Vec::new();
    for search in searches {
        docs.extend(search.await.expect("a search task"));
    }
    info!(docs = docs.len(), "retrieved");
    let _ = check_policy(&docs.join(" "));
    let reply = complete(&question).await;
    tracing::Span::current().record("answer_chars", reply.len());
    reply
}

#[tokio::main]
async fn main() {
    let (config, backend) = Backend::start("tracing_only");
    let guard = sgp_trace::init(config);
    tracing_subscriber::registry()
        .with(sgp_trace_tracing::layer())
        .init();
    let root = info_span!("handle request", user = "alice");
    let trace_id = root.in_scope(current_trace_id);
    answer("What is SGP?".into()).instrument(root).await;
    // The guard's flush blocks: done outside the runtime's workers.
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .expect("flush");
    backend.report(&[trace_id]);
}
