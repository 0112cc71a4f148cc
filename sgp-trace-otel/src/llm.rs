//! LLM helpers: one call records a prompt, a response, the model, token usage, user and
//! session ids or an error on a span, in one shape that SGP shows as it is and the OTLP
//! mapper turns into both the guide's attribute names and the OpenTelemetry GenAI
//! conventions.
//!
//! # The shape, in SGP
//!
//! | helper | SGP field |
//! |---|---|
//! | [`set_llm_prompt`](LlmSpanExt::set_llm_prompt) | `input` = `{"prompt": "..."}` |
//! | [`set_llm_response`](LlmSpanExt::set_llm_response) | `output` = `{"response": "..."}` |
//! | [`set_llm_model`](LlmSpanExt::set_llm_model) | metadata `llm.model` |
//! | [`set_llm_provider`](LlmSpanExt::set_llm_provider) | metadata `llm.provider` |
//! | [`set_llm_usage`](LlmSpanExt::set_llm_usage) | metadata `llm.usage.prompt`, `llm.usage.completion`, `llm.usage.total` |
//! | [`set_llm_user`](LlmSpanExt::set_llm_user) | metadata `llm.user` |
//! | [`set_llm_session`](LlmSpanExt::set_llm_session) | metadata `llm.session` |
//! | [`set_llm_error`](LlmSpanExt::set_llm_error) | status `ERROR`, metadata `error`, `error_type`, `error_message`, `error_category` (as [`Span::set_error`]) |
//! | every helper | metadata `llm.operation` = `"chat"` (marks the span as an LLM call) |
//!
//! The helpers own the span's input and output: a prompt replaces any input set before.
//! Metadata keys are flat so SGP's `extra_metadata` search filter finds them
//! (`{"llm.model": "gpt-4o"}`). Their names avoid the words that mark a credential
//! (`token`, `session_id`, `key`, ...): SGP, and the runtime before it, replace values under
//! such keys with `[REDACTED:credential]`, so `llm.prompt_tokens` or `llm.session_id` would
//! arrive blank. Give the span the type `COMPLETION` when you create it.
//!
//! # The shape, in OTLP
//!
//! For a span whose metadata has `llm.operation`, the OTLP mapper adds:
//!
//! | from | guide attribute | GenAI convention |
//! |---|---|---|
//! | input `prompt` | `chat.prompt` | `gen_ai.input.messages` (`[{"role":"user","parts":[{"type":"text","content":...}]}]`) |
//! | output `response` | `chat.response` | `gen_ai.output.messages` (role `assistant`) |
//! | `llm.model` | `chat.model` | `gen_ai.request.model` |
//! | `llm.provider` | | `gen_ai.provider.name`, `gen_ai.system` |
//! | `llm.usage.prompt` | `chat.prompt_tokens` | `gen_ai.usage.input_tokens` |
//! | `llm.usage.completion` | `chat.completion_tokens` | `gen_ai.usage.output_tokens` |
//! | `llm.usage.total` | `chat.total_tokens` | |
//! | `llm.user` | `x-username` | `user.id` |
//! | `llm.session` | `x-session-id` | `session.id`, `gen_ai.conversation.id` |
//! | `llm.operation` | | `gen_ai.operation.name` |
//! | status `ERROR` | `error` = the message | `error.type`, status message, `exception` event (on every span) |
//!
//! and the span kind `CLIENT`. The `sgp.*` attributes of every span are there too.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use serde_json::{json, Map, Value};
use sgp_trace::{Span, SpanItem};

use crate::attributes::{json_value, key_value, push};

/// The metadata keys the helpers write.
pub mod keys {
    /// Marks an LLM call; its value becomes `gen_ai.operation.name` (`"chat"`).
    pub const OPERATION: &str = "llm.operation";
    /// The model asked, e.g. `gpt-4o`.
    pub const MODEL: &str = "llm.model";
    /// Who serves the model, e.g. `openai`.
    pub const PROVIDER: &str = "llm.provider";
    /// Tokens in the prompt.
    pub const PROMPT_TOKENS: &str = "llm.usage.prompt";
    /// Tokens in the completion.
    pub const COMPLETION_TOKENS: &str = "llm.usage.completion";
    /// Prompt and completion tokens together.
    pub const TOTAL_TOKENS: &str = "llm.usage.total";
    /// The end user on whose behalf the call was made.
    pub const USER_ID: &str = "llm.user";
    /// The conversation or session the call belongs to.
    pub const SESSION_ID: &str = "llm.session";
    /// The key of the prompt in the span's input.
    pub const PROMPT: &str = "prompt";
    /// The key of the response in the span's output.
    pub const RESPONSE: &str = "response";
}

