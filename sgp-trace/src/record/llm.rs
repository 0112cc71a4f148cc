//! LLM calls: one call records a prompt (or a chat), a response, the model, token usage,
//! the finish reason, user and session ids or an error on a span, in one shape that SGP
//! shows as it is and the OpenTelemetry mapping of `sgp-trace-otel` turns into the
//! attribute names of the OpenTelemetry GenAI conventions.
//!
//! | helper | SGP field |
//! |---|---|
//! | [`set_llm_prompt`](LlmSpanExt::set_llm_prompt) | `input` = `{"prompt": "..."}` |
//! | [`set_llm_messages`](LlmSpanExt::set_llm_messages) | `input` = `{"messages": [{"role": "...", "content": "..."}, ...]}` |
//! | [`set_llm_response`](LlmSpanExt::set_llm_response) | `output` = `{"response": "..."}` |
//! | [`set_llm_model`](LlmSpanExt::set_llm_model) | metadata `llm.model` |
//! | [`set_llm_provider`](LlmSpanExt::set_llm_provider) | metadata `llm.provider` |
//! | [`set_llm_usage`](LlmSpanExt::set_llm_usage) | metadata `llm.usage.prompt`, `llm.usage.completion`, `llm.usage.total` |
//! | [`set_llm_finish_reason`](LlmSpanExt::set_llm_finish_reason) | metadata `llm.finish_reason` |
//! | [`set_llm_user`](LlmSpanExt::set_llm_user) | metadata `llm.user` |
//! | [`set_llm_session`](LlmSpanExt::set_llm_session) | metadata `llm.session` |
//! | [`set_llm_error`](LlmSpanExt::set_llm_error) | status `ERROR` and the error metadata (as [`Span::set_error`](crate::Span::set_error)) |
//! | every helper | metadata `llm.operation` = `"chat"` (marks the span as an LLM call) |
//!
//! The helpers own the span's input and output: a prompt replaces any input set before.
//! Metadata keys are flat so SGP's `extra_metadata` search filter finds them
//! (`{"llm.model": "gpt-4o"}`). Their names avoid the words that mark a credential
//! (`token`, `session_id`, `key`, ...): values under such keys are replaced with
//! `[REDACTED:credential]` before they leave the process, so `llm.prompt_tokens` or
//! `llm.session_id` would arrive blank. Give the span the type `COMPLETION`.
//!
//! [`default_session`] gives the LLM calls recorded on a thread a session until its guard
//! drops, for integrations that run a conversation's work (the Temporal activity
//! interceptor): every helper marks its span as a call and gives it that session, unless
//! the span has one of its own.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::record::annotate::Annotate;
use crate::record::session;
pub use crate::record::session::{default_session, DefaultSessionGuard};

/// The metadata keys (and payload keys) the helpers write.
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
    /// Why the model stopped: `stop`, `length`, `tool_calls`, `content_filter`, ...
    pub const FINISH_REASON: &str = "llm.finish_reason";
    /// The end user on whose behalf the call was made.
    pub const USER_ID: &str = "llm.user";
    /// The conversation or session the call belongs to.
    pub const SESSION_ID: &str = "llm.session";
    /// The key of the prompt in the span's input.
    pub const PROMPT: &str = "prompt";
    /// The key of the chat messages in the span's input.
    pub const MESSAGES: &str = "messages";
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

/// One message of a chat sent to a model.
///
/// ```
/// use sgp_trace::llm::ChatMessage;
/// let message = ChatMessage::new("user", "What is SGP?");
/// assert_eq!(
///     serde_json::to_value(&message).unwrap(),
///     serde_json::json!({"role": "user", "content": "What is SGP?"})
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who speaks: `system`, `user`, `assistant`, `tool`.
    pub role: String,
    /// What they say.
    pub content: String,
}

impl ChatMessage {
    /// A message of `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Records an LLM call on any handle on a span: a [`Span`](crate::Span), a
/// [`SpanGuard`](crate::SpanGuard), or the [`CurrentSpan`](crate::CurrentSpan) of
/// [`with_current_span`](crate::with_current_span). See the [module docs](self) for the
/// shape written.
///
/// ```
/// use sgp_trace::llm::{ChatMessage, LlmSpanExt, TokenUsage};
/// use sgp_trace::{create_span, SpanType};
///
/// let mut span = create_span("chat").span_type(SpanType::Completion).start();
/// span.set_llm_model("gpt-4o");
/// span.set_llm_messages(&[
///     ChatMessage::new("system", "Be brief."),
///     ChatMessage::new("user", "What is SGP?"),
/// ]);
/// span.set_llm_response("Scale's GenAI platform.");
/// span.set_llm_usage(TokenUsage::new(12, 7));
/// span.set_llm_finish_reason("stop");
/// ```
pub trait LlmSpanExt: Annotate {
    /// The prompt: input `{"prompt": prompt}`.
    fn set_llm_prompt(&mut self, prompt: &str) {
        mark(self);
        self.set_input(&json!({ keys::PROMPT: prompt }));
    }

    /// The chat sent: input `{"messages": [...]}`.
    fn set_llm_messages(&mut self, messages: &[ChatMessage]) {
        mark(self);
        self.set_input(&json!({ keys::MESSAGES: messages }));
    }

    /// The model's answer: output `{"response": response}`.
    fn set_llm_response(&mut self, response: &str) {
        mark(self);
        self.set_output(&json!({ keys::RESPONSE: response }));
    }

    /// The model asked.
    fn set_llm_model(&mut self, model: &str) {
        mark(self);
        self.set_metadata(keys::MODEL, model);
    }

    /// Who serves the model (`openai`, `anthropic`, `azure.ai.openai`, ...).
    fn set_llm_provider(&mut self, provider: &str) {
        mark(self);
        self.set_metadata(keys::PROVIDER, provider);
    }

    /// Token counts.
    fn set_llm_usage(&mut self, usage: TokenUsage) {
        mark(self);
        self.set_metadata(keys::PROMPT_TOKENS, &usage.prompt_tokens);
        self.set_metadata(keys::COMPLETION_TOKENS, &usage.completion_tokens);
        self.set_metadata(keys::TOTAL_TOKENS, &usage.total_tokens);
    }

    /// Why the model stopped (`stop`, `length`, `tool_calls`, ...).
    fn set_llm_finish_reason(&mut self, reason: &str) {
        mark(self);
        self.set_metadata(keys::FINISH_REASON, reason);
    }

    /// The end user's id.
    fn set_llm_user(&mut self, user_id: &str) {
        mark(self);
        self.set_metadata(keys::USER_ID, user_id);
    }

    /// The session or conversation id.
    fn set_llm_session(&mut self, session_id: &str) {
        mark(self);
        self.set_metadata(keys::SESSION_ID, session_id);
    }

    /// Marks the call failed, as [`Span::set_error`](crate::Span::set_error) does with
    /// category `application`.
    fn set_llm_error(&mut self, error_type: &str, message: &str) {
        mark(self);
        self.set_error(error_type, message, "application");
    }
}

impl<S: Annotate + ?Sized> LlmSpanExt for S {}

/// Marks the span as an LLM call, in the thread's default session unless it has its own.
fn mark<S: Annotate + ?Sized>(span: &mut S) {
    if span.is_recording() {
        span.set_metadata(keys::OPERATION, "chat");
        if let Some(session) = session::current_default() {
            span.set_metadata_default(keys::SESSION_ID, &*session);
        }
    }
}
