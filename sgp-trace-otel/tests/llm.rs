//! The LLM helpers: the SGP shape stored by the collector and the OTLP attributes derived
//! from it, from one span sent to both through a fan-out.

mod support;

use std::time::Duration;

use serde_json::json;
use sgp_trace::{create_span, create_trace, Config, SpanType};
use sgp_trace_collector::{Collector, CollectorConfig};
use sgp_trace_otel::opentelemetry_proto::tonic::common::v1::any_value::Value;
use sgp_trace_otel::opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sgp_trace_otel::{LlmSpanExt, TokenUsage};
use support::{attribute, text, OtlpSink};

const ACCOUNT: &str = "llm-account";

#[test]
fn llm_calls_reach_sgp_in_one_shape_and_otlp_with_guide_and_gen_ai_names() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let sink = OtlpSink::start();
    let fanout = support::fan_out(&collector, ACCOUNT, &sink);
    let guard = sgp_trace::init(Config::builder().exporter(fanout.clone()).build().unwrap());
    {
        let _trace = create_trace("conversation").start();
        {
            let mut chat = create_span("chat").span_type(SpanType::Completion).start();
            chat.set_llm_provider("openai");
            chat.set_llm_model("gpt-4o");
            chat.set_llm_prompt("What is SGP?");
            chat.set_llm_response("Scale's GenAI platform.");
            chat.set_llm_usage(TokenUsage::new(12, 7));
            chat.set_llm_user("alice");
            chat.set_llm_session("session-9");
        }
        let mut failed = create_span("chat retry")
            .span_type(SpanType::Completion)
            .start();
        failed.set_llm_model("gpt-4o");
        failed.set_llm_prompt("And again?");
        failed.set_llm_error("RateLimitError", "429 from provider");
    }
    drop(guard);
    fanout.shutdown(Duration::from_secs(30)).unwrap();

    // SGP: the documented shape.
    let stored = collector.spans(ACCOUNT);
    let chat = stored.iter().find(|span| span["name"] == "chat").unwrap();
    assert_eq!(chat["input"], json!({"prompt": "What is SGP?"}));
    assert_eq!(
        chat["output"],
        json!({"response": "Scale's GenAI platform."})
    );
    assert_eq!(
        chat["metadata"],
        json!({
            "llm.operation": "chat",
            "llm.provider": "openai",
            "llm.model": "gpt-4o",
            "llm.usage.prompt": 12,
            "llm.usage.completion": 7,
            "llm.usage.total": 19,
            "llm.user": "alice",
            "llm.session": "session-9",
        })
    );
    assert_eq!(chat["type"], "COMPLETION");
    let retry = stored
        .iter()
        .find(|span| span["name"] == "chat retry")
        .unwrap();
    assert_eq!(retry["status"], "ERROR");
    assert_eq!(retry["metadata"]["error_type"], "RateLimitError");
    assert_eq!(retry["metadata"]["error_message"], "429 from provider");

    // OTLP: the guide's names and the GenAI conventions.
    let spans = sink.spans();
    let chat = spans.iter().find(|span| span.name == "chat").unwrap();
    assert_eq!(chat.kind, SpanKind::Client as i32);
    assert_eq!(text(chat, "chat.prompt"), "What is SGP?");
    assert_eq!(text(chat, "chat.response"), "Scale's GenAI platform.");
    assert_eq!(text(chat, "chat.model"), "gpt-4o");
    assert_eq!(
        attribute(chat, "chat.prompt_tokens"),
        Some(&Value::IntValue(12))
    );
    assert_eq!(
        attribute(chat, "chat.completion_tokens"),
        Some(&Value::IntValue(7))
    );
    assert_eq!(
        attribute(chat, "chat.total_tokens"),
        Some(&Value::IntValue(19))
    );
    assert_eq!(text(chat, "x-username"), "alice");
    assert_eq!(text(chat, "x-session-id"), "session-9");
    assert_eq!(text(chat, "gen_ai.operation.name"), "chat");
    assert_eq!(text(chat, "gen_ai.request.model"), "gpt-4o");
    assert_eq!(text(chat, "gen_ai.provider.name"), "openai");
    assert_eq!(
        attribute(chat, "gen_ai.usage.input_tokens"),
        Some(&Value::IntValue(12))
    );
    assert_eq!(
        attribute(chat, "gen_ai.usage.output_tokens"),
        Some(&Value::IntValue(7))
    );
    assert_eq!(text(chat, "gen_ai.conversation.id"), "session-9");
    let input: serde_json::Value =
        serde_json::from_str(text(chat, "gen_ai.input.messages")).unwrap();
    assert_eq!(
        input,
        json!([{"role": "user", "parts": [{"type": "text", "content": "What is SGP?"}]}])
    );
    let output: serde_json::Value =
        serde_json::from_str(text(chat, "gen_ai.output.messages")).unwrap();
    assert_eq!(output[0]["role"], "assistant");
    assert!(attribute(chat, "error").is_none());
    let retry = spans.iter().find(|span| span.name == "chat retry").unwrap();
    assert_eq!(text(retry, "error"), "429 from provider");
    assert_eq!(text(retry, "error.type"), "RateLimitError");
    assert_eq!(retry.status.as_ref().unwrap().message, "429 from provider");
    let conversation = spans
        .iter()
        .find(|span| span.name == "conversation")
        .unwrap();
    assert!(
        attribute(conversation, "chat.model").is_none(),
        "only LLM spans carry LLM attributes"
    );
    assert_eq!(conversation.kind, SpanKind::Internal as i32);
}
