//! [`JsonObject`]: a payload's JSON text, serialized once on the program's thread.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::json::plain::Proof;
use crate::json::{serializer, JsonWriter};

/// A JSON object already serialized, shared between the start and end events of a span.
///
/// The SGP API takes `input`, `output` and `metadata` as objects only, so a value that
/// serializes to anything else (a string, a number, an array) is wrapped as
/// `{"value": ...}`. A value that cannot be serialized at all (a map with non-string keys,
/// a failing `Serialize` impl) becomes `{"serialization_error": "..."}`: the span is kept
/// and the reason is visible where the data would have been.
///
/// ```
/// use sgp_trace::JsonObject;
/// assert_eq!(JsonObject::new(&"hi").as_str(), r#"{"value":"hi"}"#);
/// assert_eq!(JsonObject::new(&serde_json::json!({"q": 1})).as_str(), r#"{"q":1}"#);
/// ```
#[derive(Clone)]
pub struct JsonObject(Text);

/// The most bytes a payload keeps inline, sized so a [`JsonObject`] is 40 bytes.
pub(super) const INLINE_BYTES: usize = 38;

/// A payload's JSON text. A small one (a few short arguments, a number, a flag) is kept in
/// place: the program's thread allocates nothing for it, and the export thread, which drops
/// it, frees nothing (with glibc, memory freed by another thread is slow to come back and
/// fresh memory costs page faults on the hot path).
///
/// Each knows whether it is plain (see [`JsonObject::is_plain`]).
#[derive(Clone)]
enum Text {
    Inline {
        len: InlineLen,
        bytes: [u8; INLINE_BYTES],
    },
    Shared {
        text: Arc<str>,
        plain: bool,
    },
}

/// An inline text's length, with whether the text is plain in its top bit: a byte of its
/// own would leave room for one byte less of text, and a common two-argument input would
/// no longer fit.
#[derive(Clone, Copy)]
struct InlineLen(u8);

impl InlineLen {
    const PLAIN: u8 = 0x80;

    #[inline]
    fn new(len: usize, plain: bool) -> InlineLen {
        debug_assert!(len <= INLINE_BYTES);
        InlineLen(len as u8 | if plain { InlineLen::PLAIN } else { 0 })
    }

    #[inline]
    fn len(self) -> usize {
        usize::from(self.0 & !InlineLen::PLAIN)
    }

    #[inline]
    fn plain(self) -> bool {
        self.0 & InlineLen::PLAIN != 0
    }
}

impl JsonObject {
    /// Serializes a value into an object, wrapping or replacing it as described above.
    pub fn new<T: Serialize + ?Sized>(value: &T) -> JsonObject {
        // Written once behind room for the wrapper, which is kept only for a non-object.
        const WRAPPER: &[u8] = b"{\"value\":";
        let mut json = JsonWriter::new();
        json.extend(WRAPPER);
        let shape = match serializer::write(value, &mut json) {
            Ok(shape) => shape,
            Err(error) => return JsonObject::serialization_error(&error),
        };
        if json.as_bytes().get(WRAPPER.len()) == Some(&b'{') {
            // An object of its own: nothing proves it plain.
            return json.to_object(WRAPPER.len(), Proof::NONE);
        }
        json.push(b'}');
        json.to_object(0, Proof::wrapped(shape))
    }

    /// An object `{"serialization_error": message}` that stands for a value that could not be
    /// turned into JSON.
    pub fn serialization_error(error: &dyn fmt::Display) -> JsonObject {
        JsonObject::error_marker("serialization_error", &error.to_string())
    }

    /// An object `{key: text}` standing in for a value that could not be kept.
    pub(crate) fn error_marker(key: &str, text: &str) -> JsonObject {
        let mut json = Vec::with_capacity(key.len() + text.len() + 8);
        // Writing strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut json, &serde_json::json!({ key: text }));
        JsonObject::from_json(&json)
    }

    /// Wraps JSON text that serde_json or a [`JsonWriter`] wrote (with ASCII punctuation
    /// around it), so it is valid JSON and UTF-8.
    #[inline]
    pub(crate) fn from_json(json: &[u8]) -> JsonObject {
        JsonObject::from_written(json, false)
    }

    /// An inline payload: the first `len` bytes of `bytes`, which a writer checked are UTF-8.
    #[inline(always)]
    pub(super) fn inline(bytes: [u8; INLINE_BYTES], len: usize, plain: bool) -> JsonObject {
        JsonObject(Text::Inline {
            len: InlineLen::new(len, plain),
            bytes,
        })
    }

