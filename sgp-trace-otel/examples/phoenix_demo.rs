//! An instrumented program that exports to an OTLP backend (set `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! e.g. Arize Phoenix at `http://127.0.0.1:6006`) and prints, as one JSON line, the ids the
//! backend should show: `tests/phoenix.sh` checks them against what Phoenix stored.
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:6006 \
//!     cargo run -p sgp-trace-otel --features opentelemetry --example phoenix_demo
//! ```
//!
//! Any `OTEL_EXPORTER_OTLP_*` setting applies (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc` with
//! Phoenix's gRPC port, headers, gzip). With `PHOENIX_DEMO_WAIT_SECS=N` the demo keeps
//! retrying for up to N seconds a backend that is not up yet, instead of the default few
//! attempts and 5 s shutdown bound.
//!
//! The trace: `answer question` (TRACER) → `retrieve` (KB_RETRIEVAL) and `chat` (COMPLETION,
//! with the LLM helpers) → `call tool` (failing), all inside an OpenTelemetry span context
//! (as a request carrying `traceparent` would give), so every span carries correlation ids.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use serde_json::json;
use std::time::Duration;

use sgp_trace::{create_span, create_trace, Config, Id, SpanType};
use sgp_trace_otel::{
    install_correlation, otlp_span_id, LlmSpanExt, OtlpExporterBuilder, TokenUsage,
};

const INFRA_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const INFRA_SPAN: &str = "b7ad6b7169203331";

fn main() {
    install_correlation();
    let exporter = OtlpExporterBuilder::from_env()
        .service_name("sgp-trace-otel-demo")
        .service_version(env!("CARGO_PKG_VERSION"))
        .build()
        .unwrap_or_else(|error| panic!("phoenix_demo: bad OTLP settings: {error}"));
    eprintln!("phoenix_demo: exporting to {}", exporter.url());
    let mut config = Config::builder().exporter(exporter);
    if let Some(wait) = std::env::var("PHOENIX_DEMO_WAIT_SECS")
        .ok()
        .and_then(|secs| secs.parse::<u64>().ok())
    {
        config = config
            .max_attempts(u32::MAX)
            .backoff(Duration::from_millis(200), Duration::from_secs(1))
            .shutdown_timeout(Duration::from_secs(wait));
    }
    let guard = sgp_trace::init(config.build().expect("a valid config"));

    let infrastructure = SpanContext::new(
        TraceId::from_hex(INFRA_TRACE).unwrap(),
        SpanId::from_hex(INFRA_SPAN).unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let mut ids = serde_json::Map::new();
    {
        let _attached = Context::current()
            .with_remote_span_context(infrastructure)
            .attach();
        let trace = create_trace("answer question")
            .input(&json!({"question": "What is SGP?"}))
            .group_id(Id::new("demo-group").unwrap())
            .start();
        let context = trace.context().unwrap();
        ids.insert("trace_id".into(), json!(context.trace_id.to_string()));
        let mut record = |name: &str, id: Option<sgp_trace::SpanContext>| {
            let id = id.unwrap().span_id;
            ids.insert(name.into(), json!(format!("{:016x}", otlp_span_id(&id))));
        };
        record("answer question", trace.context());
        {
            let mut retrieve = create_span("retrieve")
                .span_type(SpanType::KbRetrieval)
                .metadata("top_k", &2)
                .start();
            record("retrieve", retrieve.context());
            retrieve.set_output(&json!({"documents": ["doc-1", "doc-2"]}));
        }
        {
            let mut chat = create_span("chat").span_type(SpanType::Completion).start();
            record("chat", chat.context());
            chat.set_llm_provider("openai");
            chat.set_llm_model("gpt-4o");
            chat.set_llm_prompt("What is SGP?");
            chat.set_llm_user("alice");
            chat.set_llm_session("session-9");
            {
                let mut tool = create_span("call tool").start();
                record("call tool", tool.context());
                tool.set_error("ToolError", "the search tool timed out", "platform");
            }
            chat.set_llm_response("Scale's GenAI platform.");
            chat.set_llm_usage(TokenUsage::new(12, 7));
        }
        drop(trace);
    }
    if let Err(error) = guard.shutdown() {
        eprintln!("phoenix_demo: shutdown: {error}");
        std::process::exit(1);
    }
    let stats = sgp_trace::stats();
    if stats.lost() > 0 {
        eprintln!("phoenix_demo: spans lost: {stats:?}");
        std::process::exit(1);
    }
    ids.insert("obs_trace_id".into(), json!(INFRA_TRACE));
    ids.insert("obs_span_id".into(), json!(INFRA_SPAN));
    println!("{}", serde_json::Value::Object(ids));
}
