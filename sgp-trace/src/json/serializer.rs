//! Payload JSON written by our own serde `Serializer`, text for text what serde_json
//! writes: every string of a payload, at the top (`create_span(..).input(&prompt)`) or
//! nested (a chat message's content in a struct argument, a `json!` input), is checked for
//! escapes many bytes at a time ([`JsonWriter::string`]) where serde_json checks one byte
//! at a time, and integers are written in place.
//!
//! What it does not write itself it leaves to serde_json, which then writes the whole value
//! (or refuses it with its own error): serde_json's private types (raw values, arbitrary
//! precision numbers), map keys other than strings, integers and unit variants, and any
//! value whose `Serialize` impl fails.

use std::fmt;
use std::io::Write as _;

use serde::ser::{
    Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

use crate::json::plain::Shape;
use crate::json::JsonWriter;

/// Writes `value` as serde_json would, and says whether it was a scalar. A value
/// serde_json refuses returns its error, having written nothing.
#[inline]
pub(crate) fn write<T: Serialize + ?Sized>(
    value: &T,
    json: &mut JsonWriter,
) -> Result<Shape, serde_json::Error> {
    let start = json.len();
    if let Ok(shape) = value.serialize(PayloadWriter(json)) {
        return Ok(shape);
    }
    fall_back(value, json, start)
}

/// Writes `value` with serde_json, in place of what [`PayloadWriter`] wrote from `start` on
/// before it left the value to serde_json. Out of line: rare, and large.
#[inline(never)]
fn fall_back<T: Serialize + ?Sized>(
    value: &T,
    json: &mut JsonWriter,
    start: usize,
) -> Result<Shape, serde_json::Error> {
    json.truncate(start);
    let written = serde_json::to_writer(&mut *json, value);
    if written.is_err() {
        json.truncate(start);
    }
    // Whatever serde_json wrote, this writer has not seen it.
    written.map(|()| Shape::Structured)
}

/// A value left to serde_json (see the module's doc); what was written so far is undone.
#[derive(Debug)]
pub(crate) struct LeftToSerdeJson;

impl fmt::Display for LeftToSerdeJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to serde_json")
    }
}

impl std::error::Error for LeftToSerdeJson {}

impl serde::ser::Error for LeftToSerdeJson {
    fn custom<T: fmt::Display>(_message: T) -> LeftToSerdeJson {
        LeftToSerdeJson
    }
}

/// What writing a part of a value (an element, an entry, a key) returns.
type Written = Result<(), LeftToSerdeJson>;

/// What writing a whole value returns: its [`Shape`].
type Wrote = Result<Shape, LeftToSerdeJson>;

/// serde_json's private structs (`$serde_json::private::RawValue`, `...::Number`) write
/// their contents verbatim; only serde_json knows how.
fn is_serde_json_private(name: &str) -> bool {
    name.starts_with("$serde_json::")
}

/// Writes a value. The scalar methods are `#[inline]`: `#[traced]` records every argument
/// through here, and a call per argument is a good part of a small span's cost.
struct PayloadWriter<'a>(&'a mut JsonWriter);

impl<'a> PayloadWriter<'a> {
    /// Opens an object holding one entry named `variant`, for an enum's data variant.
    fn open_variant(self, variant: &str) -> &'a mut JsonWriter {
        self.0.push(b'{');
        self.0.string(variant);
        self.0.push(b':');
        self.0
    }

    /// Floats are written by serde_json itself: its float formatting has changed between
    /// versions (ryu, then zmij), and its text is the one to match.
    fn float<F: Serialize>(self, value: F) -> Wrote {
        serde_json::to_writer(&mut *self.0, &value).map_err(|_| LeftToSerdeJson)?;
        Ok(Shape::Scalar)
    }
}

impl<'a> Serializer for PayloadWriter<'a> {
    type Ok = Shape;
    type Error = LeftToSerdeJson;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    #[inline]
    fn serialize_bool(self, value: bool) -> Wrote {
        self.0.extend(if value { b"true" } else { b"false" });
        Ok(Shape::Scalar)
    }

    #[inline]
    fn serialize_i8(self, value: i8) -> Wrote {
        self.serialize_i64(value.into())
    }

    #[inline]
    fn serialize_i16(self, value: i16) -> Wrote {
        self.serialize_i64(value.into())
    }

    #[inline]
    fn serialize_i32(self, value: i32) -> Wrote {
        self.serialize_i64(value.into())
    }

    #[inline]
    fn serialize_i64(self, value: i64) -> Wrote {
        self.0.signed(value);
        Ok(Shape::Scalar)
    }

    fn serialize_i128(self, value: i128) -> Wrote {
        let _ = write!(self.0, "{value}");
        Ok(Shape::Scalar)
    }

    #[inline]
    fn serialize_u8(self, value: u8) -> Wrote {
        self.serialize_u64(value.into())
    }

