//! LLM calls in OTLP. The helpers that record a call on a span ([`LlmSpanExt`]: prompt or
//! chat messages, response, model, token usage, finish reason, user, session, error) and
//! the shape they write live in the core crate, [`sgp_trace::llm`]; they are re-exported
//! here for programs written against earlier versions of this crate. This module maps that
//! shape to the guide's attribute names and the OpenTelemetry GenAI conventions.
//!
//! # The shape, in OTLP
//!
//! For a span whose metadata has `llm.operation`, the OTLP mapper adds:
//!
//! | from | guide attribute | GenAI convention |
//! |---|---|---|
//! | input `prompt` | `chat.prompt` | `gen_ai.input.messages` (`[{"role":"user","parts":[{"type":"text","content":...}]}]`) |
//! | input `messages` | `chat.prompt` (the last user message) | `gen_ai.input.messages` (each message's role, its content as a text part) |
//! | output `response` | `chat.response` | `gen_ai.output.messages` (role `assistant`) |
//! | `llm.model` | `chat.model` | `gen_ai.request.model` |
//! | `llm.provider` | | `gen_ai.provider.name`, `gen_ai.system` |
//! | `llm.usage.prompt` | `chat.prompt_tokens` | `gen_ai.usage.input_tokens` |
//! | `llm.usage.completion` | `chat.completion_tokens` | `gen_ai.usage.output_tokens` |
//! | `llm.usage.total` | `chat.total_tokens` | |
//! | `llm.finish_reason` | | `gen_ai.response.finish_reasons` (a list of one) |
//! | `llm.user` | `x-username` | `user.id` |
//! | `llm.session` | `x-session-id` | `session.id`, `gen_ai.conversation.id` |
//! | `llm.operation` | | `gen_ai.operation.name` |
//! | status `ERROR` | `error` = the message | `error.type`, status message, `exception` event (on every span) |
//!
//! and the span kind `CLIENT`. The `sgp.*` attributes of every span are there too.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use serde_json::{json, Map, Value};
use sgp_trace::SpanItem;

use crate::attributes::{json_value, key_value, push};

pub use sgp_trace::llm::{keys, ChatMessage, LlmSpanExt, TokenUsage};

/// Adds the LLM attributes of an LLM span; returns whether the span is one.
pub(crate) fn otlp_attributes(
    item: &SpanItem,
    metadata: &Map<String, Value>,
    attributes: &mut Vec<KeyValue>,
) -> bool {
    let Some(operation) = metadata.get(keys::OPERATION) else {
        return false;
    };
    attributes.push(key_value(
        "gen_ai.operation.name".into(),
        json_value(operation),
    ));
    let mut copy = |from: &str, to: &[&str]| {
        if let Some(value) = metadata.get(from) {
            for key in to {
                attributes.push(key_value((*key).to_owned(), json_value(value)));
            }
        }
    };
    copy(keys::MODEL, &["chat.model", "gen_ai.request.model"]);
    copy(keys::PROVIDER, &["gen_ai.provider.name", "gen_ai.system"]);
    copy(
        keys::PROMPT_TOKENS,
        &["chat.prompt_tokens", "gen_ai.usage.input_tokens"],
    );
    copy(
        keys::COMPLETION_TOKENS,
        &["chat.completion_tokens", "gen_ai.usage.output_tokens"],
    );
    copy(keys::TOTAL_TOKENS, &["chat.total_tokens"]);
    copy(keys::USER_ID, &["x-username", "user.id"]);
    copy(
        keys::SESSION_ID,
        &["x-session-id", "session.id", "gen_ai.conversation.id"],
    );
    if let Some(reason) = metadata.get(keys::FINISH_REASON) {
        let reasons = json!([reason]);
        push(
            attributes,
            "gen_ai.response.finish_reasons",
            reasons.to_string(),
        );
    }
    let field = |payload: Option<&sgp_trace::JsonObject>, key: &str| -> Option<String> {
        let object: Map<String, Value> = serde_json::from_str(payload?.as_str()).ok()?;
        match object.get(key)? {
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    };
    if let Some(messages) = chat_messages(item.input.as_ref()) {
        let parts: Vec<Value> = messages
            .iter()
            .map(|message| json!({"role": message.role, "parts": [{"type": "text", "content": message.content}]}))
            .collect();
        push(
            attributes,
            "gen_ai.input.messages",
            Value::Array(parts).to_string(),
        );
        if let Some(last) = messages.iter().rev().find(|message| message.role == "user") {
            push(attributes, "chat.prompt", last.content.clone());
        }
    }
    if let Some(prompt) = field(item.input.as_ref(), keys::PROMPT) {
        let messages = json!([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]);
        push(attributes, "gen_ai.input.messages", messages.to_string());
        push(attributes, "chat.prompt", prompt);
    }
    if let Some(response) = field(item.output.as_ref(), keys::RESPONSE) {
        let messages =
            json!([{"role": "assistant", "parts": [{"type": "text", "content": response}]}]);
        push(attributes, "gen_ai.output.messages", messages.to_string());
        push(attributes, "chat.response", response);
    }
    true
}

/// The chat messages of an input written by [`LlmSpanExt::set_llm_messages`].
fn chat_messages(input: Option<&sgp_trace::JsonObject>) -> Option<Vec<ChatMessage>> {
    let mut object: Map<String, Value> = serde_json::from_str(input?.as_str()).ok()?;
    serde_json::from_value(object.remove(keys::MESSAGES)?).ok()
}
