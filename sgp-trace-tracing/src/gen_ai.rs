//! Spans with OpenTelemetry GenAI fields (`gen_ai.*`) become LLM calls in the SDK's shape:
//! type `COMPLETION`, input `{"prompt"}` or `{"messages"}`, output `{"response"}` or
//! `{"messages"}`, and the flat `llm.*` metadata that `sgp-trace-otel` maps back to
//! `gen_ai.*` attributes; the mapping is in `gen_ai_table.md`, shown in the crate docs.

use serde_json::{Map, Value};
use sgp_trace::llm::keys;
use sgp_trace::Span;
use tracing_core::Metadata;

use crate::fields::GEN_AI_PREFIX;

/// Where a GenAI field goes.
enum Target {
    Metadata(&'static str),
    Input(&'static str),
    Output(&'static str),
}

/// The fields the SDK's LLM shape names; the first of two fields for one key wins.
const MAPPED: &[(&str, Target)] = &[
    ("gen_ai.operation.name", Target::Metadata(keys::OPERATION)),
    ("gen_ai.request.model", Target::Metadata(keys::MODEL)),
    ("gen_ai.response.model", Target::Metadata(keys::MODEL)),
    ("gen_ai.provider.name", Target::Metadata(keys::PROVIDER)),
    ("gen_ai.system", Target::Metadata(keys::PROVIDER)),
    (
        "gen_ai.usage.input_tokens",
        Target::Metadata(keys::PROMPT_TOKENS),
    ),
    (
        "gen_ai.usage.output_tokens",
        Target::Metadata(keys::COMPLETION_TOKENS),
    ),
    (
        "gen_ai.response.finish_reasons",
        Target::Metadata(keys::FINISH_REASON),
    ),
    ("gen_ai.conversation.id", Target::Metadata(keys::SESSION_ID)),
    ("gen_ai.prompt", Target::Input(keys::PROMPT)),
    ("gen_ai.input.messages", Target::Input(keys::MESSAGES)),
    ("gen_ai.completion", Target::Output(keys::RESPONSE)),
    ("gen_ai.output.messages", Target::Output(keys::MESSAGES)),
];

/// Whether a span's callsite declares any `gen_ai.*` field, given or left `Empty` to be
/// recorded later: such a span is an LLM call.
pub(crate) fn declares_gen_ai(metadata: &Metadata<'_>) -> bool {
    metadata
        .fields()
        .iter()
        .any(|field| field.name().starts_with(GEN_AI_PREFIX))
}

/// An LLM span's GenAI fields so far, and the plain fields it was created with (its input
/// besides the prompt).
#[derive(Debug, Default)]
pub(crate) struct LlmFields {
    plain_input: Map<String, Value>,
    gen_ai: Map<String, Value>,
}

impl LlmFields {
    pub(crate) fn new(plain_input: Map<String, Value>, gen_ai: Map<String, Value>) -> LlmFields {
        LlmFields {
            plain_input,
            gen_ai,
        }
    }

    /// The span's input: its plain fields, and the prompt or messages.
    pub(crate) fn input(&self) -> Map<String, Value> {
        let mut input = self.plain_input.clone();
        input.extend(self.part(|target| match target {
            Target::Input(key) => Some(key),
            _ => None,
        }));
        input
    }

    fn output(&self) -> Map<String, Value> {
        self.part(|target| match target {
            Target::Output(key) => Some(key),
            _ => None,
        })
    }

    /// The `llm.*` metadata, and the unmapped `gen_ai.*` fields under their own names.
    fn metadata(&self) -> Map<String, Value> {
        let mut metadata = self.part(|target| match target {
            Target::Metadata(key) => Some(key),
            _ => None,
        });
        metadata
            .entry(keys::OPERATION)
            .or_insert_with(|| Value::String("chat".into()));
        let usage = |key: &str| metadata.get(key).and_then(Value::as_u64);
        if let (Some(prompt), Some(completion)) =
            (usage(keys::PROMPT_TOKENS), usage(keys::COMPLETION_TOKENS))
        {
            metadata.insert(keys::TOTAL_TOKENS.into(), Value::from(prompt + completion));
        }
        for (name, value) in &self.gen_ai {
            if !MAPPED.iter().any(|(mapped, _)| mapped == name) {
                metadata.insert(name.clone(), value.clone());
            }
        }
        metadata
    }

    /// The mapped fields whose target `select` keeps, under the key it gives.
    fn part(&self, select: impl Fn(&Target) -> Option<&'static str>) -> Map<String, Value> {
        let mut part = Map::new();
        for (name, target) in MAPPED {
            let (Some(key), Some(value)) = (select(target), self.gen_ai.get(*name)) else {
                continue;
            };
            if !part.contains_key(key) {
                part.insert(key.to_owned(), structured(key, value));
            }
        }
        part
    }

    /// Writes the metadata and output to the span (the input goes in when it is made).
    pub(crate) fn record_on(&self, span: &mut Span) {
        for (key, value) in self.metadata() {
            span.set_metadata(key, &value);
        }
        let output = self.output();
        if !output.is_empty() {
            span.set_output(&output);
        }
    }

    /// Adds fields recorded after the span was made, and writes the span again.
    pub(crate) fn record_later(&mut self, fields: Map<String, Value>, span: &mut Span) {
        let input_changed = fields.keys().any(|name| {
            MAPPED
                .iter()
                .any(|(mapped, target)| mapped == name && matches!(target, Target::Input(_)))
        });
        self.gen_ai.extend(fields);
        if input_changed {
            span.set_input(&self.input());
        }
        self.record_on(span);
    }
}

/// Messages given as JSON text (as the GenAI conventions put them in attributes) become the
/// SDK's `[{"role", "content"}]`; finish reasons given as a JSON list of one become that
/// one; anything else is kept as it came.
fn structured(key: &str, value: &Value) -> Value {
    let parsed = value
        .as_str()
        .and_then(|text| serde_json::from_str::<Value>(text).ok());
    match (key, parsed) {
        (keys::MESSAGES, Some(Value::Array(messages))) => {
            Value::Array(messages.into_iter().map(chat_message).collect())
        }
        (keys::FINISH_REASON, Some(Value::Array(mut reasons))) if reasons.len() == 1 => {
            reasons.remove(0)
        }
        _ => value.clone(),
    }
}

/// A GenAI message with `parts` (`[{"type": "text", "content": ...}]`) as the SDK's
/// `{"role", "content"}`, its text parts joined; other messages as they are.
fn chat_message(message: Value) -> Value {
    let Some(parts) = message.get("parts").and_then(Value::as_array) else {
        return message;
    };
    if message.get("content").is_some() {
        return message;
    }
    let text: Vec<&str> = parts
        .iter()
        .filter(|part| part.get("type").is_none_or(|kind| kind == "text"))
        .filter_map(|part| part.get("content").and_then(Value::as_str))
        .collect();
    let mut chat = Map::new();
    if let Some(role) = message.get("role") {
        chat.insert("role".into(), role.clone());
    }
    chat.insert("content".into(), Value::String(text.join("")));
    Value::Object(chat)
}
