//! SGP spans as OTLP spans: the mapping documented in the crate docs.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{Map, Value};
use sgp_trace::{SpanItem, SpanStatus};

use crate::attributes::{json_value, key_value, push, string_value};
use crate::ids::{otlp_span_id, otlp_trace_id};
use crate::llm;

/// The W3C trace flag "sampled": every span we export was recorded.
const SAMPLED: u32 = 0x01;

/// The metadata key whose value sets the OTLP span kind: `server`, `client`, `producer`,
/// `consumer` or `internal` (any case). Without it, LLM spans are `CLIENT` and others
/// `INTERNAL`; an unknown value counts as absent.
pub const SPAN_KIND_KEY: &str = "span.kind";

/// Metadata keys that also become OTLP attributes of their own name: the Temporal ids under
/// the names of Temporal's tracing interceptor, which `sgp-trace-temporal` writes.
pub const PLAIN_ATTRIBUTE_KEYS: [&str; 3] =
    ["temporalWorkflowID", "temporalRunID", "temporalActivityID"];

fn span_kind(metadata: &Map<String, Value>, is_llm: bool) -> SpanKind {
    let named = metadata
        .get(SPAN_KIND_KEY)
        .and_then(Value::as_str)
        .and_then(|name| match name.to_ascii_lowercase().as_str() {
            "server" => Some(SpanKind::Server),
            "client" => Some(SpanKind::Client),
            "producer" => Some(SpanKind::Producer),
            "consumer" => Some(SpanKind::Consumer),
            "internal" => Some(SpanKind::Internal),
            _ => None,
        });
    match named {
        Some(kind) => kind,
        None if is_llm => SpanKind::Client,
        None => SpanKind::Internal,
    }
}

/// The OTLP form of one SGP span, or `None` for a span that has not ended yet.
///
/// OTLP spans are sent once, when they end; the SGP runtime also sends a start event for
/// live views, which has no OTLP counterpart and is left out here (sending it would make
/// backends store the span twice or refuse the second copy).
///
/// ```
/// use sgp_trace_otel::map_span;
/// # use sgp_trace::{Id, SpanItem, SpanStatus, SpanType, Timestamp};
/// # let item = SpanItem {
/// #     name: "answer".into(), trace_id: Id::random(), id: Id::random(), parent_id: None,
/// #     group_id: None, start_timestamp: Timestamp::from_nanos(1), end_timestamp: Some(Timestamp::from_nanos(2)),
/// #     status: Some(SpanStatus::Success), span_type: SpanType::Tracer, input: None, output: None,
/// #     metadata: None, observability: None,
/// # };
/// let span = map_span(&item).expect("an ended span");
/// assert_eq!(span.name, "answer");
/// assert_eq!(span.trace_id, item.trace_id.as_uuid().unwrap().as_bytes().to_vec());
/// ```
pub fn map_span(item: &SpanItem) -> Option<Span> {
    let end = item.end_timestamp?;
    let mut attributes = Vec::with_capacity(16);
    let status = item.status.unwrap_or(SpanStatus::Success);
    push(&mut attributes, "sgp.span_type", item.span_type.as_str());
    push(&mut attributes, "sgp.status", status.as_str());
    push(&mut attributes, "sgp.trace_id", item.trace_id.to_string());
    push(&mut attributes, "sgp.span_id", item.id.to_string());
    if let Some(parent) = &item.parent_id {
        push(&mut attributes, "sgp.parent_id", parent.to_string());
    }
    if let Some(group) = &item.group_id {
        push(&mut attributes, "sgp.group_id", group.to_string());
    }
    if let Some(input) = &item.input {
        push(&mut attributes, "sgp.input", input.as_str());
    }
    if let Some(output) = &item.output {
        push(&mut attributes, "sgp.output", output.as_str());
    }
    let empty = Map::new();
    let metadata = item.metadata.as_deref().unwrap_or(&empty);
    for (key, value) in metadata {
        attributes.push(key_value(format!("sgp.metadata.{key}"), json_value(value)));
    }
    for key in PLAIN_ATTRIBUTE_KEYS {
        if let Some(value) = metadata.get(key) {
            attributes.push(key_value(key.to_owned(), json_value(value)));
        }
    }
    let mut links = Vec::new();
    if let Some(ids) = &item.observability {
        push(&mut attributes, "sgp.obs_trace_id", ids.trace_id_hex());
        push(&mut attributes, "sgp.obs_span_id", ids.span_id_hex());
        links.push(Link {
            trace_id: ids.trace_id.to_be_bytes().to_vec(),
            span_id: ids.span_id.to_be_bytes().to_vec(),
            attributes: vec![key_value(
                "sgp.link".into(),
                string_value("ran in".to_owned()),
            )],
            flags: SAMPLED,
            ..Default::default()
        });
    }
    let is_llm = llm::otlp_attributes(item, metadata, &mut attributes);

    let mut events = Vec::new();
    let otlp_status = match status {
        SpanStatus::Success => Status {
            code: StatusCode::Ok as i32,
            message: String::new(),
        },
        SpanStatus::Canceled => Status {
            code: StatusCode::Unset as i32,
            message: String::new(),
        },
        SpanStatus::Error => {
            let text = |key: &str| metadata.get(key).and_then(Value::as_str);
            let message = text("error_message").unwrap_or("error").to_owned();
            let error_type = text("error_type").unwrap_or("_OTHER").to_owned();
            // The guide's `error` is the message; the flag stays as `sgp.metadata.error`.
            push(&mut attributes, "error", message.clone());
            push(&mut attributes, "error.type", error_type.clone());
            events.push(Event {
                time_unix_nano: end.as_nanos(),
                name: "exception".into(),
                attributes: vec![
                    key_value("exception.type".into(), string_value(error_type)),
                    key_value("exception.message".into(), string_value(message.clone())),
                ],
                dropped_attributes_count: 0,
            });
            Status {
                code: StatusCode::Error as i32,
                message,
            }
        }
    };

    Some(Span {
        trace_id: otlp_trace_id(&item.trace_id).to_be_bytes().to_vec(),
        span_id: otlp_span_id(&item.id).to_be_bytes().to_vec(),
        parent_span_id: item
            .parent_id
            .as_ref()
            .map(|parent| otlp_span_id(parent).to_be_bytes().to_vec())
            .unwrap_or_default(),
        flags: SAMPLED,
        name: item.name.to_string(),
        kind: span_kind(metadata, is_llm) as i32,
        start_time_unix_nano: item.start_timestamp.as_nanos(),
        end_time_unix_nano: end.as_nanos().max(item.start_timestamp.as_nanos()),
        attributes,
        events,
        links,
        status: Some(otlp_status),
        ..Default::default()
    })
}

