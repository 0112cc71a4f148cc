//! The wire item: one span as `PUT /v5/spans/batch` receives it.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::json::JsonObject;
use crate::model::{Id, ObservabilityIds, SpanStatus, SpanType, Timestamp};

/// A span as it travels to SGP: the body of one entry of `{"items": [...]}`.
///
/// The export thread receives these and a custom [`Exporter`](crate::Exporter) sees them.
/// A span is sent at most twice: once when it starts (no `end_timestamp`, no `status`, so live
/// views show it running) and once when it ends; when both wait in the same batch only the
/// final state is sent.
#[derive(Debug, Clone, Serialize)]
pub struct SpanItem {
    /// The span's name.
    pub name: Cow<'static, str>,
    /// The trace the span belongs to.
    pub trace_id: Id,
    /// The span's own id.
    pub id: Id,
    /// The parent span; absent on a trace's root span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Id>,
    /// Links independent traces together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Id>,
    /// When the span started.
    pub start_timestamp: Timestamp,
    /// When the span ended; absent while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_timestamp: Option<Timestamp>,
    /// How the span ended; absent while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SpanStatus>,
    /// The kind of work.
    #[serde(rename = "type")]
    pub span_type: SpanType,
    /// What the work received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<JsonObject>,
    /// What the work produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<JsonObject>,
    /// Free-form facts about the span, among them the error fields of a failed span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Arc<Map<String, Value>>>,
    /// The OpenTelemetry span this span ran in (`obs_trace_id`, `obs_span_id`); see
    /// [`set_observability_provider`](crate::set_observability_provider).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub observability: Option<ObservabilityIds>,
}

impl SpanItem {
    /// Whether this is the final state of the span (it has ended).
    pub fn is_complete(&self) -> bool {
        self.end_timestamp.is_some()
    }

    /// The metadata to change, made when the item has none and copied first when it is
    /// shared with another item.
    #[inline]
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        Arc::make_mut(self.metadata.get_or_insert_with(Default::default))
    }
}

#[cfg(test)]
impl SpanItem {
    /// A running span with a name, new ids and a start at the epoch, and nothing else.
    pub(crate) fn minimal(name: &'static str) -> SpanItem {
        SpanItem {
            name: Cow::Borrowed(name),
            trace_id: Id::random(),
            id: Id::random(),
            parent_id: None,
            group_id: None,
            start_timestamp: Timestamp::from_nanos(0),
            end_timestamp: None,
            status: None,
            span_type: SpanType::Tracer,
            input: None,
            output: None,
            metadata: None,
            observability: None,
        }
    }
}
