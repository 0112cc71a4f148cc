//! Span, trace and group ids: validated where they are given, cheap to copy on the hot path.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The longest id the SGP API accepts, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// An id of a span, a trace or a group.
///
/// Generated ids are random UUIDv4s kept as 128-bit numbers, so making and copying one
/// allocates nothing; they are formatted as text only on the export thread. User-supplied
/// ids are checked when they are made: an empty id, one over 256 bytes or one holding a NUL
/// character is refused with [`InvalidId`] instead of being rejected by the server later.
///
/// ```
/// use sgp_trace::Id;
/// let id: Id = "order-42".parse().unwrap();
/// assert_eq!(id.to_string(), "order-42");
/// assert!(Id::new("a\0b").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Id(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// The UUID's 16 bytes, as two words rather than a `u128`, whose 16-byte alignment would
    /// make every id (and every span, which holds four) 8 bytes larger.
    Uuid([u64; 2]),
    Text(Arc<str>),
}

fn words(value: u128) -> [u64; 2] {
    [(value >> 64) as u64, value as u64]
}

fn joined([high, low]: [u64; 2]) -> u128 {
    (u128::from(high) << 64) | u128::from(low)
}

/// Why a user-supplied id was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidId {
    /// The id is the empty string.
    Empty,
    /// The id is longer than [`MAX_ID_BYTES`]; holds its length.
    TooLong(usize),
    /// The id contains a NUL character, which SGP's storage refuses.
    ContainsNul,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidId::Empty => write!(f, "id is empty"),
            InvalidId::TooLong(len) => {
                write!(
                    f,
                    "id is {len} bytes long, more than the {MAX_ID_BYTES} SGP accepts"
                )
            }
            InvalidId::ContainsNul => write!(f, "id contains a NUL character"),
        }
    }
}

impl std::error::Error for InvalidId {}

impl Id {
    /// Checks and wraps a user-supplied id.
    pub fn new(text: impl AsRef<str>) -> Result<Id, InvalidId> {
        let text = text.as_ref();
        if text.is_empty() {
            return Err(InvalidId::Empty);
        }
        if text.len() > MAX_ID_BYTES {
            return Err(InvalidId::TooLong(text.len()));
        }
        if text.contains('\0') {
            return Err(InvalidId::ContainsNul);
        }
        // An id already in canonical UUID form is stored as a number, so that it compares
        // equal to the same id generated here and formats back to exactly the same text.
        if let Ok(uuid) = Uuid::try_parse(text) {
            let mut buf = Uuid::encode_buffer();
            if uuid.hyphenated().encode_lower(&mut buf) == text {
                return Ok(Id(Repr::Uuid(words(uuid.as_u128()))));
            }
        }
        Ok(Id(Repr::Text(Arc::from(text))))
    }

    /// A new random UUIDv4 id.
    pub fn random() -> Id {
        let [high, low] = crate::random::words();
        // The version (4) and variant (RFC 9562) bits of a random UUID.
        let high = (high & !0xf000) | 0x4000;
        let low = (low & !(0xc0 << 56)) | (0x80 << 56);
        Id(Repr::Uuid([high, low]))
    }

    /// The id as a UUID, when it is one in canonical form.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match &self.0 {
            Repr::Uuid(value) => Some(Uuid::from_u128(joined(*value))),
            Repr::Text(_) => None,
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Uuid(value) => {
                let mut buf = Uuid::encode_buffer();
                f.write_str(
                    Uuid::from_u128(joined(*value))
                        .hyphenated()
                        .encode_lower(&mut buf),
                )
            }
            Repr::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl FromStr for Id {
    type Err = InvalidId;

    fn from_str(text: &str) -> Result<Id, InvalidId> {
        Id::new(text)
    }
}

impl TryFrom<String> for Id {
    type Error = InvalidId;

    fn try_from(text: String) -> Result<Id, InvalidId> {
        Id::new(text)
    }
}

impl TryFrom<&str> for Id {
    type Error = InvalidId;

    fn try_from(text: &str) -> Result<Id, InvalidId> {
        Id::new(text)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Uuid(value) => {
                let mut buf = Uuid::encode_buffer();
                serializer.serialize_str(
                    Uuid::from_u128(joined(*value))
                        .hyphenated()
                        .encode_lower(&mut buf),
                )
            }
            Repr::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Id::new(text.as_ref()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuid_text_round_trips_and_equals_generated_form() {
        let generated = Id::random();
        let parsed = Id::new(generated.to_string()).unwrap();
        assert_eq!(parsed, generated);
        assert!(parsed.as_uuid().is_some());
    }

    #[test]
    fn random_ids_are_version_4_uuids() {
        let uuid = Id::random().as_uuid().unwrap();
        assert_eq!(uuid.get_version(), Some(uuid::Version::Random));
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(Id::random(), Id::random());
    }

    #[test]
    fn non_canonical_uuid_text_is_kept_verbatim() {
        let upper = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
        let id = Id::new(upper).unwrap();
        assert_eq!(id.to_string(), upper);
        assert!(id.as_uuid().is_none());
    }

    #[test]
    fn refuses_bad_ids_with_reasons() {
        assert_eq!(Id::new(""), Err(InvalidId::Empty));
        assert_eq!(Id::new("x".repeat(257)), Err(InvalidId::TooLong(257)));
        assert!(Id::new("x".repeat(256)).is_ok());
        assert_eq!(Id::new("a\0b"), Err(InvalidId::ContainsNul));
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<Id>("\"ok\"").is_ok());
        let err = serde_json::from_str::<Id>("\"a\\u0000b\"").unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
    }
}