/// One OTLP request for the ended spans of `items`, under `resource`; `None` when no span
/// has ended.
pub(crate) fn request(
    items: &[SpanItem],
    resource: &Resource,
) -> Option<ExportTraceServiceRequest> {
    let spans: Vec<Span> = items.iter().filter_map(map_span).collect();
    if spans.is_empty() {
        return None;
    }
    Some(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "sgp-trace".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

/// Logs the spans a receiver's answer says it refused: they are not retried (the receiver
/// would refuse them again), so the log is where an operator learns of them.
pub(crate) fn report_partial_success(answer: &ExportTraceServiceResponse) {
    if let Some(partial) = &answer.partial_success {
        if partial.rejected_spans > 0 || !partial.error_message.is_empty() {
            log::warn!(
                "sgp-trace-otel: the OTLP backend rejected {} span(s): {}; they are not retried, \
                 check the backend's limits",
                partial.rejected_spans,
                partial.error_message
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry_proto::tonic::common::v1::any_value;
    use serde_json::json;
    use sgp_trace::{Id, JsonObject, ObservabilityIds, SpanType, Timestamp};

    use super::*;

    fn item() -> SpanItem {
        SpanItem {
            name: "step".into(),
            trace_id: Id::random(),
            id: Id::random(),
            parent_id: Some(Id::new("parent-1").unwrap()),
            group_id: Some(Id::new("group-1").unwrap()),
            start_timestamp: Timestamp::from_nanos(1_000),
            end_timestamp: Some(Timestamp::from_nanos(5_000)),
            status: Some(SpanStatus::Success),
            span_type: SpanType::KbRetrieval,
            input: Some(JsonObject::new(&json!({"q": "why"}))),
            output: Some(JsonObject::new(&json!({"docs": [1, 2]}))),
            metadata: Some(Arc::new(
                json!({"k": "v", "n": 3, "f": 0.5, "b": true, "o": {"x": 1}})
                    .as_object()
                    .unwrap()
                    .clone(),
            )),
            observability: Some(ObservabilityIds {
                trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
                span_id: 0x00f067aa0ba902b7,
            }),
        }
    }

    fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    fn text<'a>(span: &'a Span, key: &str) -> &'a str {
        match attribute(span, key) {
            Some(any_value::Value::StringValue(text)) => text,
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn maps_ids_times_and_attributes() {
        let item = item();
        let span = map_span(&item).unwrap();
        assert_eq!(span.trace_id, item.trace_id.as_uuid().unwrap().as_bytes());
        assert_eq!(span.span_id, otlp_span_id(&item.id).to_be_bytes());
        assert_eq!(
            span.parent_span_id,
            otlp_span_id(&Id::new("parent-1").unwrap()).to_be_bytes()
        );
        assert_eq!(
            (span.start_time_unix_nano, span.end_time_unix_nano),
            (1_000, 5_000)
        );
        assert_eq!(span.kind, SpanKind::Internal as i32);
        assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Ok as i32);
        assert_eq!(text(&span, "sgp.span_type"), "KB_RETRIEVAL");
        assert_eq!(text(&span, "sgp.status"), "SUCCESS");
        assert_eq!(text(&span, "sgp.span_id"), item.id.to_string());
        assert_eq!(text(&span, "sgp.parent_id"), "parent-1");
        assert_eq!(text(&span, "sgp.group_id"), "group-1");
        assert_eq!(text(&span, "sgp.input"), r#"{"q":"why"}"#);
        assert_eq!(text(&span, "sgp.output"), r#"{"docs":[1,2]}"#);
        assert_eq!(text(&span, "sgp.metadata.k"), "v");
        assert_eq!(text(&span, "sgp.metadata.o"), r#"{"x":1}"#);
        assert_eq!(
            attribute(&span, "sgp.metadata.n"),
            Some(&any_value::Value::IntValue(3))
        );
        assert_eq!(
            attribute(&span, "sgp.metadata.f"),
            Some(&any_value::Value::DoubleValue(0.5))
        );
        assert_eq!(
            attribute(&span, "sgp.metadata.b"),
            Some(&any_value::Value::BoolValue(true))
        );
        assert_eq!(
            text(&span, "sgp.obs_trace_id"),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(text(&span, "sgp.obs_span_id"), "00f067aa0ba902b7");
        assert_eq!(span.links.len(), 1);
        assert_eq!(span.links[0].span_id, 0x00f067aa0ba902b7u64.to_be_bytes());
        assert!(attribute(&span, "error").is_none());
        assert!(attribute(&span, "temporalWorkflowID").is_none());
    }

    #[test]
    fn temporal_ids_are_attributes_of_their_own_names() {
        let mut item = item();
        item.metadata = Some(Arc::new(
            json!({"temporalWorkflowID": "order-1", "temporalRunID": "run-1", "temporalActivityID": "1"})
                .as_object()
                .unwrap()
                .clone(),
        ));
        let span = map_span(&item).unwrap();
        assert_eq!(text(&span, "temporalWorkflowID"), "order-1");
        assert_eq!(text(&span, "temporalRunID"), "run-1");
        assert_eq!(text(&span, "temporalActivityID"), "1");
        assert_eq!(text(&span, "sgp.metadata.temporalRunID"), "run-1");
    }

    #[test]
    fn errors_carry_message_type_and_an_exception_event() {
        let mut item = item();
        item.status = Some(SpanStatus::Error);
        item.metadata = Some(Arc::new(
            json!({"error": true, "error_type": "Timeout", "error_message": "took too long"})
                .as_object()
                .unwrap()
                .clone(),
        ));
        let span = map_span(&item).unwrap();
        let status = span.status.as_ref().unwrap();
        assert_eq!(status.code, StatusCode::Error as i32);
        assert_eq!(status.message, "took too long");
        assert_eq!(text(&span, "error"), "took too long");
        assert_eq!(
            attribute(&span, "sgp.metadata.error"),
            Some(&any_value::Value::BoolValue(true))
        );
        assert_eq!(text(&span, "error.type"), "Timeout");
        assert_eq!(span.events[0].name, "exception");
    }

    #[test]
    fn the_span_kind_comes_from_metadata() {
        let kind_of = |metadata: serde_json::Value| {
            let mut item = item();
            item.metadata = Some(Arc::new(metadata.as_object().unwrap().clone()));
            map_span(&item).unwrap().kind
        };
        assert_eq!(kind_of(json!({})), SpanKind::Internal as i32);
        assert_eq!(
            kind_of(json!({"span.kind": "server"})),
            SpanKind::Server as i32
        );
        assert_eq!(
            kind_of(json!({"span.kind": "CLIENT"})),
            SpanKind::Client as i32
        );
        assert_eq!(
            kind_of(json!({"span.kind": "producer"})),
            SpanKind::Producer as i32
        );
        assert_eq!(
            kind_of(json!({"span.kind": "consumer"})),
            SpanKind::Consumer as i32
        );
        assert_eq!(
            kind_of(json!({"span.kind": "odd"})),
            SpanKind::Internal as i32
        );
        assert_eq!(
            kind_of(json!({"llm.operation": "chat"})),
            SpanKind::Client as i32
        );
        assert_eq!(
            kind_of(json!({"llm.operation": "chat", "span.kind": "server"})),
            SpanKind::Server as i32,
            "an explicit kind wins"
        );
    }

    #[test]
    fn canceled_is_unset_and_running_spans_are_left_out() {
        let mut item = item();
        item.status = Some(SpanStatus::Canceled);
        let span = map_span(&item).unwrap();
        assert_eq!(span.status.unwrap().code, StatusCode::Unset as i32);
        item.end_timestamp = None;
        item.status = None;
        assert!(map_span(&item).is_none());
        assert!(request(&[item], &Resource::default()).is_none());
    }

    #[test]
    fn roots_have_no_parent_and_text_trace_ids_hash() {
        let mut item = item();
        item.parent_id = None;
        item.trace_id = Id::new("my trace").unwrap();
        let span = map_span(&item).unwrap();
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.trace_id, otlp_trace_id(&item.trace_id).to_be_bytes());
    }
}
