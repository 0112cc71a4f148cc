//! OTLP attributes: the borrowed form the span mapping produces (written to the wire
//! without copying), and the `opentelemetry-proto` form [`map_span`](crate::map_span) and
//! the exporter's resource use.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use sgp_trace::Id;

/// One attribute of a mapped span, borrowing from the SGP item where it can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attribute<'a> {
    pub(crate) key: Key<'a>,
    pub(crate) value: Value<'a>,
}

/// An attribute's name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Key<'a> {
    /// A name of its own: `sgp.status`, `chat.model`, `temporalRunID`, ...
    Plain(&'a str),
    /// A metadata entry, named `sgp.metadata.<key>`.
    Metadata(&'a str),
}

/// The prefix of [`Key::Metadata`] names.
pub(crate) const METADATA_PREFIX: &str = "sgp.metadata.";

impl Key<'_> {
    /// The name's length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Key::Plain(name) => name.len(),
            Key::Metadata(key) => METADATA_PREFIX.len() + key.len(),
        }
    }

    pub(crate) fn to_owned_name(self) -> String {
        match self {
            Key::Plain(name) => name.to_owned(),
            Key::Metadata(key) => format!("{METADATA_PREFIX}{key}"),
        }
    }
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Text(Cow<'a, str>),
    /// An SGP id, as its text.
    Id(&'a Id),
    Bool(bool),
    Int(i64),
    Double(f64),
}

impl<'a> Value<'a> {
    /// A JSON value as an attribute value: strings, booleans and numbers keep their type;
    /// arrays, objects and null become their JSON text.
    pub(crate) fn json(value: &'a serde_json::Value) -> Value<'a> {
        match value {
            serde_json::Value::String(text) => Value::Text(Cow::Borrowed(text)),
            serde_json::Value::Bool(flag) => Value::Bool(*flag),
            serde_json::Value::Number(number) => match number.as_i64() {
                Some(int) => Value::Int(int),
                None => Value::Double(number.as_f64().unwrap_or(f64::NAN)),
            },
            other => Value::Text(Cow::Owned(other.to_string())),
        }
    }

    fn to_any_value(&self) -> AnyValue {
        let value = match self {
            Value::Text(text) => any_value::Value::StringValue(text.to_string()),
            Value::Id(id) => any_value::Value::StringValue(id.to_string()),
            Value::Bool(flag) => any_value::Value::BoolValue(*flag),
            Value::Int(number) => any_value::Value::IntValue(*number),
            Value::Double(number) => any_value::Value::DoubleValue(*number),
        };
        AnyValue { value: Some(value) }
    }
}

impl<'a> Attribute<'a> {
    /// A text attribute of its own name.
    pub(crate) fn text(key: &'a str, value: impl Into<Cow<'a, str>>) -> Attribute<'a> {
        Attribute {
            key: Key::Plain(key),
            value: Value::Text(value.into()),
        }
    }

    /// The `opentelemetry-proto` form.
    pub(crate) fn to_key_value(&self) -> KeyValue {
        KeyValue {
            key: self.key.to_owned_name(),
            value: Some(self.value.to_any_value()),
            ..Default::default()
        }
    }
}

/// Appends a string attribute in the `opentelemetry-proto` form.
pub(crate) fn push(attributes: &mut Vec<KeyValue>, key: &str, value: impl Into<String>) {
    attributes.push(Attribute::text(key, value.into()).to_key_value());
}
