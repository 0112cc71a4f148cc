//! [`ObjectWriter`]: a JSON object written entry by entry under keys escaped and judged once
//! ([`ObjectKey`]), for a caller that knows its keys ahead, as a `tracing` callsite knows its
//! field names.

use serde::Serialize;

use crate::json::plain::{names_no_credential, Proof, Shape};
use crate::json::{serializer, JsonObject, JsonWriter};

/// An object key made once as its JSON text `"name":`, and judged once for the export
/// thread's credential scan, so that every object written with it ([`ObjectWriter`]) copies
/// it as it is.
///
/// ```
/// use sgp_trace::ObjectKey;
/// assert_eq!(ObjectKey::new("say \"hi\"").as_json(), r#""say \"hi\"":"#);
/// ```
#[derive(Debug, Clone)]
pub struct ObjectKey {
    json: Box<str>,
    /// Whether the name holds no fragment of a credential word (and needed no escape, so the
    /// text judged is the text sent).
    names_no_credential: bool,
}

impl ObjectKey {
    /// The key `name`, escaped as serde_json escapes it.
    pub fn new(name: &str) -> ObjectKey {
        let mut json = JsonWriter::new();
        json.string(name);
        json.push(b':');
        let escaped = json.len() != name.len() + 3;
        let json = String::from_utf8_lossy(json.as_bytes()).into();
        ObjectKey {
            json,
            names_no_credential: !escaped && names_no_credential(name.as_bytes()),
        }
    }

    /// The key's JSON text: the quoted name and a colon.
    pub fn as_json(&self) -> &str {
        &self.json
    }
}

/// A JSON object written entry by entry, each value serialized straight after its key, with
/// no map built first; [`finish`](ObjectWriter::finish) gives the [`JsonObject`], for
/// [`SpanBuilder::input_object`](crate::SpanBuilder::input_object) and the like. Written as
/// [`JsonObject::new`] writes a map: an object of scalar values under keys that name no
/// credential is sent without the export thread's look for credentials.
///
/// ```
/// use sgp_trace::{ObjectKey, ObjectWriter};
/// let (count, label) = (ObjectKey::new("count"), ObjectKey::new("label"));
/// let mut object = ObjectWriter::new();
/// assert!(object.is_empty());
/// object.entry(&count, &7);
/// object.entry(&label, "what is sgp?");
/// assert_eq!(object.finish().as_str(), r#"{"count":7,"label":"what is sgp?"}"#);
/// ```
#[derive(Debug)]
pub struct ObjectWriter {
    json: JsonWriter,
    proof: Proof,
}

impl Default for ObjectWriter {
    fn default() -> ObjectWriter {
        ObjectWriter::new()
    }
}

impl ObjectWriter {
    /// An empty object.
    #[inline]
    pub fn new() -> ObjectWriter {
        let mut json = JsonWriter::new();
        json.push(b'{');
        ObjectWriter {
            json,
            proof: Proof::EMPTY_OBJECT,
        }
    }

    /// Whether no entry was written yet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.json.len() == 1
    }

    /// Adds `value` under `key`, written as [`JsonObject::new`] writes it. A value that
    /// cannot be serialized is recorded as the error's text, as `#[traced]` records such an
    /// argument.
    #[inline]
    pub fn entry<T: Serialize + ?Sized>(&mut self, key: &ObjectKey, value: &T) {
        let (mark, proof) = (self.json.len(), self.proof);
        self.key(key);
        match serializer::write(value, &mut self.json) {
            Ok(shape) => self.proof = self.proof.value(shape),
            Err(error) => {
                self.json.truncate(mark);
                self.proof = proof;
                self.key(key);
                self.json.string(&format!("serialization error: {error}"));
                self.proof = self.proof.value(Shape::Scalar);
            }
        }
    }

    #[inline(always)]
    fn key(&mut self, key: &ObjectKey) {
        if !self.is_empty() {
            self.json.push(b',');
        }
        self.proof = self.proof.key(key.names_no_credential);
        self.json.extend(key.json.as_bytes());
    }

    /// The finished object.
    #[inline]
    pub fn finish(mut self) -> JsonObject {
        self.json.push(b'}');
        self.json.to_object(0, self.proof)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::ser::{Error, Serializer};

    use super::*;

    /// The same entries through the writer and through `JsonObject::new` of a map.
    fn both(entries: &[(&str, serde_json::Value)]) -> (JsonObject, JsonObject) {
        let mut writer = ObjectWriter::new();
        let mut map = serde_json::Map::new();
        for (name, value) in entries {
            writer.entry(&ObjectKey::new(name), value);
            map.insert((*name).to_owned(), value.clone());
        }
        (writer.finish(), JsonObject::new(&map))
    }

    #[test]
    fn writes_what_a_map_writes_plain_or_not() {
        let long = "x".repeat(200);
        assert_eq!(ObjectWriter::new().finish().as_str(), "{}");
        // Whether each is plain, as `#[traced]` would judge the same arguments (a map of
        // `serde_json::Value`s is left to serde_json, so never proven plain itself).
        let cases: Vec<(Vec<(&str, serde_json::Value)>, bool)> = vec![
            (
                vec![("count", 7.into()), ("label", "what is sgp?".into())],
                true,
            ),
            (vec![("max_tokens", 1.into())], false),
            (vec![("a", serde_json::json!({"b": [1, 2]}))], false),
            (
                vec![("line\nbreak", "tab\t".into()), ("q", true.into())],
                false,
            ),
            (
                vec![
                    ("long", long.as_str().into()),
                    ("n", serde_json::Value::Null),
                ],
                true,
            ),
        ];
        for (entries, plain) in cases {
            let (written, mapped) = both(&entries);
            assert_eq!(written.as_str(), mapped.as_str(), "{entries:?}");
            assert_eq!(written.is_plain(), plain, "{entries:?}");
        }
    }

    #[test]
    fn a_key_with_escapes_is_never_proven_plain() {
        let mut writer = ObjectWriter::new();
        writer.entry(&ObjectKey::new("a\"b"), &1);
        let object = writer.finish();
        assert_eq!(object.as_str(), r#"{"a\"b":1}"#);
        assert!(!object.is_plain());
    }

    #[test]
    fn a_value_that_fails_becomes_its_error() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(S::Error::custom("no"))
            }
        }
        let mut writer = ObjectWriter::new();
        writer.entry(&ObjectKey::new("a"), &1);
        writer.entry(&ObjectKey::new("b"), &Fails);
        let text = writer.finish().as_str().to_owned();
        let value: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(value["a"], 1);
        assert!(value["b"]
            .as_str()
            .unwrap()
            .starts_with("serialization error"));
    }
}
