//! A payload that is one string, integer, boolean or null, written without serde_json's
//! serializer: `create_span(..).input(&prompt)` or `set_output(&answer)` with a long text
//! is then checked for escapes eight bytes at a time ([`JsonWriter::string`]) instead of
//! one byte at a time. Anything else (objects, arrays, floats) is left to serde_json.

use std::fmt;

use serde::ser::{Impossible, Serialize, Serializer};

use crate::item::JsonWriter;

/// Writes `value` as JSON when it serializes as a single string, integer, boolean or null;
/// returns `false`, having written nothing, for anything else.
#[inline]
pub(crate) fn write<T: Serialize + ?Sized>(value: &T, json: &mut JsonWriter) -> bool {
    value.serialize(PlainWriter(json)).is_ok()
}

/// Not a plain value: left to serde_json. No method writes anything before it fails, so
/// a failure leaves the writer as it was.
#[derive(Debug)]
struct NotPlain;

impl fmt::Display for NotPlain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a plain value")
    }
}

impl std::error::Error for NotPlain {}

impl serde::ser::Error for NotPlain {
    fn custom<T: fmt::Display>(_message: T) -> NotPlain {
        NotPlain
    }
}

/// Writes what serde_json would for the values it accepts. Its methods are `#[inline]`:
/// `#[traced]` records every argument through here, and called, they cost a recorded span
/// about 6% more instructions.
struct PlainWriter<'a>(&'a mut JsonWriter);

type Refused = Impossible<(), NotPlain>;

impl Serializer for PlainWriter<'_> {
    type Ok = ();
    type Error = NotPlain;
    type SerializeSeq = Refused;
    type SerializeTuple = Refused;
    type SerializeTupleStruct = Refused;
    type SerializeTupleVariant = Refused;
    type SerializeMap = Refused;
    type SerializeStruct = Refused;
    type SerializeStructVariant = Refused;

    #[inline]
    fn serialize_bool(self, value: bool) -> Result<(), NotPlain> {
        self.0.extend(if value { b"true" } else { b"false" });
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, value: i8) -> Result<(), NotPlain> {
        self.serialize_i64(value.into())
    }

    #[inline]
    fn serialize_i16(self, value: i16) -> Result<(), NotPlain> {
        self.serialize_i64(value.into())
    }

    #[inline]
    fn serialize_i32(self, value: i32) -> Result<(), NotPlain> {
        self.serialize_i64(value.into())
    }

    #[inline]
    fn serialize_i64(self, value: i64) -> Result<(), NotPlain> {
        self.0.signed(value);
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, value: u8) -> Result<(), NotPlain> {
        self.serialize_u64(value.into())
    }

    #[inline]
    fn serialize_u16(self, value: u16) -> Result<(), NotPlain> {
        self.serialize_u64(value.into())
    }

    #[inline]
    fn serialize_u32(self, value: u32) -> Result<(), NotPlain> {
        self.serialize_u64(value.into())
    }

    #[inline]
    fn serialize_u64(self, value: u64) -> Result<(), NotPlain> {
        self.0.unsigned(value);
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, _value: f32) -> Result<(), NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_f64(self, _value: f64) -> Result<(), NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_char(self, value: char) -> Result<(), NotPlain> {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }

    #[inline]
    fn serialize_str(self, value: &str) -> Result<(), NotPlain> {
        self.0.string(value);
        Ok(())
    }

    #[inline]
    fn serialize_bytes(self, _value: &[u8]) -> Result<(), NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_none(self) -> Result<(), NotPlain> {
        self.serialize_unit()
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), NotPlain> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result<(), NotPlain> {
        self.0.extend(b"null");
        Ok(())
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), NotPlain> {
        self.serialize_unit()
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), NotPlain> {
        self.serialize_str(variant)
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), NotPlain> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_seq(self, _len: Option<usize>) -> Result<Refused, NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_tuple(self, _len: usize) -> Result<Refused, NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Refused, NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Refused, NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_map(self, _len: Option<usize>) -> Result<Refused, NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Refused, NotPlain> {
        Err(NotPlain)
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Refused, NotPlain> {
        Err(NotPlain)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use crate::JsonObject;

    #[derive(Serialize)]
    struct Meters(u32);

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    enum Mode {
        Fast,
        Tagged(u8),
    }

    /// What `JsonObject::new` made before plain values were written by hand: serde_json's
    /// text, wrapped unless it is an object.
    fn by_serde_json<T: Serialize + ?Sized>(value: &T) -> String {
        let text = serde_json::to_string(value).unwrap();
        if text.starts_with('{') {
            text
        } else {
            format!("{{\"value\":{text}}}")
        }
    }

    fn check<T: Serialize + ?Sized>(value: &T) {
        assert_eq!(JsonObject::new(value).as_str(), by_serde_json(value));
    }

    #[test]
    fn plain_payloads_read_exactly_as_serde_json_writes_them() {
        let long = "a \"quoted\" line\nand a tab\t, a backslash \\ and ünïcode ✓ ".repeat(40);
        check("what is sgp?");
        check(&long);
        check(&long.clone());
        check(&'"');
        check(&'é');
        check(&true);
        check(&false);
        check(&0u8);
        check(&u64::MAX);
        check(&i64::MIN);
        check(&-7i32);
        check(&Some("x"));
        check(&None::<u8>);
        check(&());
        check(&Meters(3));
        check(&Unit);
        check(&Mode::Fast);
        // Left to serde_json, and still the same.
        check(&Mode::Tagged(1));
        check(&1.5f64);
        check(&u128::MAX);
        check(&[1, 2]);
        check(&Some(vec!["a"]));
        check(&BTreeMap::from([("k", 1)]));
        check(&serde_json::json!({"q": "é"}));
    }
}
