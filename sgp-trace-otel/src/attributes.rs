//! OTLP attribute values from Rust and JSON values, shared by the span mapping, the LLM
//! attributes and the exporter's resource.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde_json::Value;

/// Appends a string attribute.
pub(crate) fn push(attributes: &mut Vec<KeyValue>, key: &str, value: impl Into<String>) {
    attributes.push(key_value(key.to_owned(), string_value(value.into())));
}

pub(crate) fn key_value(key: String, value: AnyValue) -> KeyValue {
    KeyValue {
        key,
        value: Some(value),
        ..Default::default()
    }
}

pub(crate) fn string_value(text: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text)),
    }
}

pub(crate) fn bool_value(flag: bool) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::BoolValue(flag)),
    }
}

pub(crate) fn int_value(number: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(number)),
    }
}

/// A JSON value as an attribute: strings, booleans and numbers keep their type; arrays,
/// objects and null become their JSON text.
pub(crate) fn json_value(value: &Value) -> AnyValue {
    match value {
        Value::String(text) => string_value(text.clone()),
        Value::Bool(flag) => bool_value(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(int) => int_value(int),
            None => AnyValue {
                value: Some(any_value::Value::DoubleValue(
                    number.as_f64().unwrap_or(f64::NAN),
                )),
            },
        },
        other => string_value(other.to_string()),
    }
}