/// Token counts of one LLM call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens in the completion.
    pub completion_tokens: u64,
    /// Both together; providers report it, and it may count more (cached or reasoning
    /// tokens) than the sum.
    pub total_tokens: u64,
}

impl TokenUsage {
    /// Usage whose total is the sum of the two.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> TokenUsage {
        TokenUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// Records an LLM call on an [`sgp_trace::Span`] (and so on a
/// [`SpanGuard`](sgp_trace::SpanGuard), which derefs to it). See the [module
/// docs](crate::llm) for the shape written.
///
/// ```
/// use sgp_trace::{create_span, SpanType};
/// use sgp_trace_otel::{LlmSpanExt, TokenUsage};
///
/// let mut span = create_span("chat").span_type(SpanType::Completion).start();
/// span.set_llm_model("gpt-4o");
/// span.set_llm_prompt("What is SGP?");
/// span.set_llm_response("Scale's GenAI platform.");
/// span.set_llm_usage(TokenUsage::new(12, 7));
/// span.set_llm_user("alice");
/// span.set_llm_session("session-9");
/// ```
pub trait LlmSpanExt {
    /// The prompt: input `{"prompt": prompt}`.
    fn set_llm_prompt(&mut self, prompt: &str);
    /// The model's answer: output `{"response": response}`.
    fn set_llm_response(&mut self, response: &str);
    /// The model asked.
    fn set_llm_model(&mut self, model: &str);
    /// Who serves the model (`openai`, `anthropic`, `azure.ai.openai`, ...).
    fn set_llm_provider(&mut self, provider: &str);
    /// Token counts.
    fn set_llm_usage(&mut self, usage: TokenUsage);
    /// The end user's id.
    fn set_llm_user(&mut self, user_id: &str);
    /// The session or conversation id.
    fn set_llm_session(&mut self, session_id: &str);
    /// Marks the call failed, as [`Span::set_error`] does with category `application`.
    fn set_llm_error(&mut self, error_type: &str, message: &str);
}

impl LlmSpanExt for Span {
    fn set_llm_prompt(&mut self, prompt: &str) {
        mark(self);
        self.set_input(&json!({ keys::PROMPT: prompt }));
    }

    fn set_llm_response(&mut self, response: &str) {
        mark(self);
        self.set_output(&json!({ keys::RESPONSE: response }));
    }

    fn set_llm_model(&mut self, model: &str) {
        mark(self);
        self.set_metadata(keys::MODEL, model);
    }

    fn set_llm_provider(&mut self, provider: &str) {
        mark(self);
        self.set_metadata(keys::PROVIDER, provider);
    }

    fn set_llm_usage(&mut self, usage: TokenUsage) {
        mark(self);
        self.set_metadata(keys::PROMPT_TOKENS, &usage.prompt_tokens);
        self.set_metadata(keys::COMPLETION_TOKENS, &usage.completion_tokens);
        self.set_metadata(keys::TOTAL_TOKENS, &usage.total_tokens);
    }

    fn set_llm_user(&mut self, user_id: &str) {
        mark(self);
        self.set_metadata(keys::USER_ID, user_id);
    }

    fn set_llm_session(&mut self, session_id: &str) {
        mark(self);
        self.set_metadata(keys::SESSION_ID, session_id);
    }

    fn set_llm_error(&mut self, error_type: &str, message: &str) {
        mark(self);
        self.set_error(error_type, message, "application");
    }
}

fn mark(span: &mut Span) {
    if span.is_recording() {
        span.set_metadata(keys::OPERATION, "chat");
    }
}

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
    let field = |payload: Option<&sgp_trace::JsonObject>, key: &str| -> Option<String> {
        let object: Map<String, Value> = serde_json::from_str(payload?.as_str()).ok()?;
        match object.get(key)? {
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    };
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
