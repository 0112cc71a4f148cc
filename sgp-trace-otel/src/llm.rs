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

use serde_json::{json, Map, Value as Json};
use sgp_trace::SpanItem;

use crate::attributes::{Attribute, Key, Value};

pub use sgp_trace::llm::{keys, ChatMessage, LlmSpanExt, TokenUsage};

/// Adds the LLM attributes of an LLM span; returns whether the span is one.
pub(crate) fn otlp_attributes<'a>(
    item: &'a SpanItem,
    metadata: &'a Map<String, Json>,
    attributes: &mut Vec<Attribute<'a>>,
) -> bool {
    let Some(operation) = metadata.get(keys::OPERATION) else {
        return false;
    };
    attributes.push(Attribute {
        key: Key::Plain("gen_ai.operation.name"),
        value: Value::json(operation),
    });
    let mut copy = |from: &str, to: &[&'static str]| {
        if let Some(value) = metadata.get(from) {
            for key in to {
                attributes.push(Attribute {
                    key: Key::Plain(key),
                    value: Value::json(value),
                });
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
        attributes.push(Attribute::text(
            "gen_ai.response.finish_reasons",
            reasons.to_string(),
        ));
    }
    let field = |payload: Option<&sgp_trace::JsonObject>, key: &str| -> Option<String> {
        let object: Map<String, Json> = serde_json::from_str(payload?.as_str()).ok()?;
        match object.get(key)? {
            Json::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    };
    if let Some(messages) = chat_messages(item.input.as_ref()) {
        let parts: Vec<Json> = messages
            .iter()
            .map(|message| json!({"role": message.role, "parts": [{"type": "text", "content": message.content}]}))
            .collect();
        attributes.push(Attribute::text(
            "gen_ai.input.messages",
            Json::Array(parts).to_string(),
        ));
        if let Some(last) = messages.iter().rev().find(|message| message.role == "user") {
            attributes.push(Attribute::text("chat.prompt", last.content.clone()));
        }
    }
    if let Some(prompt) = field(item.input.as_ref(), keys::PROMPT) {
        let messages = json!([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]);
        attributes.push(Attribute::text(
            "gen_ai.input.messages",
            messages.to_string(),
        ));
        attributes.push(Attribute::text("chat.prompt", prompt));
    }
    if let Some(response) = field(item.output.as_ref(), keys::RESPONSE) {
        let messages =
            json!([{"role": "assistant", "parts": [{"type": "text", "content": response}]}]);
        attributes.push(Attribute::text(
            "gen_ai.output.messages",
            messages.to_string(),
        ));
        attributes.push(Attribute::text("chat.response", response));
    }
    true
}

/// The chat messages of an input written by [`LlmSpanExt::set_llm_messages`].
fn chat_messages(input: Option<&sgp_trace::JsonObject>) -> Option<Vec<ChatMessage>> {
    let mut object: Map<String, Json> = serde_json::from_str(input?.as_str()).ok()?;
    serde_json::from_value(object.remove(keys::MESSAGES)?).ok()
}
