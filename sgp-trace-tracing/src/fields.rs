//! Field values as JSON: what the fields of a `tracing` span or event become in SGP.
//!
//! Numbers, booleans and strings keep their JSON type; `?value` fields become their `Debug`
//! text and `%value` fields their `Display` text, since `tracing` hands over nothing more.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Number, Value};
use sgp_trace::{JsonObject, ObjectKey, ObjectWriter};
use tracing_core::callsite::Identifier;
use tracing_core::field::{Field, ValueSet, Visit};
use tracing_core::Metadata;

/// The field that sets a span's type, one of SGP's span types such as `"COMPLETION"`.
pub(crate) const SPAN_TYPE_FIELD: &str = "sgp.type";

/// The prefix of the OpenTelemetry GenAI fields, which make a span an LLM call.
pub(crate) const GEN_AI_PREFIX: &str = "gen_ai.";

/// The fields of one span or event, sorted out by what they mean to SGP.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    /// Plain fields, in the order given.
    pub(crate) values: FieldValues,
    /// The `sgp.type` field, as given.
    pub(crate) span_type: Option<String>,
    /// The `gen_ai.*` fields, by their full name.
    pub(crate) gen_ai: Map<String, Value>,
}

impl Fields {
    /// Every field as one map, `sgp.type` and `gen_ai.*` included: what an event records.
    pub(crate) fn into_all(self) -> Map<String, Value> {
        let mut all = self.values.into_map();
        if let Some(span_type) = self.span_type {
            all.insert(SPAN_TYPE_FIELD.to_owned(), Value::String(span_type));
        }
        all.extend(self.gen_ai);
        all
    }

    fn insert(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name == SPAN_TYPE_FIELD {
            self.span_type = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
        } else if name.starts_with(GEN_AI_PREFIX) {
            self.gen_ai.insert(name.to_owned(), value);
        } else {
            self.values.0.push((name, value));
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: their text is kept rather than a null.
        let json =
            Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.insert(field, json);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field, Value::String(format!("{value:?}")));
    }
}

/// Field values under their `'static` names, written as a JSON object: a span's input is
/// serialized from this list straight away, with no map and no owned key made per field.
#[derive(Debug, Default)]
pub(crate) struct FieldValues(pub(crate) Vec<(&'static str, Value)>);

impl FieldValues {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes the value of the only field, when there is exactly one and it is `name`.
    pub(crate) fn take_only(&mut self, name: &str) -> Option<Value> {
        match self.0.as_slice() {
            [(only, _)] if *only == name => self.0.pop().map(|(_, value)| value),
            _ => None,
        }
    }

    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.0
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }
}

impl Serialize for FieldValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// The fields given at a span's creation as its input, written straight into one JSON
/// object under the callsite's keys, made once: for a callsite with no field that means
/// something else to SGP (`sgp.type`, `gen_ai.*`), so no key or value is copied on the way.
/// Values become what [`Fields`] makes of them. `None` when no field has a value (a field
/// left `Empty` has none).
pub(crate) fn plain_input(values: &ValueSet<'_>, keys: &InputKeys) -> Option<JsonObject> {
    let mut writer = InputWriter {
        object: ObjectWriter::new(),
        keys,
    };
    values.record(&mut writer);
    (!writer.object.is_empty()).then(|| writer.object.finish())
}

/// A callsite's field names as input keys, made once (see [`ObjectKey`]).
pub(crate) struct InputKeys {
    /// Which callsite the fields belong to.
    callsite: Identifier,
    /// By field index.
    keys: Box<[ObjectKey]>,
}

impl InputKeys {
    pub(crate) fn of(metadata: &Metadata<'_>) -> InputKeys {
        InputKeys {
            callsite: metadata.callsite(),
            keys: metadata
                .fields()
                .iter()
                .map(|field| ObjectKey::new(field.name()))
                .collect(),
        }
    }

    /// Calls `write` with the key of `field`; made afresh for a field of another callsite,
    /// which a span's own values never hold.
    fn with_key<R>(&self, field: &Field, write: impl FnOnce(&ObjectKey) -> R) -> R {
        match self.keys.get(field.index()) {
            Some(key) if field.callsite() == self.callsite => write(key),
            _ => write(&ObjectKey::new(field.name())),
        }
    }
}

/// Writes each field visited as an entry of `object`.
struct InputWriter<'a> {
    object: ObjectWriter,
    keys: &'a InputKeys,
}

impl InputWriter<'_> {
    #[inline]
    fn entry<V: Serialize + ?Sized>(&mut self, field: &Field, value: &V) {
        let object = &mut self.object;
        self.keys.with_key(field, |key| object.entry(key, value));
    }
}

impl Visit for InputWriter<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // As in `Fields`: the text of a NaN or an infinity.
        if value.is_finite() {
            self.entry(field, &value);
        } else {
            self.entry(field, &value.to_string());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.entry(field, &Text(format_args!("{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, &Text(format_args!("{value:?}")));
    }
}

/// Text written as a JSON string without being collected into a `String` first, where the
/// serializer allows.
struct Text<'a>(fmt::Arguments<'a>);

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// Whether a callsite declares a field that is not plain input to SGP: `sgp.type`, or a
/// `gen_ai.*` field.
pub(crate) fn declares_sgp_fields(metadata: &Metadata<'_>) -> bool {
    metadata.fields().iter().any(|field| {
        let name = field.name();
        name == SPAN_TYPE_FIELD || name.starts_with(GEN_AI_PREFIX)
    })
}
