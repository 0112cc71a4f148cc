//! SGP spans as OTLP spans: the mapping documented in the crate docs. [`view`] holds its
//! rules; [`message`] writes a span as an `opentelemetry-proto` message ([`map_span`]),
//! [`wire`] writes whole requests as protobuf for the exporter.

mod message;
mod view;
mod wire;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::trace::v1::Span;
use sgp_trace::SpanItem;

use view::SpanView;
pub(crate) use wire::RequestWriter;

/// The metadata key whose value sets the OTLP span kind: `server`, `client`, `producer`,
/// `consumer` or `internal` (any case). Without it, LLM spans are `CLIENT` and others
/// `INTERNAL`; an unknown value counts as absent.
pub const SPAN_KIND_KEY: &str = "span.kind";

/// Metadata keys that also become OTLP attributes of their own name: the Temporal ids under
/// the names of Temporal's tracing interceptor, which `sgp-trace-temporal` writes.
pub const PLAIN_ATTRIBUTE_KEYS: [&str; 3] =
    ["temporalWorkflowID", "temporalRunID", "temporalActivityID"];

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
    SpanView::of(item).map(|view| view.to_message())
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

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    use prost::Message;
    use serde_json::json;
    use sgp_trace::{Id, JsonObject, ObservabilityIds, SpanStatus, SpanType, Timestamp};

    use super::*;
    use crate::attributes::push;
    use crate::ids::{otlp_span_id, otlp_trace_id};

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
        let cases = [
            (json!({}), SpanKind::Internal),
            (json!({"span.kind": "server"}), SpanKind::Server),
            (json!({"span.kind": "CLIENT"}), SpanKind::Client),
            (json!({"span.kind": "producer"}), SpanKind::Producer),
            (json!({"span.kind": "consumer"}), SpanKind::Consumer),
            (json!({"span.kind": "odd"}), SpanKind::Internal),
            (json!({"llm.operation": "chat"}), SpanKind::Client),
            // An explicit kind wins.
            (
                json!({"llm.operation": "chat", "span.kind": "server"}),
                SpanKind::Server,
            ),
        ];
        for (metadata, kind) in cases {
            assert_eq!(kind_of(metadata.clone()), kind as i32, "{metadata}");
        }
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
        let mut writer = RequestWriter::new(&Resource::default(), &scope());
        assert!(writer.request(&[item]).is_none());
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

    fn scope() -> InstrumentationScope {
        InstrumentationScope {
            name: "sgp-trace".into(),
            version: "1.0".into(),
            ..Default::default()
        }
    }

    /// The request as `prost` writes it from `map_span`'s messages.
    fn prost_request(items: &[SpanItem], resource: &Resource) -> Vec<u8> {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope()),
                    spans: items.iter().filter_map(map_span).collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
        .encode_to_vec()
    }

    /// Spans of every shape the mapping knows: each status, LLM calls, text ids, links,
    /// metadata of each JSON kind, empty and unusual fields.
    fn every_shape() -> Vec<SpanItem> {
        let with = |change: &dyn Fn(&mut SpanItem)| {
            let mut item = item();
            change(&mut item);
            item
        };
        let metadata =
            |value: serde_json::Value| Some(Arc::new(value.as_object().unwrap().clone()));
        vec![
            item(),
            with(&|item| item.status = Some(SpanStatus::Canceled)),
            with(&|item| item.status = None),
            with(&|item| {
                item.status = Some(SpanStatus::Error);
                item.metadata = metadata(
                    json!({"error": true, "error_type": "Timeout", "error_message": "took too long"}),
                );
            }),
            with(&|item| {
                item.status = Some(SpanStatus::Error);
                item.metadata = None;
                item.end_timestamp = Some(Timestamp::from_nanos(0));
                item.start_timestamp = Timestamp::from_nanos(0);
            }),
            with(&|item| {
                item.span_type = SpanType::Completion;
                item.input = Some(JsonObject::new(&json!({"messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "héllo \"there\""}
                ]})));
                item.output = Some(JsonObject::new(&json!({"response": "hi"})));
                item.metadata = metadata(json!({
                    "llm.operation": "chat", "llm.model": "gpt-4o", "llm.provider": "openai",
                    "llm.usage.prompt": 12, "llm.usage.completion": 3, "llm.usage.total": 15,
                    "llm.finish_reason": "stop", "llm.user": "ana", "llm.session": "s-1",
                    "span.kind": "server"
                }));
            }),
            with(&|item| {
                item.input = Some(JsonObject::new(&json!({"prompt": "why?"})));
                item.metadata = metadata(json!({"llm.operation": "completion"}));
            }),
            with(&|item| {
                item.trace_id = Id::new("my trace").unwrap();
                item.id = Id::new("ünïcode span").unwrap();
                item.parent_id = None;
                item.group_id = None;
                item.observability = None;
                item.input = None;
                item.output = None;
                item.name = "".into();
            }),
            with(&|item| {
                item.metadata = metadata(json!({
                    "": "empty key", "neg": -7, "big": u64::MAX, "tiny": -1.5e-300, "null": null,
                    "list": [1, "two"], "zero": 0, "false": false, "empty": "",
                    "temporalWorkflowID": "wf-1", "temporalRunID": "run-1", "temporalActivityID": 3,
                    "long": "x".repeat(300)
                }));
                item.end_timestamp = Some(Timestamp::from_nanos(500));
            }),
        ]
    }

    #[test]
    fn the_wire_writer_writes_the_bytes_prost_writes() {
        let mut resource = Resource::default();
        push(&mut resource.attributes, "service.name", "agent");
        let items = every_shape();
        let mut writer = RequestWriter::new(&resource, &scope());
        for item in &items {
            let one = std::slice::from_ref(item);
            let expected = (map_span(item).is_some()).then(|| prost_request(one, &resource));
            assert_eq!(writer.request(one), expected, "{:?}", item.name);
        }
        // A whole batch, twice: the writer's buffers are reused.
        for _ in 0..2 {
            assert_eq!(
                writer.request(&items),
                Some(prost_request(&items, &resource))
            );
        }
        // Spans large enough for multi-byte lengths at every level.
        let large: Vec<SpanItem> = (0..300).map(|_| items[5].clone()).collect();
        assert_eq!(
            writer.request(&large),
            Some(prost_request(&large, &resource))
        );
    }
}
