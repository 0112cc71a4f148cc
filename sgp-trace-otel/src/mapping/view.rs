//! The rules of the mapping: what an SGP span is in OTLP (ids, kind, times, attributes, error
//! and link), borrowed from the item. [`message`](super::message) and [`wire`](super::wire)
//! only write this out.

use std::sync::LazyLock;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Map, Value as Json};
use sgp_trace::{ObservabilityIds, SpanItem, SpanStatus};

use super::{PLAIN_ATTRIBUTE_KEYS, SPAN_KIND_KEY};
use crate::attributes::{Attribute, Key, Value};
use crate::ids::{otlp_span_id, otlp_trace_id};
use crate::llm;

/// An ended SGP span as OTLP sees it.
pub(crate) struct SpanView<'a> {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) parent_span_id: Option<u64>,
    pub(crate) name: &'a str,
    pub(crate) kind: SpanKind,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) attributes: Vec<Attribute<'a>>,
    pub(crate) outcome: Outcome<'a>,
    /// The OpenTelemetry span the SGP span ran in, linked as "ran in".
    pub(crate) link: Option<ObservabilityIds>,
}

/// How the span ended, in OTLP's terms.
pub(crate) enum Outcome<'a> {
    Ok,
    /// Canceled: OTLP has no such status.
    Unset,
    /// An error, also shown as an `exception` event at the span's end.
    Error {
        message: &'a str,
        error_type: &'a str,
        at: u64,
    },
}

static EMPTY: LazyLock<Map<String, Json>> = LazyLock::new(Map::new);

impl<'a> SpanView<'a> {
    /// The view of `item`, or `None` for a span that has not ended yet.
    pub(crate) fn of(item: &'a SpanItem) -> Option<SpanView<'a>> {
        let end = item.end_timestamp?.as_nanos();
        let start = item.start_timestamp.as_nanos();
        let metadata = item.metadata.as_deref().unwrap_or(&EMPTY);
        let mut attributes = Vec::with_capacity(16 + metadata.len());
        let status = item.status.unwrap_or(SpanStatus::Success);
        sgp_attributes(item, status, metadata, &mut attributes);
        let is_llm = llm::otlp_attributes(item, metadata, &mut attributes);
        let outcome = match status {
            SpanStatus::Success => Outcome::Ok,
            SpanStatus::Canceled => Outcome::Unset,
            SpanStatus::Error => {
                let text = |key: &str| metadata.get(key).and_then(Json::as_str);
                let message = text("error_message").unwrap_or("error");
                let error_type = text("error_type").unwrap_or("_OTHER");
                // The guide's `error` is the message; the flag stays as `sgp.metadata.error`.
                attributes.push(Attribute::text("error", message));
                attributes.push(Attribute::text("error.type", error_type));
                Outcome::Error {
                    message,
                    error_type,
                    at: end,
                }
            }
        };
        Some(SpanView {
            trace_id: otlp_trace_id(&item.trace_id),
            span_id: otlp_span_id(&item.id),
            parent_span_id: item.parent_id.as_ref().map(otlp_span_id),
            name: &item.name,
            kind: span_kind(metadata, is_llm),
            start,
            end: end.max(start),
            attributes,
            outcome,
            link: item.observability,
        })
    }
}

/// The `sgp.*` attributes every span has, and the metadata keys that are also attributes
/// of their own names.
fn sgp_attributes<'a>(
    item: &'a SpanItem,
    status: SpanStatus,
    metadata: &'a Map<String, Json>,
    attributes: &mut Vec<Attribute<'a>>,
) {
    let id = |key, id| Attribute {
        key: Key::Plain(key),
        value: Value::Id(id),
    };
    attributes.push(Attribute::text("sgp.span_type", item.span_type.as_str()));
    attributes.push(Attribute::text("sgp.status", status.as_str()));
    attributes.push(id("sgp.trace_id", &item.trace_id));
    attributes.push(id("sgp.span_id", &item.id));
    if let Some(parent) = &item.parent_id {
        attributes.push(id("sgp.parent_id", parent));
    }
    if let Some(group) = &item.group_id {
        attributes.push(id("sgp.group_id", group));
    }
    if let Some(input) = &item.input {
        attributes.push(Attribute::text("sgp.input", input.as_str()));
    }
    if let Some(output) = &item.output {
        attributes.push(Attribute::text("sgp.output", output.as_str()));
    }
    for (key, value) in metadata {
        attributes.push(Attribute {
            key: Key::Metadata(key),
            value: Value::json(value),
        });
    }
    for key in PLAIN_ATTRIBUTE_KEYS {
        if let Some(value) = metadata.get(key) {
            attributes.push(Attribute {
                key: Key::Plain(key),
                value: Value::json(value),
            });
        }
    }
    if let Some(ids) = &item.observability {
        attributes.push(Attribute::text("sgp.obs_trace_id", ids.trace_id_hex()));
        attributes.push(Attribute::text("sgp.obs_span_id", ids.span_id_hex()));
    }
}

fn span_kind(metadata: &Map<String, Json>, is_llm: bool) -> SpanKind {
    let named = metadata
        .get(SPAN_KIND_KEY)
        .and_then(Json::as_str)
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

/// The attribute the link to the OpenTelemetry span carries.
pub(crate) const LINK_ATTRIBUTE: (&str, &str) = ("sgp.link", "ran in");

/// The W3C trace flag "sampled": every span we export was recorded.
pub(crate) const SAMPLED: u32 = 0x01;
