//! OTLP requests written as protobuf straight from [`SpanView`]s, into one buffer per
//! request: no message tree is built and dropped per span. The bytes are the ones `prost`
//! writes for the same request (fields by number, defaults left out); a test holds them
//! to that.

use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use sgp_trace::{Id, ObservabilityIds, SpanItem};

use super::view::{Outcome, SpanView, LINK_ATTRIBUTE, SAMPLED};
use crate::attributes::{Attribute, Key, Value, METADATA_PREFIX};

/// Protobuf wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LENGTH_DELIMITED: u32 = 2;
const FIXED32: u32 = 5;

/// Writes export requests for one resource; keeps its buffers between requests.
pub(crate) struct RequestWriter {
    /// The encoded `Resource` and `InstrumentationScope`, the same in every request.
    resource: Vec<u8>,
    scope: Vec<u8>,
    /// The spans of the request being written, each a length-delimited field. Kept between
    /// requests, like `span`: the exporter's batch limits bound them.
    spans: Vec<u8>,
    /// One span's fields, before its length is known.
    span: Vec<u8>,
    /// The text of an id that is not a UUID.
    id_text: String,
}

impl RequestWriter {
    pub(crate) fn new(resource: &Resource, scope: &InstrumentationScope) -> RequestWriter {
        RequestWriter {
            resource: resource.encode_to_vec(),
            scope: scope.encode_to_vec(),
            spans: Vec::new(),
            span: Vec::new(),
            id_text: String::new(),
        }
    }

    /// The resource every request carries.
    #[cfg(test)]
    pub(crate) fn resource(&self) -> Resource {
        Resource::decode(&self.resource[..]).expect("encoded by prost")
    }

    /// The encoded `ExportTraceServiceRequest` of the ended spans of `items`; `None` when no
    /// span has ended.
    pub(crate) fn request(&mut self, items: &[SpanItem]) -> Option<Vec<u8>> {
        self.spans.clear();
        for view in items.iter().filter_map(SpanView::of) {
            self.span.clear();
            write_span(&mut self.span, &mut self.id_text, &view);
            message_field(&mut self.spans, 2, &self.span);
        }
        if self.spans.is_empty() {
            return None;
        }
        // ExportTraceServiceRequest { resource_spans: [ResourceSpans { resource,
        // scope_spans: [ScopeSpans { scope, spans }] }] }
        let scope_spans = field_len(self.scope.len()) + self.spans.len();
        let resource_spans = field_len(self.resource.len()) + field_len(scope_spans);
        let mut out = Vec::with_capacity(field_len(resource_spans));
        tag(&mut out, 1, LENGTH_DELIMITED);
        varint(&mut out, resource_spans as u64);
        message_field(&mut out, 1, &self.resource);
        tag(&mut out, 2, LENGTH_DELIMITED);
        varint(&mut out, scope_spans as u64);
        message_field(&mut out, 1, &self.scope);
        out.extend_from_slice(&self.spans);
        Some(out)
    }
}

/// The fields of an OTLP `Span`, in the order of their numbers, as `prost` writes them.
fn write_span(out: &mut Vec<u8>, id_text: &mut String, view: &SpanView<'_>) {
    bytes_field(out, 1, &view.trace_id.to_be_bytes());
    bytes_field(out, 2, &view.span_id.to_be_bytes());
    if let Some(parent) = view.parent_span_id {
        bytes_field(out, 4, &parent.to_be_bytes());
    }
    string_field(out, 5, view.name);
    varint_field(out, 6, view.kind as u64);
    fixed64_field(out, 7, view.start);
    fixed64_field(out, 8, view.end);
    for attribute in &view.attributes {
        attribute_field(out, 9, attribute, id_text);
    }
    let (code, message) = match &view.outcome {
        Outcome::Ok => (StatusCode::Ok, ""),
        Outcome::Unset => (StatusCode::Unset, ""),
        Outcome::Error {
            message,
            error_type,
            at,
        } => {
            exception_event(out, id_text, error_type, message, *at);
            (StatusCode::Error, *message)
        }
    };
    if let Some(ids) = &view.link {
        link(out, id_text, ids);
    }
    status(out, code, message);
    fixed32_field(out, 16, SAMPLED);
}

/// `Event { time_unix_nano = 1, name = 2, attributes = 3 }`
fn exception_event(
    out: &mut Vec<u8>,
    id_text: &mut String,
    error_type: &str,
    message: &str,
    at: u64,
) {
    let attributes = [
        Attribute::text("exception.type", error_type),
        Attribute::text("exception.message", message),
    ];
    let name = "exception";
    let time_len = if at == 0 { 0 } else { 9 };
    let attributes_len: usize = attributes
        .iter()
        .map(|attribute| field_len(key_value_len(attribute, id_text)))
        .sum();
    tag(out, 11, LENGTH_DELIMITED);
    varint(
        out,
        (time_len + field_len(name.len()) + attributes_len) as u64,
    );
    fixed64_field(out, 1, at);
    string_field(out, 2, name);
    for attribute in &attributes {
        attribute_field(out, 3, attribute, id_text);
    }
}

