//! The events logged inside a span, kept as a bounded list in its metadata.

use serde_json::{Map, Value};
use sgp_trace::Span;
use tracing_core::Metadata;

/// The metadata key of the list of events.
pub(crate) const EVENTS_KEY: &str = "events";

/// The metadata key of the number of events left out of the list once it was full.
pub(crate) const EVENTS_LEFT_OUT_KEY: &str = "events_left_out";

/// A span's events: the first ones up to a bound, and how many came after.
#[derive(Debug, Default)]
pub(crate) struct Events {
    kept: Vec<Value>,
    left_out: u64,
}

impl Events {
    /// Keeps the event if fewer than `limit` are kept, else counts it.
    pub(crate) fn push(
        &mut self,
        limit: usize,
        metadata: &Metadata<'_>,
        fields: Map<String, Value>,
    ) {
        if self.kept.len() >= limit {
            self.left_out += 1;
            return;
        }
        self.kept.push(event_value(metadata, fields));
    }

    /// Writes the list, and the count left out, to the span's metadata.
    pub(crate) fn write_to(self, span: &mut Span) {
        if !self.kept.is_empty() {
            span.set_metadata(EVENTS_KEY, &self.kept);
        }
        if self.left_out > 0 {
            span.set_metadata(EVENTS_LEFT_OUT_KEY, &self.left_out);
        }
    }
}

/// `{"level", "message", "fields"}`, the last two when the event has them.
fn event_value(metadata: &Metadata<'_>, mut fields: Map<String, Value>) -> Value {
    let mut event = Map::new();
    event.insert(
        "level".into(),
        Value::String(metadata.level().as_str().to_owned()),
    );
    if let Some(message) = fields.remove("message") {
        event.insert("message".into(), message);
    }
    if !fields.is_empty() {
        event.insert("fields".into(), Value::Object(fields));
    }
    Value::Object(event)
}