    #[inline]
    fn serialize_u16(self, value: u16) -> Wrote {
        self.serialize_u64(value.into())
    }

    #[inline]
    fn serialize_u32(self, value: u32) -> Wrote {
        self.serialize_u64(value.into())
    }

    #[inline]
    fn serialize_u64(self, value: u64) -> Wrote {
        self.0.unsigned(value);
        Ok(Shape::Scalar)
    }

    fn serialize_u128(self, value: u128) -> Wrote {
        let _ = write!(self.0, "{value}");
        Ok(Shape::Scalar)
    }

    fn serialize_f32(self, value: f32) -> Wrote {
        self.float(value)
    }

    fn serialize_f64(self, value: f64) -> Wrote {
        self.float(value)
    }

    #[inline]
    fn serialize_char(self, value: char) -> Wrote {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }

    #[inline]
    fn serialize_str(self, value: &str) -> Wrote {
        self.0.string(value);
        Ok(Shape::Scalar)
    }

    fn serialize_bytes(self, value: &[u8]) -> Wrote {
        let mut array = Compound::open(self.0, b'[', b"]");
        for byte in value {
            array.element(byte)?;
        }
        array.close()
    }

    #[inline]
    fn serialize_none(self) -> Wrote {
        self.serialize_unit()
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Wrote {
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Wrote {
        self.0.extend(b"null");
        Ok(Shape::Scalar)
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Wrote {
        self.serialize_unit()
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Wrote {
        self.serialize_str(variant)
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Wrote {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Wrote {
        let json = self.open_variant(variant);
        // An object around the value: structured, whatever the value is.
        let _ = value.serialize(PayloadWriter(&mut *json))?;
        json.push(b'}');
        Ok(Shape::Structured)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, LeftToSerdeJson> {
        Ok(Compound::open(self.0, b'[', b"]"))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, LeftToSerdeJson> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, LeftToSerdeJson> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, LeftToSerdeJson> {
        Ok(Compound::open(self.open_variant(variant), b'[', b"]}"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, LeftToSerdeJson> {
        Ok(Compound::open(self.0, b'{', b"}"))
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, LeftToSerdeJson> {
        if is_serde_json_private(name) {
            return Err(LeftToSerdeJson);
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, LeftToSerdeJson> {
        Ok(Compound::open(self.open_variant(variant), b'{', b"}}"))
    }
}

/// An array or object being written: its elements or entries, separated by commas, and
/// then its closing bytes.
struct Compound<'a> {
    json: &'a mut JsonWriter,
    first: bool,
    close: &'static [u8],
}

impl<'a> Compound<'a> {
    fn open(json: &'a mut JsonWriter, open: u8, close: &'static [u8]) -> Compound<'a> {
        json.push(open);
        Compound {
            json,
            first: true,
            close,
        }
    }

    /// Writes the comma before every element or entry but the first.
    fn next(&mut self) -> &mut JsonWriter {
        if !std::mem::take(&mut self.first) {
            self.json.push(b',');
        }
        self.json
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Written {
        value.serialize(PayloadWriter(self.next())).map(drop)
    }

    fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Written {
        let json = self.next();
        json.string(key);
        json.push(b':');
        value.serialize(PayloadWriter(json)).map(drop)
    }

    fn close(self) -> Wrote {
        self.json.extend(self.close);
        Ok(Shape::Structured)
    }
}

/// The serde traits of arrays (sequences, tuples and tuple structs and variants), which
/// differ only in their names: each element goes to [`Compound::element`].
macro_rules! array_traits {
    ($($name:ident::$add:ident),*) => {$(
        impl $name for Compound<'_> {
            type Ok = Shape;
            type Error = LeftToSerdeJson;

            fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Written {
                self.element(value)
            }

            fn end(self) -> Wrote {
                self.close()
            }
        }
    )*};
}

array_traits!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// The serde traits of structs and struct variants: each field goes to [`Compound::entry`].
macro_rules! struct_traits {
    ($($name:ident),*) => {$(
        impl $name for Compound<'_> {
            type Ok = Shape;
            type Error = LeftToSerdeJson;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Written {
                self.entry(key, value)
            }

            fn end(self) -> Wrote {
                self.close()
            }
        }
    )*};
}

struct_traits!(SerializeStruct, SerializeStructVariant);

impl SerializeMap for Compound<'_> {
    type Ok = Shape;
    type Error = LeftToSerdeJson;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Written {
        key.serialize(KeyWriter(self.next()))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Written {
        self.json.push(b':');
        value.serialize(PayloadWriter(&mut *self.json)).map(drop)
    }

    fn end(self) -> Wrote {
        self.close()
    }
}

/// Writes a map key: a string as it is, an integer as the string of its digits (as
/// serde_json does); any other key is left to serde_json, which accepts some (booleans,
/// floats) and refuses the rest with its own error.
struct KeyWriter<'a>(&'a mut JsonWriter);

impl KeyWriter<'_> {
    fn quoted(self, write: impl FnOnce(&mut JsonWriter)) -> Written {
        self.0.push(b'"');
        write(self.0);
        self.0.push(b'"');
        Ok(())
    }
}

type NoCompound = serde::ser::Impossible<(), LeftToSerdeJson>;

impl Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = LeftToSerdeJson;
    type SerializeSeq = NoCompound;
    type SerializeTuple = NoCompound;
    type SerializeTupleStruct = NoCompound;
    type SerializeTupleVariant = NoCompound;
    type SerializeMap = NoCompound;
    type SerializeStruct = NoCompound;
    type SerializeStructVariant = NoCompound;

    fn serialize_str(self, value: &str) -> Written {
        self.0.string(value);
        Ok(())
    }

    fn serialize_char(self, value: char) -> Written {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Written {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Written {
        value.serialize(self)
    }

    fn serialize_i8(self, value: i8) -> Written {
        self.serialize_i64(value.into())
    }

    fn serialize_i16(self, value: i16) -> Written {
        self.serialize_i64(value.into())
    }

    fn serialize_i32(self, value: i32) -> Written {
        self.serialize_i64(value.into())
    }

    fn serialize_i64(self, value: i64) -> Written {
        self.quoted(|json| json.signed(value))
    }

    fn serialize_u8(self, value: u8) -> Written {
        self.serialize_u64(value.into())
    }

    fn serialize_u16(self, value: u16) -> Written {
        self.serialize_u64(value.into())
    }

    fn serialize_u32(self, value: u32) -> Written {
        self.serialize_u64(value.into())
    }

    fn serialize_u64(self, value: u64) -> Written {
        self.quoted(|json| json.unsigned(value))
    }

    fn serialize_bool(self, _value: bool) -> Written {
        Err(LeftToSerdeJson)
    }

    fn serialize_f32(self, _value: f32) -> Written {
        Err(LeftToSerdeJson)
    }

    fn serialize_f64(self, _value: f64) -> Written {
        Err(LeftToSerdeJson)
    }

    fn serialize_bytes(self, _value: &[u8]) -> Written {
        Err(LeftToSerdeJson)
    }

    fn serialize_none(self) -> Written {
        Err(LeftToSerdeJson)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Written {
        Err(LeftToSerdeJson)
    }

    fn serialize_unit(self) -> Written {
        Err(LeftToSerdeJson)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Written {
        Err(LeftToSerdeJson)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Written {
        Err(LeftToSerdeJson)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<NoCompound, LeftToSerdeJson> {
        Err(LeftToSerdeJson)
    }

    fn serialize_tuple(self, _len: usize) -> Result<NoCompound, LeftToSerdeJson> {
        Err(LeftToSerdeJson)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<NoCompound, LeftToSerdeJson> {
        Err(LeftToSerdeJson)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<NoCompound, LeftToSerdeJson> {
        Err(LeftToSerdeJson)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<NoCompound, LeftToSerdeJson> {
        Err(LeftToSerdeJson)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<NoCompound, LeftToSerdeJson> {
        Err(LeftToSerdeJson)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<NoCompound, LeftToSerdeJson> {
        Err(LeftToSerdeJson)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::ser::{SerializeStruct, Serializer};
    use serde::Serialize;
    use serde_json::{json, Value};

    use crate::json::JsonObject;

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    struct Meters(u32);

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    enum Mode {
        Fast,
        Tagged(u8),
        Pair(i8, &'static str),
        Named { id: u64, note: Option<String> },
    }

    #[derive(Serialize)]
    struct Message {
        role: &'static str,
        content: String,
        #[serde(rename = "tool \"calls\"")]
        calls: Vec<Mode>,
        scores: [f64; 3],
        weight: f32,
        big: i128,
        bigger: u128,
        nothing: Option<()>,
        unit: Unit,
        meters: Meters,
    }

    /// Serializes through `serialize_bytes`, which `Vec<u8>` and `&[u8]` never call.
    struct Bytes(&'static [u8]);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }

    /// Fails after its first field is written: nothing of it may stay in the output.
    struct FailsHalfway;

    impl Serialize for FailsHalfway {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut object = serializer.serialize_struct("FailsHalfway", 2)?;
            object.serialize_field("written", "yes")?;
            Err(serde::ser::Error::custom("the second field is gone"))
        }
    }

    /// What `JsonObject::new` made when serde_json wrote every payload: serde_json's text,
    /// wrapped unless it is an object, or the error marker.
    fn by_serde_json<T: Serialize + ?Sized>(value: &T) -> String {
        match serde_json::to_string(value) {
            Ok(text) if text.starts_with('{') => text,
            Ok(text) => format!("{{\"value\":{text}}}"),
            Err(error) => JsonObject::serialization_error(&error).as_str().to_owned(),
        }
    }

    fn check<T: Serialize + ?Sized>(value: &T) {
        assert_eq!(JsonObject::new(value).as_str(), by_serde_json(value));
    }

    fn message(content: &str) -> Message {
        Message {
            role: "user",
            content: content.to_owned(),
            calls: vec![
                Mode::Fast,
                Mode::Tagged(7),
                Mode::Pair(-1, "p\u{1}"),
                Mode::Named {
                    id: u64::MAX,
                    note: Some("n\"".into()),
                },
                Mode::Named { id: 0, note: None },
            ],
            scores: [0.1, -0.0, 1e300],
            weight: 1.1,
            big: i128::MIN,
            bigger: u128::MAX,
            nothing: None,
            unit: Unit,
            meters: Meters(3),
        }
    }

    #[test]
    fn payloads_read_exactly_as_serde_json_writes_them() {
        let long = "a \"quoted\" line\nand a tab\t, a backslash \\ and ünïcode ✓ ".repeat(40);
        check("what is sgp?");
        check(&long);
        check(&'"');
        check(&true);
        check(&u64::MAX);
        check(&i64::MIN);
        check(&Some("x"));
        check(&None::<u8>);
        check(&());
        check(&Meters(3));
        check(&Unit);
        check(&Mode::Fast);
        check(&Mode::Tagged(1));
        check(&1.5f64);
        check(&[
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
        ]);
        check(&[f32::NAN, f32::MAX, 0.3]);
        check(&u128::MAX);
        check(&Bytes(b"\x00\xff"));
        check(&Bytes(b""));
        check(&Vec::<u8>::new());
        check(&BTreeMap::<String, u8>::new());
        check(&message(&long));
        check(&vec![message("short"), message("")]);
        check(&(1, "two", [3.0], ((), Unit)));
        check(&json!({"q": "é", "nested": [{"a\u{7f}b": null}, [], {}], "n": -1.25}));
    }

    #[test]
    fn map_keys_are_written_or_left_to_serde_json_as_serde_json_writes_them() {
        check(&BTreeMap::from([(-3i64, "neg"), (4, "pos")]));
        check(&BTreeMap::from([(u8::MAX, 1)]));
        check(&BTreeMap::from([('k', 1)]));
        check(&BTreeMap::from([(Mode::Fast, 1)]));
        check(&BTreeMap::from([(Meters(2), 1)]));
        // Left to serde_json: accepted by it, or refused with its own error.
        check(&BTreeMap::from([(true, 1)]));
        check(&HashMap::from([((1, 2), "tuple key")]));
        check(&BTreeMap::from([(vec![1], 1)]));
        check(&BTreeMap::from([(Some(1), 1)]));
    }

    #[test]
    fn values_serde_json_refuses_or_writes_itself_are_left_to_it() {
        // Nothing of the half-written value stays, and the error is serde_json's.
        check(&FailsHalfway);
        check(&vec![json!(1), json!({"ok": true})]);
        let raw = serde_json::value::RawValue::from_string(r#"{"raw" : [1, 2]}"#.into()).unwrap();
        check(&raw);
        check(&BTreeMap::from([("raw", raw)]));
    }

    /// A random JSON value: nested arrays and objects of strings made of pieces that need
    /// escapes, numbers of every kind, booleans and nulls.
    fn random_value(state: &mut u64, depth: u32) -> Value {
        const PIECES: &[&str] = &[
            "\"", "\\", "\n", "\u{0}", "\u{1f}", "\u{7f}", " ", "a", "content", "é", "✓", "😀",
        ];
        let piece = |state: &mut u64| PIECES[(next(state) % PIECES.len() as u64) as usize];
        match next(state) % if depth == 0 { 6 } else { 8 } {
            0 => Value::Null,
            1 => Value::Bool(next(state) % 2 == 0),
            2 => json!(next(state) as i64),
            3 => json!(
                f64::from_bits(next(state) >> 2) * if next(state) % 2 == 0 { 1.0 } else { -1.0 }
            ),
            4 => json!(next(state) % 1000),
            5 => Value::String((0..next(state) % 24).map(|_| piece(state)).collect()),
            6 => Value::Array(
                (0..next(state) % 5)
                    .map(|_| random_value(state, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..next(state) % 5)
                    .map(|entry| {
                        let key = format!("k{entry}{}", piece(state));
                        (key, random_value(state, depth - 1))
                    })
                    .collect(),
            ),
        }
    }

    /// A fixed xorshift, so a failure reproduces.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn random_values_read_exactly_as_serde_json_writes_them() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5_000 {
            let value = random_value(&mut state, 4);
            check(&value);
        }
    }
}
