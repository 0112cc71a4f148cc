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

/// The canonical text of the UUID `words`: 32 lowercase hex digits in groups of 8-4-4-4-12,
/// as `Uuid::hyphenated` writes it.
fn hyphenated(words: [u64; 2]) -> [u8; 36] {
    let digits = hex_digits(words);
    let mut text = [b'-'; 36];
    text[..8].copy_from_slice(&digits[..8]);
    text[9..13].copy_from_slice(&digits[8..12]);
    text[14..18].copy_from_slice(&digits[12..16]);
    text[19..23].copy_from_slice(&digits[16..20]);
    text[24..].copy_from_slice(&digits[20..]);
    text
}

/// The 32 lowercase hex digits of the UUID `[high, low]`, most significant first, sixteen
/// at a time: the export thread writes three ids per span.
#[cfg(target_arch = "x86_64")]
fn hex_digits([high, low]: [u64; 2]) -> [u8; 32] {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_and_si128, _mm_cmpgt_epi8, _mm_loadu_si128, _mm_set1_epi8,
        _mm_srli_epi16, _mm_storeu_si128, _mm_unpackhi_epi8, _mm_unpacklo_epi8,
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    let mut digits = [0u8; 32];
    // SAFETY: SSE2 is part of x86-64; the loads and stores stay inside `bytes` and `digits`.
    unsafe {
        let nibble = _mm_set1_epi8(0x0f);
        let value = _mm_loadu_si128(bytes.as_ptr().cast());
        let high_nibbles = _mm_and_si128(_mm_srli_epi16(value, 4), nibble);
        let low_nibbles = _mm_and_si128(value, nibble);
        let ascii = |nibbles: __m128i| {
            // A nibble of 10 or more gets the distance from `'9' + 1` to `'a'` added too.
            let letters = _mm_and_si128(
                _mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9)),
                _mm_set1_epi8((b'a' - b'9' - 1) as i8),
            );
            _mm_add_epi8(_mm_add_epi8(nibbles, _mm_set1_epi8(b'0' as i8)), letters)
        };
        // Interleaved, each byte's high nibble comes before its low one.
        let first = ascii(_mm_unpacklo_epi8(high_nibbles, low_nibbles));
        let second = ascii(_mm_unpackhi_epi8(high_nibbles, low_nibbles));
        _mm_storeu_si128(digits.as_mut_ptr().cast(), first);
        _mm_storeu_si128(digits.as_mut_ptr().add(16).cast(), second);
    }
    digits
}

#[cfg(not(target_arch = "x86_64"))]
fn hex_digits(words: [u64; 2]) -> [u8; 32] {
    portable::hex_digits(words)
}

/// Hex digits with word arithmetic, where SSE2 is not there (and in tests, to check it).
#[cfg(any(not(target_arch = "x86_64"), test))]
mod portable {
    /// The 32 lowercase hex digits of the UUID `[high, low]`, most significant first.
    pub(super) fn hex_digits([high, low]: [u64; 2]) -> [u8; 32] {
        let mut digits = [0; 32];
        digits[..16].copy_from_slice(&word_hex_digits(high));
        digits[16..].copy_from_slice(&word_hex_digits(low));
        digits
    }

    /// The 16 lowercase hex digits of `word`, most significant first.
    fn word_hex_digits(word: u64) -> [u8; 16] {
        let mut digits = [0; 16];
        digits[..8].copy_from_slice(&hex_digits_of_half((word >> 32) as u32));
        digits[8..].copy_from_slice(&hex_digits_of_half(word as u32));
        digits
    }

    /// The 8 hex digits of `half`, computed all at once in one word: each nibble is spread
    /// to a byte of its own, then every byte becomes its ASCII digit.
    fn hex_digits_of_half(half: u32) -> [u8; 8] {
        const LOW_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
        const ONES: u64 = 0x0101_0101_0101_0101;
        // Nibble `i` (counted from the least significant) ends up in byte `i`.
        let mut x = u64::from(half);
        x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        x = (x | (x << 4)) & LOW_NIBBLES;
        // A byte of 10 or more gets the distance from `'9' + 1` to `'a'` added too; no byte
        // can carry into the next (at most 15 + 6 before the shift, 15 + 48 + 39 after).
        let letters = ((x + 6 * ONES) >> 4) & ONES;
        let ascii = x + u64::from(b'0') * ONES + letters * u64::from(b'a' - b'9' - 1);
        // Big-endian puts the most significant nibble's byte first.
        ascii.to_be_bytes()
    }
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
        let [high, low] = crate::model::random::words();
        // The version (4) and variant (RFC 9562) bits of a random UUID.
        let high = (high & !0xf000) | 0x4000;
        let low = (low & !(0xc0 << 56)) | (0x80 << 56);
        Id(Repr::Uuid([high, low]))
    }

    /// Calls `f` with the id's text: a generated id is formatted on the stack, a given one
    /// is lent as it was given.
    pub(crate) fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            Repr::Uuid(words) => {
                let text = hyphenated(*words);
                // SAFETY: `hyphenated` writes only ASCII hex digits and hyphens.
                f(unsafe { std::str::from_utf8_unchecked(&text) })
            }
            Repr::Text(text) => f(text),
        }
    }

    /// The canonical text of an id kept as a UUID (every generated id); `None` for any
    /// other. The export thread writes three or four ids per span, so the text is made
    /// sixteen digits at a time (see [`hex_digits`]), not digit by digit, and needs no
    /// escapes.
    pub(crate) fn uuid_text(&self) -> Option<[u8; 36]> {
        match &self.0 {
            Repr::Uuid(words) => Some(hyphenated(*words)),
            Repr::Text(_) => None,
        }
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
        self.with_text(|text| f.write_str(text))
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
        self.with_text(|text| serializer.serialize_str(text))
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
    fn uuid_text_matches_the_uuid_crate() {
        let mut values = vec![
            [0, 0],
            [u64::MAX, u64::MAX],
            [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210],
        ];
        // Every nibble value at every place, and random ids.
        for digit in 0..16u64 {
            values.push([
                digit * 0x1111_1111_1111_1111,
                !(digit * 0x1111_1111_1111_1111),
            ]);
        }
        values.extend((0..1000).map(|_| crate::model::random::words()));
        for words in values {
            let expected = Uuid::from_u128(joined(words)).hyphenated().to_string();
            assert_eq!(std::str::from_utf8(&hyphenated(words)).unwrap(), expected);
            assert_eq!(portable::hex_digits(words), hex_digits(words));
            let id = Id(Repr::Uuid(words));
            assert_eq!(id.to_string(), expected);
            assert_eq!(
                id.uuid_text().map(|text| text.to_vec()),
                Some(expected.into_bytes())
            );
        }
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
