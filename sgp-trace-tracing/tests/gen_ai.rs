//! Spans with OpenTelemetry GenAI fields arrive as COMPLETION spans in the SDK's LLM shape.

use serde_json::json;
use sgp_trace_tests::Harness;
use tracing::field::Empty;
use tracing::info_span;
use tracing_subscriber::prelude::*;

#[test]
fn gen_ai_fields_make_a_completion_span_in_the_llm_shape() {
    let harness = Harness::start(|config| config);
    tracing_subscriber::registry()
        .with(sgp_trace_tracing::layer())
        .init();
    let span = info_span!(
        "chat gpt-4o",
        gen_ai.operation.name = "chat",
        gen_ai.system = "openai",
        gen_ai.request.model = "gpt-4o",
        gen_ai.request.temperature = 0.2,
        gen_ai.input.messages = r#"[{"role":"system","content":"Be brief."},{"role":"user","parts":[{"type":"text","content":"What is "},{"type":"text","content":"SGP?"}]}]"#,
        gen_ai.response.finish_reasons = r#"["stop"]"#,
        attempt = 1,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.completion = Empty,
    );
    span.record("gen_ai.usage.input_tokens", 12);
    span.record("gen_ai.usage.output_tokens", 30);
    span.record("gen_ai.completion", "Scale's GenAI platform.");
    drop(span);
    let plain_prompt = info_span!(
        "legacy",
        gen_ai.prompt = "hi",
        gen_ai.usage.input_tokens = 1
    );
    drop(plain_prompt);
    let spans = harness.flushed_spans();

    let chat = &spans["chat gpt-4o"];
    assert_eq!(chat["type"], "COMPLETION");
    assert_eq!(
        chat["input"],
        json!({"attempt": 1, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is SGP?"},
        ]})
    );
    assert_eq!(
        chat["output"],
        json!({"response": "Scale's GenAI platform."})
    );
    let metadata = &chat["metadata"];
    assert_eq!(metadata["llm.operation"], "chat");
    assert_eq!(metadata["llm.provider"], "openai");
    assert_eq!(metadata["llm.model"], "gpt-4o");
    assert_eq!(metadata["llm.usage.prompt"], 12);
    assert_eq!(metadata["llm.usage.completion"], 30);
    assert_eq!(metadata["llm.usage.total"], 42);
    assert_eq!(metadata["llm.finish_reason"], "stop");
    assert_eq!(metadata["gen_ai.request.temperature"], 0.2);
    assert!(metadata.get("gen_ai.usage.input_tokens").is_none());

    let legacy = &spans["legacy"];
    assert_eq!(legacy["type"], "COMPLETION");
    assert_eq!(legacy["input"], json!({"prompt": "hi"}));
    assert_eq!(legacy["metadata"]["llm.usage.prompt"], 1);
    assert!(legacy["metadata"].get("llm.usage.total").is_none());
}