    /// [`from_json`](Self::from_json), for text whose writer knows whether it is plain.
    #[inline]
    pub(super) fn from_written(json: &[u8], plain: bool) -> JsonObject {
        debug_assert!(std::str::from_utf8(json).is_ok());
        // SAFETY: serde_json writes only UTF-8 (its own `to_string` relies on that);
        // `JsonWriter::string` copies a `&str` in pieces cut before and after ASCII bytes
        // (char boundaries) and adds ASCII escapes; callers add only ASCII.
        let text = unsafe { std::str::from_utf8_unchecked(json) };
        if text.len() <= INLINE_BYTES {
            let mut bytes = [0; INLINE_BYTES];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            JsonObject(Text::Inline {
                len: InlineLen::new(text.len(), plain),
                bytes,
            })
        } else {
            JsonObject(Text::Shared {
                text: Arc::from(text),
                plain,
            })
        }
    }

    /// The object's JSON text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Text::Inline { len, bytes } => {
                let text = &bytes[..len.len()];
                // SAFETY: the first `len` bytes are JSON text a writer wrote, copied whole
                // (`from_written`) or as the writer's room (`JsonWriter::to_object`).
                unsafe { std::str::from_utf8_unchecked(text) }
            }
            Text::Shared { text, .. } => text,
        }
    }

    /// Whether its writer proved the object plain (see [`plain`](crate::json::plain)): the
    /// export thread then need not look for credential keys or deep nesting in it. Text
    /// from anywhere else is not plain and is looked at.
    pub(crate) fn is_plain(&self) -> bool {
        match self.0 {
            Text::Inline { len, .. } => len.plain(),
            Text::Shared { plain, .. } => plain,
        }
    }

    /// The object parsed into a [`serde_json::Value`].
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }
}

impl fmt::Debug for JsonObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JsonObject {
    /// Embeds the object as it is. The export thread writes spans without serde; this is for
    /// custom exporters that serialize [`SpanItem`](crate::SpanItem)s themselves.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue =
            serde_json::from_str(self.as_str()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_payloads_read_back_whole() {
        assert_eq!(std::mem::size_of::<Option<JsonObject>>(), 40);
        // `{"q":"..."}` is 8 bytes around the text: 30 bytes of text is the largest inline.
        let texts = [
            "",
            "a",
            &"a".repeat(30),
            &"é".repeat(15),
            &"a".repeat(31),
            &"é".repeat(99),
        ];
        for text in texts {
            let object = JsonObject::new(&serde_json::json!({ "q": text }));
            let inline = matches!(object.0, Text::Inline { .. });
            assert_eq!(inline, text.len() <= 30, "{text}");
            assert_eq!(object.to_value()["q"], text);
            assert_eq!(object.clone().as_str(), object.as_str());
        }
    }

    #[test]
    fn only_scalars_under_known_keys_are_plain() {
        #[derive(serde::Serialize)]
        enum Choice {
            Named(u8),
        }
        let raw = serde_json::value::RawValue::from_string("1".into()).unwrap();
        for (object, plain) in [
            (JsonObject::new(&"hi"), true),
            (JsonObject::new(&7), true),
            (JsonObject::new(&2.5), true),
            (JsonObject::new(&Some(3)), true),
            (JsonObject::new(&"x".repeat(100)), true),
            (JsonObject::new(&serde_json::json!({"q": 1})), false),
            (JsonObject::new(&[1, 2]), false),
            (JsonObject::new(&Choice::Named(1)), false),
            (JsonObject::new(&raw), false),
            (JsonObject::from_json(br#"{"value":1}"#), false),
            (JsonObject::serialization_error(&"no"), false),
        ] {
            assert_eq!(object.is_plain(), plain, "{object:?}");
            assert_eq!(object.clone().is_plain(), plain, "{object:?}");
        }
    }

    #[test]
    fn non_objects_are_wrapped() {
        assert_eq!(JsonObject::new(&[1, 2]).as_str(), r#"{"value":[1,2]}"#);
        assert_eq!(JsonObject::new(&f64::NAN).as_str(), r#"{"value":null}"#);
    }

    #[test]
    fn unserializable_values_become_a_visible_error() {
        let mut map = std::collections::HashMap::new();
        map.insert((1, 2), "tuple keys are not JSON");
        let object = JsonObject::new(&map);
        assert!(
            object.as_str().starts_with(r#"{"serialization_error":"#),
            "{object:?}"
        );
    }
}