/// `Link { trace_id = 1, span_id = 2, attributes = 4, flags = 6 }`
fn link(out: &mut Vec<u8>, id_text: &mut String, ids: &ObservabilityIds) {
    let attribute = Attribute::text(LINK_ATTRIBUTE.0, LINK_ATTRIBUTE.1);
    let flags_len = 5;
    let length =
        field_len(16) + field_len(8) + field_len(key_value_len(&attribute, id_text)) + flags_len;
    tag(out, 13, LENGTH_DELIMITED);
    varint(out, length as u64);
    bytes_field(out, 1, &ids.trace_id.to_be_bytes());
    bytes_field(out, 2, &ids.span_id.to_be_bytes());
    attribute_field(out, 4, &attribute, id_text);
    fixed32_field(out, 6, SAMPLED);
}

/// `Status { message = 2, code = 3 }`
fn status(out: &mut Vec<u8>, code: StatusCode, message: &str) {
    let code = code as u64;
    let message_len = if message.is_empty() {
        0
    } else {
        field_len(message.len())
    };
    let code_len = if code == 0 { 0 } else { 1 + varint_len(code) };
    tag(out, 15, LENGTH_DELIMITED);
    varint(out, (message_len + code_len) as u64);
    string_field(out, 2, message);
    varint_field(out, 3, code);
}

/// A `KeyValue` field; its length is worked out first, so nothing is written twice.
fn attribute_field(out: &mut Vec<u8>, field: u32, attribute: &Attribute<'_>, id_text: &mut String) {
    let text = value_text(&attribute.value, id_text);
    let value_len = any_value_len(&attribute.value, text.as_ref().map(|t| t.len()));
    let key_len = attribute.key.len();
    let key_field = if key_len == 0 { 0 } else { field_len(key_len) };
    tag(out, field, LENGTH_DELIMITED);
    varint(out, (key_field + field_len(value_len)) as u64);
    if key_len > 0 {
        tag(out, 1, LENGTH_DELIMITED);
        varint(out, key_len as u64);
        match attribute.key {
            Key::Plain(name) => out.extend_from_slice(name.as_bytes()),
            Key::Metadata(key) => {
                out.extend_from_slice(METADATA_PREFIX.as_bytes());
                out.extend_from_slice(key.as_bytes());
            }
        }
    }
    // AnyValue { string_value = 1, bool_value = 2, int_value = 3, double_value = 4 }: a
    // oneof is written even when it holds its type's default.
    tag(out, 2, LENGTH_DELIMITED);
    varint(out, value_len as u64);
    match &attribute.value {
        Value::Bool(flag) => {
            tag(out, 2, VARINT);
            varint(out, u64::from(*flag));
        }
        Value::Int(number) => {
            tag(out, 3, VARINT);
            varint(out, *number as u64);
        }
        Value::Double(number) => {
            tag(out, 4, FIXED64);
            out.extend_from_slice(&number.to_le_bytes());
        }
        Value::Text(_) | Value::Id(_) => {
            let text = text.unwrap_or_default();
            tag(out, 1, LENGTH_DELIMITED);
            varint(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// The bytes of a text or id value (an id's text is written into `id_text`).
fn value_text<'t>(value: &'t Value<'_>, id_text: &'t mut String) -> Option<&'t str> {
    match value {
        Value::Text(text) => Some(text),
        Value::Id(id) => Some(id_as_text(id, id_text)),
        _ => None,
    }
}

fn id_as_text<'t>(id: &Id, id_text: &'t mut String) -> &'t str {
    id_text.clear();
    match id.as_uuid() {
        Some(uuid) => {
            let mut buffer = [0u8; 36];
            id_text.push_str(uuid.hyphenated().encode_lower(&mut buffer));
        }
        None => {
            let _ = write!(id_text, "{id}");
        }
    }
    id_text
}

fn key_value_len(attribute: &Attribute<'_>, id_text: &mut String) -> usize {
    let text_len = value_text(&attribute.value, id_text).map(str::len);
    let key_len = attribute.key.len();
    let key_field = if key_len == 0 { 0 } else { field_len(key_len) };
    key_field + field_len(any_value_len(&attribute.value, text_len))
}

fn any_value_len(value: &Value<'_>, text_len: Option<usize>) -> usize {
    match value {
        Value::Bool(_) => 2,
        Value::Int(number) => 1 + varint_len(*number as u64),
        Value::Double(_) => 9,
        Value::Text(_) | Value::Id(_) => field_len(text_len.unwrap_or_default()),
    }
}

/// The bytes a length-delimited field of `len` bytes takes, tag included (fields 1–15).
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn message_field(out: &mut Vec<u8>, field: u32, message: &[u8]) {
    tag(out, field, LENGTH_DELIMITED);
    varint(out, message.len() as u64);
    out.extend_from_slice(message);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        message_field(out, field, bytes);
    }
}

fn string_field(out: &mut Vec<u8>, field: u32, text: &str) {
    bytes_field(out, field, text.as_bytes());
}

fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, VARINT);
        varint(out, value);
    }
}

fn fixed64_field(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, FIXED64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed32_field(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, FIXED32);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn tag(out: &mut Vec<u8>, field: u32, wire_type: u32) {
    varint(out, u64::from(field << 3 | wire_type));
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: u64) -> usize {
    // Each byte carries 7 bits; zero still takes one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}
