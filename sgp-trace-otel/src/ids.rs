//! SGP ids as W3C ids: a 128-bit trace id and a 64-bit span id, derived the same way every
//! time, so a parent's id and its children's `parent_id` map to the same span id.

use std::fmt::{self, Write};

use sgp_trace::Id;
use sha2::{Digest, Sha256};

/// The W3C trace id of an SGP trace id.
///
/// A UUID is 128 bits, exactly a W3C trace id, and is taken as it is (its 16 bytes in
/// order), so `4bf92f35-77b3-4da6-a3ce-929d0e0e4736` becomes
/// `4bf92f3577b34da6a3ce929d0e0e4736`. Any other id (user text, or a UUID not in
/// canonical lowercase form) becomes the first 16 bytes of the SHA-256 of its UTF-8 text.
/// The all-zero id, invalid in W3C, cannot come out of a UUID v4; a hash that gives it is
/// replaced by 1.
///
/// ```
/// use sgp_trace::Id;
/// use sgp_trace_otel::otlp_trace_id;
/// let uuid: Id = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736".parse().unwrap();
/// assert_eq!(otlp_trace_id(&uuid), 0x4bf92f3577b34da6a3ce929d0e0e4736);
/// let text: Id = "order-42".parse().unwrap();
/// assert_eq!(otlp_trace_id(&text), otlp_trace_id(&"order-42".parse().unwrap()));
/// ```
pub fn otlp_trace_id(id: &Id) -> u128 {
    let value = match id.as_uuid() {
        Some(uuid) => uuid.as_u128(),
        None => {
            let digest = sha256(id);
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            u128::from_be_bytes(bytes)
        }
    };
    value.max(1)
}

/// The W3C span id of an SGP span id: the first 8 bytes of the SHA-256 of the id's text
/// (for a UUID, its canonical lowercase hyphenated form), read big-endian. Zero is replaced
/// by 1.
///
/// In Python: `hashlib.sha256(span_id.encode()).digest()[:8].hex()`.
///
/// ```
/// use sgp_trace::Id;
/// use sgp_trace_otel::otlp_span_id;
/// let id: Id = "step-1".parse().unwrap();
/// assert_eq!(format!("{:016x}", otlp_span_id(&id)), "fec07dd14ac0d78f");
/// ```
pub fn otlp_span_id(id: &Id) -> u64 {
    let digest = sha256(id);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes).max(1)
}

fn sha256(id: &Id) -> [u8; 32] {
    // The id's text goes straight into the hasher: no string per id, two ids per span.
    let mut hasher = Hashing(Sha256::new());
    let _ = write!(hasher, "{id}");
    hasher.0.finalize().into()
}

struct Hashing(Sha256);

impl fmt::Write for Hashing {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.update(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_trace_ids_are_kept_bit_for_bit() {
        let id = Id::random();
        let uuid = id.as_uuid().unwrap();
        assert_eq!(otlp_trace_id(&id), uuid.as_u128());
        assert_eq!(
            format!("{:032x}", otlp_trace_id(&id)),
            uuid.simple().to_string()
        );
    }

    #[test]
    fn text_ids_hash_with_sha256() {
        // Python: hashlib.sha256(b"order-42").digest()[:16].hex()
        let id: Id = "order-42".parse().unwrap();
        assert_eq!(
            format!("{:032x}", otlp_trace_id(&id)),
            "3bf8b157c4238eefe5ae4a66eca81c6b"
        );
        let expected = Sha256::digest(b"order-42");
        assert_eq!(otlp_trace_id(&id).to_be_bytes().as_slice(), &expected[..16]);
        assert_eq!(otlp_span_id(&id).to_be_bytes().as_slice(), &expected[..8]);
    }

    #[test]
    fn span_ids_are_deterministic_and_distinct() {
        let a = Id::random();
        let b = Id::random();
        assert_eq!(otlp_span_id(&a), otlp_span_id(&a.clone()));
        assert_ne!(otlp_span_id(&a), otlp_span_id(&b));
    }
}
