//! Chat messages and the finish reason, set through `with_current_span` inside a traced
//! completion, in the SGP shape and as OTLP GenAI attributes.

mod support;

use std::time::Duration;

use serde_json::json;
use sgp_trace::llm::{ChatMessage, LlmSpanExt, TokenUsage};
use sgp_trace::{create_trace, traced, with_current_span, Config};
use sgp_trace_collector::{Collector, CollectorConfig};
use support::{text, OtlpSink};

const ACCOUNT: &str = "llm-chat-account";

#[traced(name = "complete", type = "COMPLETION")]
fn complete(question: &str) -> &'static str {
    with_current_span(|span| {
        span.set_llm_model("gpt-4o");
        span.set_llm_messages(&[
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", question),
        ]);
        span.set_llm_response("A platform.");
        span.set_llm_usage(TokenUsage::new(9, 3));
        span.set_llm_finish_reason("stop");
    })
    .expect("the traced span is current");
    "A platform."
}

#[test]
fn chat_messages_and_the_finish_reason_reach_sgp_and_otlp() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let sink = OtlpSink::start();
    let fanout = support::fan_out(&collector, ACCOUNT, &sink);
    let guard = sgp_trace::init(Config::builder().exporter(fanout.clone()).build().unwrap());
    {
        let _trace = create_trace("conversation").start();
        complete("What is SGP?");
    }
    drop(guard);
    fanout.shutdown(Duration::from_secs(30)).unwrap();

    let stored = collector.spans(ACCOUNT);
    let chat = stored
        .iter()
        .find(|span| span["name"] == "complete")
        .unwrap();
    assert_eq!(
        chat["input"],
        json!({"messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is SGP?"}
        ]})
    );
    assert_eq!(chat["metadata"]["llm.finish_reason"], "stop");

    let spans = sink.spans();
    let chat = spans.iter().find(|span| span.name == "complete").unwrap();
    let input: serde_json::Value =
        serde_json::from_str(text(chat, "gen_ai.input.messages")).unwrap();
    assert_eq!(
        input,
        json!([
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "What is SGP?"}]}
        ])
    );
    assert_eq!(text(chat, "chat.prompt"), "What is SGP?");
    assert_eq!(text(chat, "chat.response"), "A platform.");
    let reasons: serde_json::Value =
        serde_json::from_str(text(chat, "gen_ai.response.finish_reasons")).unwrap();
    assert_eq!(reasons, json!(["stop"]));
}
